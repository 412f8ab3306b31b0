# Every target creates the virtual environment it needs; on a fresh clone `make demo` and `make test` are enough.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
MINUTES ?= 30

.PHONY: install demo test lint bench lab clean down tools iac runtime-root soak test-artifacts notebooks

$(STAMP): pyproject.toml constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[all,dev]'
	@# The handlers' Powertools logs (JSON, INFO) stay out of the learner's cell outputs: warnings and errors only.
	$(BIN)/python -m ipykernel install --sys-prefix --name market-data-pipeline --display-name "Python (market-data-pipeline)" --env POWERTOOLS_LOG_LEVEL WARNING >/dev/null
	touch $(STAMP)

install: $(STAMP) ## create .venv and install the project with everything it needs

demo: $(STAMP) ## local stack up, $(MINUTES) simulated minutes through the pipeline, verify, analysis report
	$(BIN)/python -m pipeline demo --minutes $(MINUTES)

test: $(STAMP) iac ## the whole test suite (unit, stack, notebooks) and the static checks
	$(BIN)/ruff check pipeline workbench tests benchmarks
	$(BIN)/ruff format --check pipeline workbench tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m workbench.complexity
	$(BIN)/python -m pytest

# The stocks of the day run on a smaller universe (the Snowflake stand-in takes seconds a minute at 503 tickers).
SOAK_UNIVERSE ?= 20
soak: $(STAMP) ## a simulated trading day under injected faults; figures to .local/soak.json; fails on loss
	$(BIN)/python -m pipeline local up
	PIPELINE_UNIVERSE_LIMIT=$(SOAK_UNIVERSE) $(BIN)/python -m pipeline soak --output .local/soak.json

# checkov pins versions of packages the project also uses, so it lives in a virtual env of its own.
TOOLS       := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed
CHECKOV     ?= checkov==3.3.30
TEMPLATE    := infra/cloudformation/template.yaml

$(TOOLS_STAMP): Makefile
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/python -m pip install --quiet --upgrade pip
	$(TOOLS)/bin/python -m pip install --quiet '$(CHECKOV)'
	touch $(TOOLS_STAMP)

tools: $(TOOLS_STAMP) ## the IaC scanner (checkov) in its own virtual env, .venv-tools

iac: $(STAMP) $(TOOLS_STAMP) ## cfn-lint (no error, no warning) and checkov (no failed check) on the template
	$(BIN)/cfn-lint $(TEMPLATE)
	BC_SKIP_MAPPING=TRUE $(TOOLS)/bin/checkov --quiet --compact --skip-download --framework cloudformation --file $(TEMPLATE)

# The functions' interpreter: a Debian 13 root with python3.13, from the Debian mirror of this machine's apt sources
# (debootstrap and bubblewrap are apt-get installed when missing; needs root, as CI has).
RUNTIME_ROOT  := .local/runtime-root
RUNTIME_STAMP := $(RUNTIME_ROOT)/.runtime-root-complete

$(RUNTIME_STAMP):
	$(PYTHON) -m workbench.local.sandbox.root --root $(RUNTIME_ROOT)

runtime-root: $(RUNTIME_STAMP) ## python3.13 root filesystem (Debian trixie, debootstrap) under .local/

# The functions run from their built artifacts in that root (awslambdaric, a sandbox each) on the local stack; the
# AWS calls they make are checked against their roles, and parliament lints the roles' policies.
test-artifacts: $(STAMP) $(RUNTIME_STAMP) ## the artifacts run (python3.13 sandboxes, IAM check, parliament)
	@# The zips are what the run needs; the size budget is the deploy's own check (a failed budget still leaves them).
	-$(BIN)/python -m pipeline layer build
	$(BIN)/python -m pytest tests/artifacts

lint: $(STAMP)
	$(BIN)/ruff check pipeline workbench tests benchmarks
	$(BIN)/ruff format --check pipeline workbench tests benchmarks
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/python -m workbench.complexity

bench: $(STAMP) ## benchmarks; results go to benchmarks/results/
	$(BIN)/python -m benchmarks

LAB_IP   ?= 127.0.0.1
LAB_PORT ?= 8888
FIRST_NOTEBOOK := notebooks/00_overview_and_local_stack.ipynb

# Rooted at the repository, so pipeline/, workbench/, docs/ and reports/ open from the file browser beside the
# notebooks; the URL JupyterLab prints opens the course's first notebook (LabApp.default_url).
# allow_root: devcontainers and many cloud notebooks run as root, where JupyterLab refuses to start without it.
lab: $(STAMP) ## JupyterLab at the repository root, on the course's first notebook, with the local stack running
	$(BIN)/python -m pipeline local up
	@echo "Open the URL JupyterLab prints below (http://$(LAB_IP):$(LAB_PORT)/lab/tree/$(FIRST_NOTEBOOK)?token=...;"
	@echo "another port if $(LAB_PORT) is taken). Kernel: \"Python (market-data-pipeline)\". Ctrl-C twice stops JupyterLab,"
	@echo "\`make down\` the local stack; docs/troubleshooting.md has the errors a learner meets and what to type."
	POWERTOOLS_LOG_LEVEL=WARNING $(BIN)/jupyter lab --no-browser --ip=$(LAB_IP) --port=$(LAB_PORT) --ServerApp.allow_root=True \
		--ServerApp.root_dir="$(CURDIR)" --LabApp.default_url=/lab/tree/$(FIRST_NOTEBOOK)

# In place, in order, on a fresh local stack of their own (a temporary folder; .local is not touched), with the
# tests' kernel (over IPC) and their check of clean outputs; a notebook that fails or is noisy is not written.
notebooks: $(STAMP) ## re-execute every course notebook in place, top to bottom, so the committed outputs are current
	$(BIN)/python -m pipeline course notebooks

down: $(STAMP)
	$(BIN)/python -m pipeline local down

clean:
	-$(BIN)/python -m pipeline local down 2>/dev/null
	rm -rf $(VENV) .local build dist *.egg-info .pytest_cache .ruff_cache .mypy_cache
