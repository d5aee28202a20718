# Two set-up commands for a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test install system-deps lint typecheck sbom lock bench clean

demo: install
	$(BIN)/predeploy demo

test: install
	$(BIN)/pytest

install: $(STAMP)

$(STAMP): requirements.lock requirements-ssvc.lock pyproject.toml scripts/system-deps.sh system-packages.txt
	bash scripts/system-deps.sh
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes --no-deps --ignore-requires-python -r requirements-ssvc.lock
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e .
	touch $(STAMP)

lint: install
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy

sbom: install
	mkdir -p dist
	$(BIN)/cyclonedx-py requirements --pyproject pyproject.toml --mc-type application requirements.lock --output-format JSON --output-file dist/predeploy-sbom.cdx.json
	@echo "wrote dist/predeploy-sbom.cdx.json"

# Re-resolve the locked dependency set (needs `uv`; run by hand when upgrading on purpose).
lock:
	uv pip compile pyproject.toml --extra dev --generate-hashes --python-version 3.11 -o requirements.lock

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) .predeploy dist
