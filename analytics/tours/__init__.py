"""Tours: their definitions and their analytics."""
