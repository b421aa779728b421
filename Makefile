# The two README commands. Both install what is missing first (a virtualenv in .venv).
PYTHON ?= python3
VENV := .venv
INSTALLED := $(VENV)/.installed

.PHONY: run test install bench lint

$(INSTALLED): pyproject.toml
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet --upgrade pip
	$(VENV)/bin/python -m pip install --quiet -e '.[dev,embedded]'
	touch $(INSTALLED)

install: $(INSTALLED)

## Run the whole platform: databases migrated, demo data, web + worker + beat. Ctrl-C stops it.
run: $(INSTALLED)
	$(VENV)/bin/python -m config.launcher run

## Run the whole test suite, on every core (extra pytest arguments: make test ARGS="-k health"; ARGS="-n 0": one process).
## The browser test (tests/backoffice/test_browser.py) drives Debian's chromium through chromedriver;
## the PITR drill (tests/breederhq/test_pitr_drill.py) also restores with Debian's pgbackrest.
test: $(INSTALLED)
	command -v chromedriver >/dev/null || (apt-get update -qq && apt-get install -y -qq chromium chromium-driver)
	command -v pgbackrest >/dev/null || (apt-get update -qq && apt-get install -y -qq pgbackrest) \
		|| echo "pgbackrest could not be installed: the PITR drill's pgBackRest half is skipped"
	$(VENV)/bin/python -m config.launcher test $(ARGS)

## Benchmarks (not part of the tests): make bench [SCALE=full] [BENCH_ARGS=--fresh]; report in bench/reports/latest.md.
SCALE ?= small
BENCH_ARGS ?=
bench: $(INSTALLED)
	command -v wrk >/dev/null || (apt-get update -qq && apt-get install -y -qq wrk)
	$(VENV)/bin/python -m bench.run --scale $(SCALE) $(BENCH_ARGS)

## Lint: ruff's rules ([tool.ruff] in pyproject.toml), ruff's formatting, the import contracts
## (docs/contributing.md). `.venv/bin/ruff format .` formats; `.venv/bin/ruff check --fix .` fixes what it can.
lint: $(INSTALLED)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=config.settings $(VENV)/bin/lint-imports --no-cache
