"""GraphQL for sessions: one session, totals, series, the paginated list and live sessions."""
