# tradelab: two commands on a fresh machine
#   make demo   set up .venv, run the pipeline on the embedded synthetic market
#   make test   set up .venv, run ruff and the whole test suite
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# compiled numba kernels are cached inside the project and reused between runs, in a folder
# named by a hash of every source that defines a kernel: numba checks only the file a
# function is defined in, so an edit to a helper it calls must start a fresh cache
NUMBA_SOURCES_HASH := $(shell grep -rl --include=*.py njit src/tradelab | sort | xargs cat | sha1sum | cut -c1-12)
export NUMBA_CACHE_DIR ?= $(CURDIR)/.numba_cache/$(NUMBA_SOURCES_HASH)
export MLFLOW_ENABLE_ASYNC_LOGGING ?= false
# a local CPU build of torch, when the machine offers one, avoids GBs of CUDA packages
TORCH_WHEEL := $(firstword $(wildcard /opt/wheels/torch-*+cpu-*.whl))
# forecasting model libraries, installed without their (outdated) pins: see pyproject.toml
TOTO_KRONOS := toto-ts==0.2.0 gluonts==0.17.0 sktime==1.2.0
UI_PORT ?= 5000

.PHONY: install demo test lint ui bench clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	@if [ -n "$(TORCH_WHEEL)" ]; then echo "installing torch from $(TORCH_WHEEL)"; \
		$(PIP) install --quiet "$(TORCH_WHEEL)"; fi
	$(PIP) install --quiet -e ".[dev,forecast]"
	$(PIP) install --quiet --no-deps $(TOTO_KRONOS)
	touch $@

install: $(VENV)/.installed

# the whole pipeline (dvc.yaml + pipelines/*/dvc.yaml) with params.yaml; a rerun skips what is
# up to date. Parameters: edit params.yaml, or `dvc exp run -S wfo.grid=phase1_slim`.
demo: install
	@start=$$(date +%s); \
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/dvc repro && \
	echo && echo "dvc repro finished in $$(( $$(date +%s) - start )) s"
	@echo "Done. Where to look:"
	@echo "  Run summary:   reports/summary.html (also in MLflow: experiment report/pipeline)"
	@echo "  MLflow UI:     make ui   (then open http://127.0.0.1:$(UI_PORT))"
	@echo "  Metrics/plots: $(VENV)/bin/dvc metrics show ; $(VENV)/bin/dvc plots show -o reports/dvc_plots"
	@echo "  Promotion:     production/decisions/<family>.json, conf/production/<family>/<target>.yaml"
	@echo "  WFO results:   results/<SYMBOL>/ (candidates, plateaus, TradeStation refinement CSVs)"
	@echo "  Parquet store: data/store/<timeframe>/<SYMBOL>.parquet (+ .meta.json)"
	@echo "  Pipeline:      $(VENV)/bin/dvc dag ; $(VENV)/bin/dvc status"

test: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/pytest -q

lint: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench

ui: install
	$(VENV)/bin/mlflow server --backend-store-uri sqlite:///mlruns/mlflow.db \
		--default-artifact-root mlruns/artifacts --host 127.0.0.1 --port $(UI_PORT)

bench: install
	for b in bench/*.py; do $(PY) $$b || exit 1; done

# a shared MLflow tracking server for trying tracking=server: PostgreSQL (Debian's postgresql
# package) and `mlflow server` with proxied artifacts, on 127.0.0.1, everything under .services/
# (server-stop deletes it: the runs of a trial go with it)
.PHONY: server server-stop
server: install
	@if [ -e .services ]; then echo "a server was started already (.services/): make server-stop first"; exit 1; fi
	$(PY) -m tradelab.testing.services start --dir .services --mlflow
	@uri=$$(sed -n 's/^export TRADELAB_TEST_MLFLOW_SERVER=//p' .services/env); \
	echo; echo "MLflow server on PostgreSQL: $$uri (UI and API; log: .services/mlflow-server.log)"; \
	echo "  use it:  tradelab-wfo ... tracking=server tracking.uri=$$uri"; \
	echo "           or: export TRADELAB_TRACKING_URI=$$uri, then tracking=server"; \
	echo "  stop it: make server-stop (deletes .services/ and the runs logged there)"

server-stop:
	$(PY) -m tradelab.testing.services stop --dir .services
	rm -rf .services

clean:
	rm -rf .numba_cache .pytest_cache .ruff_cache outputs multirun
