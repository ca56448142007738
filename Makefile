# The two commands of the README. Each installs what it needs first.
.PHONY: up test test-unit lint

up:
	@scripts/bootstrap.sh run
	.venv/bin/callboard up

# The whole suite over both cores, a file to a process: each process starts its own
# broker, redis-server and Chromium (session fixtures), and most of an integration
# test's time is waiting on them. About 10 minutes here, 20 one file after another.
test:
	@scripts/bootstrap.sh test
	.venv/bin/python -m pytest -n 2 --dist loadfile

# The fast half: pure logic and in-memory parts, no broker, Redis or browser (tests/unit),
# spread over both cores. Under a minute on this kind of machine.
test-unit:
	@scripts/bootstrap.sh unit
	.venv/bin/python -m pytest tests/unit -n 2 -q

lint:
	@scripts/bootstrap.sh test
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports
