"""Ingest: the event catalogue, validation and the transactional batch writer."""
