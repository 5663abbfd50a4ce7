"""The GraphQL adapter: Starlette app, Strawberry schema by domain, auth and the fast ingest path."""
