# The README's two commands. Each creates or updates .venv first; nothing is installed by hand.
.PHONY: run test lint setup bench

setup:
	scripts/setup.sh

run: setup
	.venv/bin/cooldown app

test:
	scripts/setup.sh --test
	.venv/bin/ruff check simulator evals tests app.py
	.venv/bin/mypy
	.venv/bin/python -m pytest

lint: setup
	.venv/bin/ruff check simulator evals tests app.py
	.venv/bin/mypy

bench: setup
	.venv/bin/cooldown bench
