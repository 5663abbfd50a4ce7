"""Funnels: definitions, progress kept by the rollup, backfill and results."""
