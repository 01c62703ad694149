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

# After the suite, three runs side by side, each into its own log under .venv (their
# tests mostly wait, so they barely compete for the cores: 3 min one after another,
# the mutation check's 2.4 min side by side): the mutation check (every concurrency
# test must fail with WAVEJIT_EXECUTOR=sequential; tests/conftest.py inverts their
# outcomes) and the jit tests in two random orders. Each prints its summary line, or
# its whole log if it failed; any failure fails `make test`.
RANDOM_ORDER := --random-order-bucket=global --random-order-seed
test: lint typecheck
	$(PY) -m pytest -q
	@seed=$$(date +%s); \
	WAVEJIT_EXECUTOR=sequential WAVEJIT_MUTATION_CHECK=1 WAVEJIT_FUZZ_EXAMPLES=20 \
		$(PY) -m pytest -q -m concurrency --timeout=30 > $(VENV)/mutation-check.log 2>&1 & m=$$!; \
	$(PY) -m pytest -q $(RANDOM_ORDER)=$$seed $(JIT_TESTS) > $(VENV)/random-order-1.log 2>&1 & a=$$!; \
	$(PY) -m pytest -q $(RANDOM_ORDER)=$$((seed + 1)) $(JIT_TESTS) > $(VENV)/random-order-2.log 2>&1 & b=$$!; \
	failed=0; \
	for job in "$$a random-order-1 jit tests in random order ($(RANDOM_ORDER)=$$seed)" \
		"$$b random-order-2 jit tests in random order ($(RANDOM_ORDER)=$$((seed + 1)))" \
		"$$m mutation-check mutation check: every concurrency test fails with WAVEJIT_EXECUTOR=sequential"; do \
		set -- $$job; pid=$$1; log=$(VENV)/$$2.log; shift 2; echo "$$*"; \
		if wait $$pid; then grep -E '^[0-9]+ (passed|failed)' $$log | tail -1; \
		else cat $$log; failed=1; fi; \
	done; \
	exit $$failed

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
