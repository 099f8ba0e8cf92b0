"""promptpress.server."""
