"""Content (capsules): per-session content facts and their analytics."""
