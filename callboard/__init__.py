"""callboard: callboard."""
