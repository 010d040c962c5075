# The README's two commands: `make reports` and `make test`.
# Both create .venv/ if missing and install the project into it; they reinstall only when
# pyproject.toml changed (the stamp file .venv/.installed records the last install).
# The `spark` extra (pyspark, about 450 MB, ~30 s to install) is installed by `make test` (CI runs the
# Spark tests) and by `make reports` when the params file says `engine: spark`; it needs Java 17+.

PYTHON ?= python3.11
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
SPARK_STAMP := $(VENV)/.installed-spark
PARAMS ?= params/default.yaml
# `engine: spark` in the params file's preprocessing: section selects the Spark engine
ENGINE_EXTRA = $(if $(shell grep -qE '^[[:space:]]+engine:[[:space:]]*spark' $(PARAMS) 2>/dev/null && echo y),$(SPARK_STAMP))
RUN    ?= default
export OPENBLAS_NUM_THREADS ?= 1

.PHONY: setup setup-spark reports ci-reports serve test test-fast lint clean-reports

setup: $(STAMP)

setup-spark: $(SPARK_STAMP)

$(STAMP): pyproject.toml
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON) on PATH (or make PYTHON=/path/to/python3.11)"; exit 1; }
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip setuptools wheel
	$(PY) -m pip install --quiet -e ".[deep,dev]"
	$(PY) -m ipykernel install --sys-prefix --name recnb --display-name "recnb (.venv)" >/dev/null
	touch $(STAMP)

$(SPARK_STAMP): $(STAMP)
	$(PY) -m pip install --quiet -e ".[spark]"
	@command -v java >/dev/null 2>&1 || [ -x "$$JAVA_HOME/bin/java" ] || echo "warning: the Spark engine needs Java 17+ (no java on PATH or in JAVA_HOME)"
	touch $(SPARK_STAMP)

reports: setup $(ENGINE_EXTRA)
	$(PY) -m recnb run $(PARAMS)

ci-reports: setup
	$(PY) -m recnb run params/ci.yaml

# the recommendation service over the model stage 03 exported: make serve RUN=ci SERVE_ARGS="--port 8001"
serve: setup
	$(PY) -m recnb serve reports/$(RUN) $(SERVE_ARGS)

# CI runs the Spark tests: the extra is installed and a missing pyspark fails instead of skipping
test: setup setup-spark
	RECNB_REQUIRE_SPARK=1 $(PY) -m pytest -q

test-fast: setup
	$(PY) -m pytest -q -m "not slow and not notebook"

lint: setup
	$(VENV)/bin/ruff check recnb tests benchmarks tools
	$(VENV)/bin/ruff format --check recnb tests benchmarks tools

clean-reports:
	rm -rf reports/*/
