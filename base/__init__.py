"""The shared base: validated settings, Redis key names, Kafka topics, the open-alert
store, health endpoints, and the one place settings become the core's rules.

Everything above it (the edges, review, the command line) may import it; it imports
only the core below it.
"""
