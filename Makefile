# The README's two commands: `make reports` and `make test`.
# Both create .venv/ if missing and install the project into it; they reinstall only when
# pyproject.toml changed (the stamp file .venv/.installed records the last install).

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
PARAMS ?= params/default.yaml
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup reports ci-reports test test-fast lint clean-reports

setup: $(STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[deep,dev]"
	$(PY) -m ipykernel install --sys-prefix --name recnb --display-name "recnb (.venv)" >/dev/null
	touch $(STAMP)

reports: setup
	$(PY) -m recnb run $(PARAMS)

ci-reports: setup
	$(PY) -m recnb run params/ci.yaml

test: setup
	$(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not notebook"

lint: setup
	$(VENV)/bin/ruff check recnb tests benchmarks tools
	$(VENV)/bin/ruff format --check recnb tests benchmarks tools

clean-reports:
	rm -rf reports/*/
