"""callboard: producers."""
