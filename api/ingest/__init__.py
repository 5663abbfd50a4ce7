"""GraphQL for ingest: the ``track`` mutation and its fast variable decoder."""
