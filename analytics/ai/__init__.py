"""AI operations: requests, models, agents, tools, conversations and what they cost."""
