# The two commands of the README. Each installs what it needs first.
.PHONY: up test lint

up:
	@scripts/bootstrap.sh run
	.venv/bin/callboard up

test:
	@scripts/bootstrap.sh test
	.venv/bin/python -m pytest

lint:
	@scripts/bootstrap.sh test
	.venv/bin/ruff check .
	.venv/bin/mypy
	.venv/bin/lint-imports
