"""Post-incident review: the event archive, replay sessions and the incident report.

It sits above the edges because a replay runs the worker's own writer and the
Asterisk converter again; nothing below imports it.
"""
