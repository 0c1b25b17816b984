# One target per verb. CI calls `make test`, exactly as a developer does.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test lint typecheck check-imports unit bench eval clean browser

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## install the service and its test tools into .venv

run: $(STAMP) ## start the API on the embedded default (SQLite + ./data)
	$(BIN)/faceverdict serve

lint: $(STAMP)
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: $(STAMP)
	$(BIN)/mypy

check-imports: $(STAMP)
	$(BIN)/lint-imports

unit: $(STAMP)
	$(BIN)/pytest -q

browser: ## Debian's chromium for the review UI browser tests (no browser download)
	@if command -v chromium >/dev/null 2>&1; then :; \
	elif [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium; \
	else echo "note: install Debian's chromium (sudo apt-get install chromium) to run the browser tests"; fi

test: lint typecheck check-imports browser unit ## everything CI runs

bench: $(STAMP) ## inline latency benchmark (writes docs/benchmarks.md numbers to stdout)
	$(BIN)/python scripts/bench_inline.py

DATASET ?= ../shared/datasets/faces-dev
eval: $(STAMP) ## evaluation report on the faces-dev validation split (docs/eval/)
	$(BIN)/python -m pip install --quiet -e '.[eval]'
	$(BIN)/faceverdict eval --manifest $(DATASET)/MANIFEST.csv --root $(DATASET) --out docs/eval

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
