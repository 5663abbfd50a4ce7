"""People in the graph: erasure (eraseUser) and access exports (exportUser) of one person."""
