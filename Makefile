# Two commands matter: `make demo` and `make test`. Both install what they need on first use.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_PY := $(VENV)/.installed
STAMP_NODE := node_modules/.installed
STAMP_AZCLI := .venv-azcli/.installed-2.91.0

.PHONY: setup test lint unit integration e2e run storage demo bench chaos constraints clean

setup: $(STAMP_PY) $(STAMP_NODE)

$(STAMP_PY): requirements.txt requirements-dev.txt constraints.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
	$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $@

$(STAMP_NODE): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $@

lint: $(STAMP_PY)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy
	$(PY) -m vulture  # dead code; see [tool.vulture] in pyproject.toml
	$(PY) -m tests.dead_code_whitelist  # every whitelisted name still exists

test: setup lint infra-scan $(STAMP_AZCLI)
	$(PY) -m pytest

unit: $(STAMP_PY)
	$(PY) -m pytest tests/unit

run: setup
	$(PY) -m devhost up . --prepare demo.localrun:prepare

storage: setup
	$(PY) -m devhost storage

# The whole product on one machine: local stack, three copies, a summary; see demo/__init__.py.
demo: setup
	$(PY) -m demo

# The Azure CLI, a real client nobody here wrote, drives the copy engine in a test. It pins its
# own dependencies, so it gets its own venv.
$(STAMP_AZCLI):
	test -x .venv-azcli/bin/python || $(PYTHON) -m venv .venv-azcli
	.venv-azcli/bin/python -m pip install --quiet --disable-pip-version-check azure-cli==2.91.0
	touch $@

# Benchmarks against peers, side by side (see bench/README.md). Peers live in their own venvs:
# bench/anchor_durabletask.py runs in .venv-durabletask. The commands make the README's tables.
.venv-durabletask/.installed:
	$(PYTHON) -m venv .venv-durabletask
	.venv-durabletask/bin/python -m pip install --quiet --disable-pip-version-check durabletask==1.12.0
	touch $@

bench: setup .venv-durabletask/.installed $(STAMP_AZCLI)
	$(PY) bench/bench_devhost.py 500 --anchor
	$(PY) bench/bench_copyengine.py --runs 3
	$(PY) bench/bench_polling.py --durations 1,30,300 --repeat 3,3,1
	$(PY) bench/bench_batch.py

# Three chaos runs in a row (see bench/chaos.py and docs/reliability.md); exits 1 on a violation.
chaos: setup
	$(PY) bench/chaos.py --runs 3

constraints: $(STAMP_PY)
	{ echo '# Every package CI installs, pinned (pip freeze of requirements-dev.txt). Regenerate with `make constraints`.'; \
	  $(PY) -m pip freeze --exclude-editable; } > constraints.txt

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache .devhost

# Infrastructure checks (Bicep parse + checkov) live beside the Bicep they check.
-include infra/infra.mk
