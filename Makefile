# fusionpot: `make demo` runs the demonstration, `make test` runs every check CI runs.
# Both create the virtual environment in .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
# CPU wheel pinned for this project's machines; GPU users override, e.g.
#   make TORCH_SPEC='torch==2.13.0 --index-url <your CUDA index>' setup
TORCH_SPEC ?= torch==2.13.0
STAMP := $(VENV)/.fusionpot-installed

.PHONY: setup demo test lint pytest

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet $(TORCH_SPEC)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/fusionpot demo

lint: $(STAMP)
	$(BIN)/ruff check fusionpot tests bench studies tools campaigns examples
	$(BIN)/ruff format --check fusionpot tests bench studies tools campaigns examples
	$(BIN)/mypy fusionpot

pytest: $(STAMP)
	$(BIN)/python -m pytest

test: lint pytest
