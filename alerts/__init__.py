"""callboard: alerts."""
