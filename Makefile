# `make demo` and `make test` set everything up themselves on a fresh machine.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PIP_INSTALL := $(PY) -m pip install --quiet --disable-pip-version-check -c requirements/constraints.txt

.PHONY: install demo test lint bench clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements/constraints.txt
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "Installing pinned dependencies into $(VENV) (first run takes a couple of minutes)..."
	$(PIP_INSTALL) "torch==2.13.0"
	$(PIP_INSTALL) --config-settings editable_mode=compat -e ".[alibi,dev]"
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) examples/monitoring_integration.py --output-dir demo-output/engine
	$(PY) examples/mlflow_journey.py --output-dir demo-output/mlflow

test: $(STAMP)
	$(PY) -m pytest

lint: $(STAMP)
	$(VENV)/bin/ruff check mlflow_monitor tests examples benchmarks
	$(VENV)/bin/ruff format --check mlflow_monitor tests examples benchmarks
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: $(STAMP)
	$(PY) benchmarks/bench_mmd.py
	$(PY) benchmarks/bench_mmd_scale.py
	$(PY) benchmarks/bench_drift_speed.py
	$(PY) benchmarks/bench_predict.py
	$(PY) benchmarks/bench_startup.py
	$(PY) benchmarks/bench_background.py
	$(PY) benchmarks/bench_load.py --clients 8 --requests 200
	$(PY) benchmarks/bench_alarms.py

clean:
	rm -rf $(VENV) demo-output .pytest_cache .mypy_cache .ruff_cache
