# The README's two commands are `make run` and `make test`; CI runs .ci/run, which calls `make test`.
.PHONY: run test setup lint format check bench

run:
	bin/run

test:
	bin/test

setup:
	bin/setup test

lint: setup
	.venv/bin/ruff check .
	.venv/bin/ruff format --check .

format: setup
	.venv/bin/ruff format .
	.venv/bin/ruff check --fix .

check: setup
	DJANGO_SETTINGS_MODULE=config.test_settings .venv/bin/python manage.py makemigrations --check --dry-run

bench: setup
	command -v wrk >/dev/null || (apt-get install -y -qq wrk || sudo apt-get install -y -qq wrk)
	.venv/bin/python bench/run.py $(BENCH_ARGS)
