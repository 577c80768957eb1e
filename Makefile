# Two commands: `make run` (the whole pipeline) and `make test`. Each sets itself up.
SHELL := /bin/bash
VENV := .venv
BIN := $(abspath $(VENV))/bin
INSTALLED := $(VENV)/.installed

# The network is closed: nothing may phone home or wait on a hub.
export HF_HUB_OFFLINE := 1
export HF_HUB_DISABLE_TELEMETRY := 1
export TRANSFORMERS_OFFLINE := 1
export DO_NOT_TRACK := true
export MLFLOW_DISABLE_TELEMETRY := true
export DVC_NO_ANALYTICS := 1
export RAY_USAGE_STATS_ENABLED := 0
export TOKENIZERS_PARALLELISM := false
export PATH := $(BIN):$(PATH)

.PHONY: run test

# torch first and pinned: an unpinned torch pulled by a dependency would be a multi-GB CUDA build.
$(INSTALLED): pyproject.toml constraints.txt
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0 -c constraints.txt
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[train,ray,dev]'
	touch $@

run: $(INSTALLED)
	$(BIN)/dvc repro
	@echo
	@echo "bundle:   models/bundle/manifest.json"
	@echo "report:   reports/index.html"
	@echo "metrics:  reports/metrics.json"
	@echo "scores:   reports/scores_demo.jsonl (rejects: reports/rejects_demo.jsonl)"
	@echo "MLflow:   sqlite:///mlflow.db -> $(BIN)/mlflow ui --backend-store-uri sqlite:///mlflow.db"

test: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python -m pytest
