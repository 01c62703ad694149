"""Shared fixtures, generic enough for any test module.

* ``no_leaked_threads`` -- fails the test if it leaves a thread running that was not
  there before, other than the workers of wavejit's shared pool (which live for the
  process by design). Threads get a grace period to finish exiting.
* ``private_pool`` -- a factory of private `ThreadExecutor` s, shut down after the test.
* ``fresh_measurements`` (autouse) -- forgets the process-wide callee measurements
  before each test, so what one test measured (a helper promoted to I/O, or demoted
  as CPU-bound) never changes what another defers: outcomes do not depend on order.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator

import pytest

from wavejit import ThreadExecutor, shared_executor
from wavejit._sites import reset_measurements

# A thread that has been told to stop (an executor shut down, a helper joined) may
# still be unwinding for a moment; 5 s is far beyond that and far below a hang.
_GRACE_SECONDS = 5.0


@pytest.fixture(autouse=True)
def fresh_measurements() -> None:
    reset_measurements()


@pytest.fixture
def no_leaked_threads() -> Iterator[None]:
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + _GRACE_SECONDS
    while True:
        pool = set(shared_executor().threads)
        leaked = [t for t in threading.enumerate()
                  if t not in before and t not in pool and t.is_alive()]
        if not leaked or time.monotonic() > deadline:
            break
        time.sleep(0.01)
    assert not leaked, f"the test left threads running: {[t.name for t in leaked]}"


@pytest.fixture
def private_pool() -> Iterator[Callable[[int], ThreadExecutor]]:
    pools: list[ThreadExecutor] = []

    def make(max_workers: int) -> ThreadExecutor:
        pool = ThreadExecutor(max_workers, name=f"test-pool-{len(pools)}")
        pools.append(pool)
        return pool

    yield make
    for pool in pools:
        pool.shutdown()
