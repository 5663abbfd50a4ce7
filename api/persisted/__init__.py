"""Persisted queries: Apollo's automatic persisted queries and per-tenant trusted documents."""
