"""Features: a name and an event matcher per tenant, their daily users, adoption and trend."""
