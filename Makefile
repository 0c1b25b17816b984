# One target per verb. CI calls `make test`, exactly as a developer does.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help install run test lint typecheck check-imports unit bench eval eval-assurance eval-final calibrate train train-blending train-synthetic crops clean browser

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z-]+:.*## / {printf "  %-16s %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP) ## install the service and its test tools into .venv

run: $(STAMP) ## start the API on the embedded default (SQLite + ./data)
	$(BIN)/faceverdict serve

lint: $(STAMP) ## ruff lint and format check
	$(BIN)/ruff check src tests scripts
	$(BIN)/ruff format --check src tests scripts

typecheck: $(STAMP) ## mypy --strict on src, tests and scripts
	$(BIN)/mypy

check-imports: $(STAMP) ## import-linter: the layers of docs/architecture.md
	$(BIN)/lint-imports

unit: $(STAMP) ## pytest (the whole suite)
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

eval-assurance: $(STAMP) ## the same report for the asynchronous assurance detectors (docs/eval/assurance/)
	$(BIN)/python -m pip install --quiet -e '.[eval]'
	$(BIN)/faceverdict eval --manifest $(DATASET)/MANIFEST.csv --root $(DATASET) --ensemble assurance --out docs/eval/assurance

eval-final: $(STAMP) ## final decisions when assurance may supersede (from the two reports above)
	$(BIN)/python -m faceverdict.evaluation.final --inline docs/eval/scores.csv \
		--assurance docs/eval/assurance/scores.csv --out docs/eval/final.json

# Training (needs the [train] extra: PyTorch; uses a GPU when one is present) -------------
train: $(STAMP) ## install the training extra
	$(BIN)/python -m pip install --quiet -e '.[train]'

crops: train ## face-crop cache every recipe reads (~/.cache/faceverdict, never committed)
	$(BIN)/python -m faceverdict.training.crops --manifest $(DATASET)/MANIFEST.csv --root $(DATASET)

BLENDING_RUNS ?= $(HOME)/.cache/faceverdict/runs
BLENDING_RECIPE := --extra-fakes --max-minutes 70 --threads 2 \
	--schedule 20:2330,466:2238,932:2144,1864:2485
train-blending: crops ## blending detector, a 2-seed ensemble (~70 min on 2 cores): models/blending_v1.onnx + docs/models/blending.md
	for seed in 0 1; do \
		run=$(BLENDING_RUNS)/blending-seed$$seed; \
		$(BIN)/python -m faceverdict.training.blending $(BLENDING_RECIPE) --seed $$seed \
			--out $$run --work $$run --card $$run/card.md || exit 1; \
	done
	$(BIN)/python -m faceverdict.training.blending --threads 2 \
		--ensemble-of $(BLENDING_RUNS)/blending-seed0 $(BLENDING_RUNS)/blending-seed1

train-synthetic: crops ## synthetic-image detector: models/synthetic_v1.onnx + docs/models/synthetic.md
	$(BIN)/python -m faceverdict.training.synthetic --seed 0 --epochs 40 --max-minutes 45 --threads 2

calibrate: $(STAMP) ## refit models/fusion.json on held-back real photos (after any retraining)
	$(BIN)/python -m faceverdict.training.calibrate --manifest $(DATASET)/MANIFEST.csv --root $(DATASET)

clean: ## remove the virtual environment and caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache .hypothesis
