"""GraphQL for tours: types, loaders, queries and definition mutations."""
