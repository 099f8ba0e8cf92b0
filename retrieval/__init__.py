"""promptpress.retrieval."""
