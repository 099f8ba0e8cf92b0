"""promptpress.bench."""
