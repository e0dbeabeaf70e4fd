# Infrastructure checks, included by the root Makefile (`-include infra/infra.mk`).
# `make infra-check`: (a) tests/unit/test_infra*.py parse every .bicep with pycep (main .venv) and
# work out what a deployment with replication rules creates;
# (b) checkov scans infra/ offline and fails on any failed check. Checkov's pins conflict with
# ours (it needs pycep-parser 0.5.1), so it lives in its own venv, created on first use.
CHECKOV_VERSION := 3.3.30
CHECKOV_VENV := .venv-checkov
CHECKOV := $(CHECKOV_VENV)/bin/checkov
STAMP_CHECKOV := $(CHECKOV_VENV)/.installed-$(CHECKOV_VERSION)

.PHONY: infra-check infra-test infra-scan

infra-check: infra-test infra-scan

$(STAMP_CHECKOV): infra/checkov-constraints.txt
	test -x $(CHECKOV_VENV)/bin/python || $(PYTHON) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/python -m pip install --quiet --disable-pip-version-check \
	  checkov==$(CHECKOV_VERSION) -c infra/checkov-constraints.txt
	rm -f $(CHECKOV_VENV)/.installed-*
	touch $@

infra-test: $(STAMP_PY)
	$(PY) -m pytest -q -p no:cacheprovider tests/unit/test_infra.py tests/unit/test_infra_flex.py \
	  tests/unit/test_infra_replication.py

# --skip-download: no network (no Prisma Cloud policies, no guidelines); --compact --quiet: only
# failed checks, without code blocks. Skips live inline in the Bicep, each with its reason.
# Checkov skips a file its parser cannot read and still exits 0 ("Parsing errors: 1"): a file it
# cannot parse is a file nobody scanned, so that fails here, with the file named.
infra-scan: $(STAMP_CHECKOV)
	@out="$$($(CHECKOV) --directory infra --skip-download --compact --quiet 2>&1)"; rc=$$?; echo "$$out"; \
	if grep -q "Parsing errors" <<<"$$out"; then \
	  $(CHECKOV) --directory infra --skip-download --compact 2>&1 | grep "Error parsing file"; exit 1; \
	fi; exit $$rc
