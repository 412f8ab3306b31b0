# Every target creates the virtual environment it needs; on a fresh clone `make demo` and `make test` are enough.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MINUTES ?= 30

.PHONY: install demo test lint bench lab clean down

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[all,dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name market-data-pipeline --display-name "Python (market-data-pipeline)" >/dev/null
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with everything it needs

demo: $(STAMP) ## local stack up, $(MINUTES) simulated minutes through the pipeline, verify, analysis report
	$(BIN)/python -m pipeline demo --minutes $(MINUTES)

test: $(STAMP) ## the whole test suite (unit, stack, notebooks) and the static checks
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks
	$(BIN)/mypy

bench: $(STAMP) ## benchmarks; results go to benchmarks/results/
	$(BIN)/python -m benchmarks

lab: $(STAMP) ## JupyterLab on the course, with the local stack running
	$(BIN)/python -m pipeline local up
	$(BIN)/jupyter lab notebooks/

down: $(STAMP)
	$(BIN)/python -m pipeline local down

clean:
	-$(BIN)/python -m pipeline local down 2>/dev/null
	rm -rf $(VENV) .local build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
