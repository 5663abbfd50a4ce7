"""Analytics domain: events, rollups, stats queries and the plumbing they share."""
