"""callboard: streams."""
