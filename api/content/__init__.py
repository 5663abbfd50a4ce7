"""GraphQL for content (capsules): content performance of a range and one capsule by id."""
