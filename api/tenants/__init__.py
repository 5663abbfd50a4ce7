"""GraphQL for the calling tenant: the root of every read."""
