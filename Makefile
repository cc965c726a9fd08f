# Two commands matter: `make demo` and `make test`. Both start from a clean clone.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# torch's CPU wheel must come first: a plain range would pull GBs of CUDA wheels.
TORCH  := torch==2.13.0

.PHONY: demo test test-deps bench lint typecheck venv torch clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

venv: $(BIN)/python

demo: venv
	$(BIN)/pip install --quiet -e '.[demo]'
	$(BIN)/rig quickstart

# The test extra holds torch (for rig fit --measure): the pinned CPU wheel goes in first.
test-deps: venv
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'

test: test-deps
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: test-deps
	$(BIN)/python bench/run_all.py

# Guards: ruff (style, imports, complexity C901), formatting, and mypy --strict on src/rigml.
lint: test-deps
	$(BIN)/ruff check src tests bench
	$(BIN)/ruff format --check src tests bench
	$(BIN)/mypy src/rigml

typecheck: test-deps
	$(BIN)/mypy src/rigml

# The torch extra, for the fit planner's --measure: the pinned CPU wheel first.
torch: venv
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[torch]'

clean:
	rm -rf $(VENV) build dist .pytest_cache
