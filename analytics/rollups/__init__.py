"""Rollups: fold outbox batches into counters exactly once, and recompute them from raw events."""
