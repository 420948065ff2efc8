# gridedge: every target sets up what it needs; all are idempotent.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
BUILD_INPUTS := pyproject.toml setup.py $(wildcard gridedge/_native/*.pyx gridedge/_native/*.cpp gridedge/_native/include/gridedge/*.hpp)

.PHONY: demo test lint format bench clean wheel-arm64 test-arm64 bench-compare bench-baseline

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# Editable install with the test extras; rebuilt when a build input changes.
$(VENV)/.installed: $(BIN)/python $(BUILD_INPUTS)
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

demo: $(VENV)/.installed
	$(BIN)/gridedge demo

test: $(VENV)/.installed lint
	$(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	PATH="$(abspath $(BIN)):$$PATH" $(BIN)/cython-lint gridedge
	$(BIN)/clang-format --dry-run --Werror $(shell git ls-files 'gridedge/_native/*.cpp' 'gridedge/_native/*.hpp')

format: $(VENV)/.installed
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	$(BIN)/clang-format -i $(shell git ls-files 'gridedge/_native/*.cpp' 'gridedge/_native/*.hpp')

bench: $(VENV)/.installed
	mkdir -p benchmarks/results
	$(BIN)/python -m pytest benchmarks -p no:randomly -p gridedge.bench.plugin --benchmark-only \
		--benchmark-columns=min,median,iqr,ops --benchmark-sort=name \
		--benchmark-json=benchmarks/results/latest.json
	$(BIN)/python -m gridedge.bench benchmarks/results/latest.json

# This machine's last run against the reference machine, the twins and the paper.
BENCH_BASELINE ?= benchmarks/baselines/x86_64-amd-epyc-2cpu.json
benchmarks/results/latest.json:
	$(MAKE) bench

bench-compare: $(VENV)/.installed benchmarks/results/latest.json
	$(BIN)/gridedge bench compare benchmarks/results/latest.json --baseline $(BENCH_BASELINE)

# Keep this machine's last run as a baseline, in a file named after the machine.
bench-baseline: $(VENV)/.installed benchmarks/results/latest.json
	mkdir -p benchmarks/baselines
	$(BIN)/gridedge bench baseline benchmarks/results/latest.json benchmarks/baselines/

clean:
	rm -rf build $(VENV) *.egg-info gridedge/_native/*.so gridedge/_native/*.c

# Raspberry Pi (aarch64) wheel, cross-compiled here and tested under emulation; as root.
# See docs/arm64.md. The first run bootstraps a Debian arm64 root into .cache/arm64/.
wheel-arm64:
	$(PYTHON) tools/arm64.py wheel

test-arm64: wheel-arm64 $(VENV)/.installed
	$(PYTHON) tools/arm64.py test --baseline $(BENCH_BASELINE)
