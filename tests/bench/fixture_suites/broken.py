"""A suite whose import fails, as a suite with a missing dependency would."""

raise ImportError("this suite's dependency is not installed")
