PYTHON ?= python3

.PHONY: infra-tools check-infra

# checkov + hadolint in their own venv (.venv-checkov); CI runs this before the tests.
infra-tools:
	bash infra/tools/install.sh

# The deployment files' static checks (Terraform, Dockerfiles, cloudbuild.yaml).
check-infra: infra-tools
	PYTHONPATH=. $(PYTHON) -m pytest -q tests/test_infra_*.py
