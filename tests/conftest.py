"""Shared fixtures, generic enough for any test module.

* ``no_leaked_threads`` -- fails the test if it leaves a thread running that was not
  there before, other than the workers of wavejit's shared pool (which live for the
  process by design). Threads get a grace period to finish exiting.
* ``private_pool`` -- a factory of private `ThreadExecutor` s, shut down after the test.
* ``closing`` -- ``client = closing(openai.OpenAI(...))`` closes the client after the
  test, as a user's ``with`` block would: an unclosed client's sockets are finalized by
  whichever later garbage collection finds them, and the ResourceWarning fails an
  unrelated test (seen on 3.13: eight sockets of a ``test_production`` client, at the
  next module's start).
* ``settled_heap`` (autouse, per module) -- collects, then freezes, what earlier
  modules left on the heap (`gc.freeze`): the full suite imports Ray, Dask, LangChain
  and Hypothesis (about a million tracked objects), and one oldest-generation
  collection of them took ~0.5 s: when one fell inside a timed first call, a test
  measuring overlap failed (seen twice on ``test_async_fan_outs``, 0.74 s against
  0.3 s, never alone). Collections then walk only what this module made; after
  it, the heap is unfrozen (what died meanwhile is collected as usual).
* ``fresh_measurements`` (autouse) -- forgets the process-wide callee measurements
  before each test, so what one test measured (a helper promoted to I/O, or demoted
  as CPU-bound) never changes what another defers: outcomes do not depend on order.

The mutation check (``make test`` runs it): with ``WAVEJIT_MUTATION_CHECK=1`` and
``WAVEJIT_EXECUTOR=sequential`` (every deferred call runs inline, in program order),
the outcome of each ``@pytest.mark.concurrency`` test is inverted: it passes when it
failed, as it must without concurrency, and fails when it passed (it cannot tell a
concurrent jit from one that runs calls one after another). Fewer than
`MIN_CONCURRENCY_TESTS` selected is an error, so the check cannot pass vacuously.
"""

from __future__ import annotations

import gc
import os
import threading
import time
from collections.abc import Callable, Generator, Iterator
from typing import Any

import pytest

from wavejit import ThreadExecutor, shared_executor
from wavejit._sites import reset_measurements

# A thread that has been told to stop (an executor shut down, a helper joined) may
# still be unwinding for a moment; 5 s is far beyond that and far below a hang.
_GRACE_SECONDS = 5.0

MUTATION_CHECK = os.environ.get("WAVEJIT_MUTATION_CHECK", "") == "1"
MIN_CONCURRENCY_TESTS = 40


@pytest.hookimpl(trylast=True)  # after `-m concurrency` has deselected the rest
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not MUTATION_CHECK:
        return
    if os.environ.get("WAVEJIT_EXECUTOR") != "sequential":
        raise pytest.UsageError("WAVEJIT_MUTATION_CHECK=1 needs WAVEJIT_EXECUTOR=sequential")
    marked = [item for item in items if item.get_closest_marker("concurrency")]
    if len(marked) != len(items) or len(marked) < MIN_CONCURRENCY_TESTS:
        raise pytest.UsageError(
            f"the mutation check runs only concurrency tests (use -m concurrency), at "
            f"least {MIN_CONCURRENCY_TESTS}: {len(marked)} of {len(items)} selected")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, Any, None]:
    outcome = yield
    if not MUTATION_CHECK:
        return
    report = outcome.get_result()
    if call.when == "teardown" and report.failed:
        # A test failing part-way (as these must here) may leave sockets or event
        # loops for the garbage collector, whose warnings land in whichever test's
        # teardown runs next. The normal run checks for leaks; this one checks calls.
        report.outcome = "passed"
        report.longrepr = None
    if call.when != "call":
        return
    if report.failed:  # as it must: no overlap when calls run one after another
        report.outcome = "passed"
        report.longrepr = None
    elif report.passed:
        report.outcome = "failed"
        report.longrepr = (f"{item.nodeid} passed with WAVEJIT_EXECUTOR=sequential: it "
                           "cannot tell a concurrent jit from one that runs every call "
                           "in program order")


@pytest.fixture(autouse=True, scope="module")
def settled_heap() -> Iterator[None]:
    gc.collect()
    gc.freeze()
    yield
    gc.unfreeze()  # what dies later is collected as before (a client's sockets, closed)


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
def closing() -> Iterator[Callable[[Any], Any]]:
    opened: list[Any] = []

    def register(client: Any) -> Any:
        opened.append(client)
        return client

    yield register
    for client in reversed(opened):
        client.close()


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
