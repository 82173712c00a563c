# news-monitor: the two commands of the quick start, and their helpers.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test test-reliability lint types unit bench bench-quick clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $(STAMP)

## run: create .venv, install, and run the daemon on the shipped defaults
run: $(STAMP)
	$(BIN)/news-monitor --config config/monitor.yaml run

## test: lint, format check, strict types and the whole test suite
test: lint types unit

lint: $(STAMP)
	$(BIN)/ruff check monitor tests bench
	$(BIN)/ruff format --check monitor tests bench

types: $(STAMP)
	$(BIN)/mypy --strict monitor

unit: $(STAMP)
	$(BIN)/pytest -q

## test-reliability: the slow battery (repeated kill -9, storms), behind a pytest marker
test-reliability: $(STAMP)
	$(BIN)/pytest -q -m reliability

## bench: speed and memory benchmarks; prints a table, writes bench/results/all.json
bench: $(STAMP)
	$(BIN)/python bench/run.py

bench-quick: $(STAMP)
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
