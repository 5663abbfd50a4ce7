"""The AI operations graph: costs, requests, models, agents, tools, conversations and prices."""
