"""callboard: wallboard."""
