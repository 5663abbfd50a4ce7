"""Benchmarks run by hand (python bench/ingest.py, python bench/freshness.py); see README.md."""
