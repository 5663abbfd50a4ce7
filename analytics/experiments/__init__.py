"""Experiments: definitions, deterministic assignment, exposure and metric aggregates, results."""
