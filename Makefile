# The README's two commands are `make run` and `make test`; CI runs .ci/run, which calls `make test`.
.PHONY: run test setup lint format check bench fuzz load-fault

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

# Property tests and schemathesis with many more examples than the suite runs (minutes, not seconds).
fuzz: setup
	HYPOTHESIS_PROFILE=fuzz SCHEMATHESIS_MAX_EXAMPLES=1000 .venv/bin/pytest -p no:cacheprovider \
		lookups/tests/web/test_hostile_input.py lookups/tests/web/test_schema_fuzz.py

# Load with injected faults (PostgreSQL stop/start, GeoIP swap, slow DNS) on a PostgreSQL cluster
# and a gunicorn of its own, all on 127.0.0.1; prints the figures the README quotes.
load-fault: setup
	.venv/bin/python bench/load_and_fault.py

bench: setup
	command -v wrk >/dev/null || (apt-get install -y -qq wrk || sudo apt-get install -y -qq wrk)
	.venv/bin/python bench/run.py $(BENCH_ARGS)
