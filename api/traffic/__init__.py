"""GraphQL for traffic: sources, referrers, campaigns, geo, devices and what the bot filter removed."""
