# Every target installs what it needs first (idempotent, keyed on the pinned files).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# cutout.js's dev tools (typescript for the type check, axe-core for the page's check).
NPM_STAMP := clients/node_modules/.installed

.PHONY: up test test-fast test-gcp check-infra lint bench-ingest system-deps infra-tools clean

up: $(STAMP)
	$(BIN)/cutout up

test: $(STAMP) system-deps infra-tools $(NPM_STAMP)
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow and not browser and not emulator"

# Only the Google Cloud suites, on Google's emulators and fake-gcs-server (the test
# session starts them on free ports and stops them); see cutout/gcp/README.md.
test-gcp: $(STAMP) system-deps
	$(BIN)/python -m pytest -m emulator

# The deployment files' static checks (Terraform, Dockerfiles, cloudbuild.yaml).
check-infra: $(STAMP) infra-tools
	$(BIN)/python -m pytest -q tests/test_infra_*.py

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check . && $(BIN)/mypy cutout ingest worker effects

bench-ingest: $(STAMP)
	$(BIN)/cutout bench ingest

$(STAMP): requirements.txt constraints.txt pyproject.toml
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -r requirements.txt -c constraints.txt
	$(BIN)/pip install --quiet --no-deps --no-build-isolation -e .
	touch $(STAMP)

$(NPM_STAMP): clients/package.json clients/package-lock.json
	cd clients && npm ci --no-audit --no-fund
	touch $(NPM_STAMP)

system-deps:
	scripts/install-system-deps.sh

# checkov + hadolint in their own venv (.venv-checkov).
infra-tools:
	bash infra/tools/install.sh

clean:
	rm -rf $(VENV) .venv-checkov clients/node_modules .cutout .pytest_cache
