"""The product layer of the graph: custom events, funnels, segments, features (issue: product events)."""
