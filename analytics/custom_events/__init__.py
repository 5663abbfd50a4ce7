"""Custom (product) events: definitions, ingest rules, rollups, reads and dimension backfills."""
