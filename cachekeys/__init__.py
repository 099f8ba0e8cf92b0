"""promptpress.cachekeys."""
