"""The domain core: event schema, KPI formulas, counting, the surge ladder, Erlang C.

Plain Python over the standard library only (import-linter keeps it so, see
pyproject.toml): the worker, the offline commands, replays and the tests run
the same code, and Faust, Kafka, Redis, Dash and pydantic stay at the edges.
"""
