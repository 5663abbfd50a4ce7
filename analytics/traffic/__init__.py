"""Traffic: user agents, bot tiers, traffic sources, reading patterns, visitors and sessions (pure rules)."""
