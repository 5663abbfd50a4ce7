"""People: who was active when (the base of active users, DAU/WAU/MAU and segments)."""
