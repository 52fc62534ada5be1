# Two commands set up a fresh Debian 12 machine: `make demo` and `make test`.
# Every step is idempotent and quick when already done.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
LSEPROF := $(BIN)/lseprof

.PHONY: setup system venv data native fixtures demo test test-native lint bench clean

setup: system venv data native

system:
	bash scripts/install-system.sh

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $@

data: venv
	$(LSEPROF) data fetch
	$(LSEPROF) sysroot

native: venv
	$(LSEPROF) build --target all --variant all

# The main job: both scheduler variants at 88 threads under perf, then the
# same on the aarch64 outline-atomics build (emulated unless this is aarch64).
demo: setup
	$(LSEPROF) doctor
	$(LSEPROF) run --threads 88 --repeat 3
	$(LSEPROF) run --target aarch64 --threads 8 --repeat 1 --duration 3

# Real third-party ELF files (manylinux aarch64 wheels), pinned by sha256; and the
# speedscope viewer (pinned npm release) that the export tests open offline in Chromium.
SPEEDSCOPE := speedscope@1.25.0
fixtures: venv
	$(BIN)/python scripts/fetch_elf_fixtures.py
	test -f data/viewers/node_modules/speedscope/package.json || \
	  npm install --prefix data/viewers --no-audit --no-fund --silent $(SPEEDSCOPE)

test: setup fixtures
	$(BIN)/python -m pytest -q
	$(MAKE) lint

test-native: system
	$(BIN)/python -m pytest -q tests/test_native_unit.py

lint: venv
	$(BIN)/ruff check lseprof workloads tests benchmarks scripts
	$(BIN)/mypy

bench: setup
	$(BIN)/python benchmarks/bench_encoder.py

clean:
	rm -rf $(VENV) native/target native/bin
