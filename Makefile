# Two commands matter: `make test` and `make demo`. Both build .venv from nothing but python3.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP_DEV := $(VENV)/.installed-dev
STAMP_BENCH := $(VENV)/.installed-bench

.PHONY: test test-all demo fuzz bench lint typecheck clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(STAMP_DEV): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[dev,bench,dask,ray,progress,frameworks]'
	touch $@

$(STAMP_BENCH): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet -e '.[bench]'
	touch $@

lint: $(STAMP_DEV)
	$(PY) -m ruff check src tests benchmarks

typecheck: $(STAMP_DEV)
	$(PY) -m mypy

# The jit tests, run twice more in random orders (outcomes must not depend on order).
JIT_TESTS := tests/test_jit_patterns.py tests/test_jit_contract.py \
	tests/test_jit_regressions.py tests/test_jit_async.py tests/test_tiers.py \
	tests/test_strategies.py

# After the suite: the mutation check (every concurrency test must fail with
# WAVEJIT_EXECUTOR=sequential; tests/conftest.py inverts their outcomes) runs in the
# background, mostly waiting, while the jit tests run in two random orders.
test: lint typecheck
	$(PY) -m pytest -q
	@WAVEJIT_EXECUTOR=sequential WAVEJIT_MUTATION_CHECK=1 WAVEJIT_FUZZ_EXAMPLES=20 \
		$(PY) -m pytest -q -m concurrency --timeout=30 > $(VENV)/mutation-check.log 2>&1 & \
	mutation=$$!; seed=$$(date +%s); \
	for s in $$seed $$((seed + 1)); do \
		echo "jit tests in random order, seed $$s (--random-order-bucket=global --random-order-seed=$$s)"; \
		$(PY) -m pytest -q --random-order-bucket=global --random-order-seed=$$s $(JIT_TESTS) \
			|| { kill $$mutation; exit 1; }; \
	done; \
	echo "mutation check: every concurrency test fails with WAVEJIT_EXECUTOR=sequential"; \
	if wait $$mutation; then tail -1 $(VENV)/mutation-check.log; else cat $(VENV)/mutation-check.log; exit 1; fi

# The suite on every CPython 3.10-3.13 found here, each in its own .venv-3.X; absent
# versions are skipped, saying so (see .ci/test-all).
test-all:
	.ci/test-all

demo: $(STAMP_BENCH)
	$(PY) -m wavejit demo

fuzz: $(STAMP_DEV)
	WAVEJIT_FUZZ_EXAMPLES=5000 WAVEJIT_FUZZ_EXPLORE=1 $(PY) -m pytest -q -s tests/test_fuzz.py --timeout=0

bench: $(STAMP_BENCH)
	$(PY) -m wavejit bench

clean:
	rm -rf $(VENV) .venv-3.* build dist src/*.egg-info
