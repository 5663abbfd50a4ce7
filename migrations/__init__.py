"""Alembic revisions for the analytics schema (run with ``analytics migrate``)."""
