"""Custom events in the graph: definitions (types, mutations) and their analytics (queries)."""
