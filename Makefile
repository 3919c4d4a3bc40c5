# Bank CRM monorepo. Needs only Python 3.11 or newer (python3.11, else python3) on a fresh machine.
#   make run     the whole stack locally (embedded Kafka + MongoDB + services)
#   make test    the test suite (PYTEST_ARGS="-m unit -x" to pass arguments)
#   make lint    ruff (lint + format check) and mypy, as CI runs them
#   make clean   remove .dev (local data, secrets, logs) and .venv

SHELL := /bin/bash
.DELETE_ON_ERROR:

PYTHON ?= $(shell command -v python3.11 >/dev/null 2>&1 && echo python3.11 || echo python3)
VENV := .venv
VENV_PY := $(VENV)/bin/python
PYTEST_ARGS ?=

# services/profile always; any other service as soon as it has a pyproject.toml.
EXTRA_SERVICES := $(filter-out services/profile,$(patsubst %/pyproject.toml,%,$(wildcard services/*/pyproject.toml)))
PACKAGES := contracts kit services/profile $(EXTRA_SERVICES) cli
PYPROJECTS := $(addsuffix /pyproject.toml,$(PACKAGES))

.PHONY: run test lint faults clean venv asyncapi bench-import bench-pipeline bench-recovery

venv: $(VENV)/.installed

# The virtualenv itself (created once).
$(VENV):
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null || { \
	  echo "make: Bank CRM needs Python 3.11 or newer; found $$($(PYTHON) --version 2>&1 | head -1) ($(PYTHON))." \
	    "Install python3.11 or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	$(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); exit 1; }
	$(VENV_PY) -m pip install --upgrade pip || { rm -rf $(VENV); exit 1; }

# Reinstalled only when a pyproject.toml or requirements-dev.txt changes.
$(VENV)/.installed: $(PYPROJECTS) requirements-dev.txt | $(VENV)
	$(VENV_PY) -m pip install $(addprefix -e ,$(PACKAGES)) -r requirements-dev.txt
	touch $@

run: $(VENV)/.installed
	$(VENV)/bin/crm run

test: $(VENV)/.installed
	$(VENV_PY) -m pytest $(PYTEST_ARGS)

# ruff.toml and mypy.ini say what is checked; mypy is strict for the kit, the contracts and every domain/.
MYPY_PACKAGES := crm_kit crm_contracts crm_cli $(foreach p,$(filter services/%,$(PACKAGES)),crm_$(notdir $(p)))
lint: $(VENV)/.installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy $(addprefix -p ,$(MYPY_PACKAGES))

# The fault suite's full table: every fault on a few thousand customers against one fault-free run (an hour or
# more on 2 cores); `make test` runs a reduced version. The table is printed and written to build/faults-table.md.
faults: $(VENV)/.installed
	CRM_FAULTS=full $(VENV_PY) -m pytest tests/faults -p no:cacheprovider -m faults $(PYTEST_ARGS)

clean:
	rm -rf .dev $(VENV)

# AsyncAPI document of every service, as ops publish it.
asyncapi: $(VENV)/.installed
	mkdir -p build/asyncapi
	for s in $(notdir $(patsubst %/pyproject.toml,%,$(wildcard services/*/pyproject.toml))); do \
	  $(VENV)/bin/faststream docs gen --factory crm_$$s.main:asyncapi -o build/asyncapi/$$s.json; done

# Rows/s of `crm import` on this machine (the figure in the README): N generated rows imported twice
# into a fresh embedded stack. `make bench-import ROWS=20000` for a quicker run.
ROWS ?= 100000
bench-import: $(VENV)/.installed
	$(VENV_PY) bench/import_rows.py --rows $(ROWS)

# End-to-end events/s (corebank.balances → profile → tiering) against a bare consumer, database round trips per
# event, and re-tiering customers/s at several sizes, on a fresh embedded stack. `make bench-pipeline
# BENCH_ARGS=--quick` for a smoke run of about a minute; see `bench/pipeline.py --help`.
BENCH_ARGS ?=
bench-pipeline: $(VENV)/.installed
	$(VENV_PY) bench/pipeline.py $(BENCH_ARGS)

# Seconds from a restart to /readyz, to the first message consumed and to the backlog consumed, per service,
# after a SIGKILL and after a SIGTERM mid-feed, on a fresh embedded stack. `make bench-recovery
# BENCH_ARGS="--services profile --modes kill"` for one; see `bench/recovery.py --help`.
bench-recovery: $(VENV)/.installed
	$(VENV_PY) bench/recovery.py $(BENCH_ARGS)
