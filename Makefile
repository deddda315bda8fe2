# trm-hub — the README's commands. Every target does its own set-up.
PY      ?= python3
VENV    := .venv
BIN     := $(VENV)/bin
STAMP   := $(VENV)/.installed-stamp
PYTEST_ARGS ?=
# `make test` runs the suite's files in this many processes (pytest-xdist; a file stays in
# one process, and each process starts its own broker). 0 runs them all in one process.
TEST_WORKERS ?= 2

.PHONY: all venv test lint demo bench fuzz fuzz-corpus clean system-deps asyncapi-deps containers

all: test

$(STAMP): pyproject.toml deploy/scripts/aiokafka-crc.sh
	@$(PY) -c 'import sys; assert sys.version_info >= (3, 11), "trm-hub needs Python 3.11+"'
	@PY=$(PY) bash deploy/scripts/system-deps.sh --build
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	@BIN=$(BIN) bash deploy/scripts/aiokafka-crc.sh
	@touch $@

# The native wire walk (hub/native, Rust; hub/wire/native.py): rebuilt when the crate changes.
NATIVE := hub/wire/_native.abi3.so
$(NATIVE): hub/native/Cargo.toml hub/native/Cargo.lock $(wildcard hub/native/src/*.rs)
	@bash deploy/scripts/native.sh

# The hot modules compiled with mypyc (hub/compiled.py): rebuilt when any source under hub/ changes.
COMPILED := hub/_compiled/manifest.json
$(COMPILED): $(STAMP) deploy/scripts/compile.py $(shell find hub -name '*.py' -not -path 'hub/_compiled/*')
	@$(BIN)/python deploy/scripts/compile.py

venv: $(STAMP) $(NATIVE) $(COMPILED)

# Debian packages that tests drive as real peers (Chromium, Go's tlog). Installs
# only what is missing; needs root or sudo on a bare machine.
system-deps:
	@bash deploy/scripts/system-deps.sh

# The official AsyncAPI parser (npm, exact versions in tests/asyncapi/package-lock.json)
# that tests/unit/docs/test_asyncapi.py runs on docs/asyncapi.yaml. Install scripts
# are not run: the parser needs none.
ASYNCAPI_NODE := tests/asyncapi/node_modules/.package-lock.json
$(ASYNCAPI_NODE): tests/asyncapi/package-lock.json | system-deps
	cd tests/asyncapi && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error
	@touch $@

asyncapi-deps: $(ASYNCAPI_NODE)

# Rootful Podman, podman-compose and the local images the Compose stack runs on
# (tests/integration/test_compose_stack.py). Seconds when the images exist.
containers: venv
	@bash deploy/scripts/containers.sh

test: venv system-deps asyncapi-deps containers
	$(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

demo: venv
	$(BIN)/trm demo

bench: venv
	$(BIN)/python tests/bench/run_all.py

# Coverage-guided fuzzing of every parser (docs/fuzzing.md): each target in its own
# process for at least FUZZ_RUNS inputs and FUZZ_SECONDS seconds, whichever is longer;
# crashers under artifacts/fuzz/crashes/. A table of inputs/s and coverage at the end.
FUZZ_RUNS    ?= 1000000
FUZZ_SECONDS ?= 0
FUZZ_TIMEOUT ?= 1
FUZZ_RSS_MB  ?= 2048
FUZZ_JOBS    ?= 1
FUZZ_TARGETS ?=
# The source itself, not its compiled form: coverage guides the fuzzer (hub/compiled.py).
fuzz: venv
	TRM_COMPILED=0 $(BIN)/python -m tests.fuzz.fuzz_all --runs $(FUZZ_RUNS) --seconds $(FUZZ_SECONDS) \
		--timeout $(FUZZ_TIMEOUT) --rss-limit-mb $(FUZZ_RSS_MB) --jobs $(FUZZ_JOBS) $(FUZZ_TARGETS)

# Rebuild the seed corpus tests/fuzz/corpus/ from tests/vectors and schemas/examples.
fuzz-corpus: venv
	$(BIN)/python -m tests.fuzz.make_corpus

clean:
	-@[ -x $(BIN)/trm ] && $(BIN)/trm down >/dev/null 2>&1 || true
	rm -rf $(VENV) $(NATIVE) hub/_compiled .trm build dist *.egg-info .mypy_cache .ruff_cache .pytest_cache .hypothesis artifacts tests/asyncapi/node_modules
