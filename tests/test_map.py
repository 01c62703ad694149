"""``jitted.map`` on the local thread pool: checked against the plain loop
``[fn(*args) for args in zip(*iterables)]``.

The cluster executors run the same contract in `test_cluster.py`; this file covers
what only needs one process: concurrency bounds, lazy consumption, the async form,
help-while-waiting on a saturated pool, progress output and pickling.
"""

from __future__ import annotations

import asyncio
import itertools
import pickle
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import wavejit
from wavejit import ThreadExecutor, WavejitError

pytestmark = pytest.mark.usefixtures("no_leaked_threads")

DELAY = 0.05


def fetch(x: int, delay: float = DELAY) -> int:
    time.sleep(delay)
    return x


@wavejit.jit
def pipeline(x: int) -> int:
    a = fetch(x)
    b = fetch(x + 1)
    c = fetch(x + 2)
    if x in (3, 5):
        raise ValueError("bad item", x)
    return a + b + c


def plain_loop(fn: Callable[..., Any], *iterables: Any) -> list[Any]:
    return [fn(*args) for args in zip(*iterables)]  # noqa: B905 - map()'s semantics


class Gauge:
    """Counts invocations running at once, and which started and finished."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.now = 0
        self.peak = 0
        self.started: set[int] = set()
        self.finished: set[int] = set()

    def __enter__(self) -> Gauge:
        return self

    def enter(self, i: int) -> None:
        with self.lock:
            self.now += 1
            self.peak = max(self.peak, self.now)
            self.started.add(i)

    def leave(self, i: int) -> None:
        with self.lock:
            self.now -= 1
            self.finished.add(i)


def gauged(gauge: Gauge,
           fail: Callable[[int], float | None]) -> wavejit.JitFunction[[int], int]:
    """A jitted function whose item i sleeps, then raises if fail(i) is not None."""

    @wavejit.jit
    def item(i: int) -> int:
        gauge.enter(i)
        try:
            delay = fail(i)
            fetch(i, delay if delay is not None else DELAY)
            if delay is not None:
                raise KeyError(f"item {i}", i)
            return i * i
        finally:
            gauge.leave(i)

    return item


def test_results_in_input_order_like_the_plain_loop() -> None:
    items = [0, 1, 2, 4, 6, 7, 8, 9]
    assert pipeline.map(items) == plain_loop(pipeline.__wrapped__, items)
    assert pipeline.map(items[::-1], max_concurrency=3) == [x * 3 + 3 for x in items[::-1]]


def test_several_iterables_zip_to_the_shortest() -> None:
    @wavejit.jit
    def add(a: int, b: int) -> int:
        return fetch(a) + fetch(b)

    assert add.map([1, 2, 3], (10, 20)) == plain_loop(add.__wrapped__, [1, 2, 3], (10, 20))
    assert add.map([], [1]) == []


@pytest.mark.concurrency
def test_invocations_overlap_up_to_max_concurrency() -> None:
    gauge = Gauge()
    item = gauged(gauge, lambda i: None)
    assert item.map(range(12), max_concurrency=4) == [i * i for i in range(12)]
    assert gauge.peak == 4  # four ran at once, never five


def test_earliest_failure_in_input_order_wins() -> None:
    # Item 5 fails first in time (it sleeps least); the plain loop raises item 2's.
    gauge = Gauge()
    delays = {2: 0.2, 5: 0.0}
    item = gauged(gauge, delays.get)
    with pytest.raises(KeyError) as caught:
        item.map(range(8), max_concurrency=8)
    with pytest.raises(KeyError) as plain:
        plain_loop(gauged(Gauge(), delays.get).__wrapped__, range(8))
    assert type(caught.value) is type(plain.value)
    assert caught.value.args == plain.value.args == ("item 2", 2)
    # Every item that started has finished by the time map() raised.
    assert gauge.started == gauge.finished
    assert gauge.now == 0


def test_after_a_failure_nothing_more_starts() -> None:
    gauge = Gauge()
    item = gauged(gauge, lambda i: 0.0 if i == 1 else None)
    pulled: list[int] = []

    def items() -> Iterator[int]:
        for i in itertools.count():
            pulled.append(i)
            yield i

    with pytest.raises(KeyError):
        item.map(items(), max_concurrency=3)  # an endless generator: stops at the failure
    # Item 1 fails at once; at most the window (3) plus the one pulled when a slot
    # freed before the failure was seen can have been pulled.
    assert len(pulled) <= 5, pulled
    assert max(gauge.started) <= 4
    assert gauge.started == gauge.finished


def test_unstarted_items_are_cancelled_after_a_failure() -> None:
    # One worker: the items wait in its queue. Item 0 fails; item 1 is running (the
    # caller helps) or queued; nothing after the failure starts once it is seen.
    pool = ThreadExecutor(1, name="map-test-one")
    try:
        gauge = Gauge()
        item = gauged(gauge, lambda i: 0.0 if i == 0 else None)
        with pytest.raises(KeyError):
            item.map(range(6), executor=pool, max_concurrency=6)
        assert 0 in gauge.started
        assert len(gauge.started) < 6, gauge.started
        assert gauge.started == gauge.finished
    finally:
        pool.shutdown()


def test_return_exceptions_puts_them_in_place() -> None:
    results = pipeline.map(range(7), return_exceptions=True)
    assert [r for i, r in enumerate(results) if i not in (3, 5)] == [
        x * 3 + 3 for x in (0, 1, 2, 4, 6)]
    for i in (3, 5):
        assert isinstance(results[i], ValueError) and results[i].args == ("bad item", i)


def test_an_error_from_the_iterable_is_raised_where_the_loop_would() -> None:
    ran: list[int] = []

    @wavejit.jit
    def note(i: int) -> int:
        ran.append(fetch(i, 0.01))
        return i

    def items() -> Iterator[int]:
        yield from range(3)
        raise OSError("source broke")

    for return_exceptions in (False, True):
        ran.clear()
        with pytest.raises(OSError, match="source broke"):
            note.map(items(), return_exceptions=return_exceptions)
        assert sorted(ran) == [0, 1, 2]


@pytest.mark.parametrize("how", ["argument", "environment"])
def test_sequential_executor_is_the_plain_loop(how: str,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    gauge = Gauge()
    item = gauged(gauge, lambda i: None)
    if how == "environment":  # WAVEJIT_EXECUTOR=sequential: "is it the concurrency?"
        monkeypatch.setenv("WAVEJIT_EXECUTOR", "sequential")
        assert item.map(range(4), max_concurrency=4) == [0, 1, 4, 9]
    else:
        assert item.map(range(4), executor="sequential") == [0, 1, 4, 9]
    assert gauge.peak == 1


def test_a_saturated_pool_does_not_deadlock() -> None:
    # The pool's only worker runs the outer call, which maps onto the same pool: the
    # items can only run because the waiting caller runs them itself.
    pool = ThreadExecutor(1, name="map-test-nested")
    try:
        outer = pool.submit(lambda: pipeline.map([0, 1, 2], executor=pool))
        assert outer.result(timeout=20) == [3, 6, 9]
    finally:
        pool.shutdown()


def test_concurrent_futures_executor() -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:
        assert pipeline.map([0, 1, 2], executor=pool) == [3, 6, 9]
        with pytest.raises(ValueError, match="bad item"):
            pipeline.map(range(6), executor=pool)


@wavejit.jit
async def apipeline(x: int) -> int:
    a = await asyncio.sleep(DELAY, result=x)
    b = await asyncio.sleep(DELAY, result=x + 1)
    if x == 4:
        raise ValueError("bad item", x)
    return a + b


@pytest.mark.concurrency
def test_async_map_is_a_coroutine_on_the_running_loop() -> None:
    spans: dict[int, tuple[float, float]] = {}

    @wavejit.jit
    async def timed(i: int) -> int:
        started = time.perf_counter()
        await asyncio.sleep(DELAY)
        spans[i] = (started, time.perf_counter())
        return 2 * i

    assert asyncio.run(timed.map(range(4), max_concurrency=4)) == [0, 2, 4, 6]
    # All four were in flight at once: each started before any of them finished.
    assert max(s for s, _ in spans.values()) < min(e for _, e in spans.values())
    assert asyncio.run(apipeline.map(range(4))) == [2 * x + 1 for x in range(4)]
    with pytest.raises(ValueError) as caught:
        asyncio.run(apipeline.map(range(8)))
    assert caught.value.args == ("bad item", 4)
    assert asyncio.run(apipeline.map(range(6), return_exceptions=True))[4].args == (
        "bad item", 4)


def test_async_map_on_threads_runs_each_on_its_own_loop() -> None:
    assert asyncio.run(apipeline.map(range(3), executor="threads")) == [1, 3, 5]
    assert asyncio.run(apipeline.map(range(3), executor="sequential")) == [1, 3, 5]


@pytest.mark.concurrency
def test_cancelling_an_async_map_cancels_its_tasks() -> None:
    started: list[int] = []
    finished: list[int] = []

    @wavejit.jit
    async def slow(i: int) -> int:
        started.append(i)
        # (A cancelled jitted coroutine still waits for its in-flight awaits, so this
        # is short: the test takes this long, not 0.1 s.)
        await asyncio.sleep(0.5)
        finished.append(i)
        return i

    async def main() -> None:
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(slow.map(range(100), max_concurrency=5), 0.1)

    asyncio.run(main())
    assert len(started) == 5 and not finished


def test_progress_bar(capsys: pytest.CaptureFixture[str],
                      monkeypatch: pytest.MonkeyPatch) -> None:
    tqdm = pytest.importorskip("tqdm")
    # tqdm's own monitor thread outlives the bar by design; this test checks the bar.
    monkeypatch.setattr(tqdm.tqdm, "monitor_interval", 0)
    assert pipeline.map([0, 1, 2], progress=True) == [3, 6, 9]
    assert "3/3" in capsys.readouterr().err


def test_bad_arguments() -> None:
    with pytest.raises(TypeError, match="at least one iterable"):
        pipeline.map()
    with pytest.raises(ValueError, match="max_concurrency"):
        pipeline.map([1], max_concurrency=0)
    with pytest.raises(ValueError, match="executor"):
        pipeline.map([1], executor="processes")


def test_module_level_jitted_function_pickles_by_reference() -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    assert pickle.loads(pickle.dumps(pipeline)) is pipeline
    assert cloudpickle.loads(cloudpickle.dumps(pipeline)) is pipeline


def test_closure_pickles_by_value_with_cloudpickle() -> None:
    cloudpickle = pytest.importorskip("cloudpickle")
    offset = 100

    @wavejit.jit(strategy="io_aware")
    def shifted(x: int) -> int:
        return fetch(x) + offset

    copy = cloudpickle.loads(cloudpickle.dumps(shifted))
    assert isinstance(copy, wavejit.JitFunction) and copy is not shifted
    assert copy.strategy == "io_aware"
    assert copy.map([1, 2]) == shifted.map([1, 2]) == [101, 102]
    with pytest.raises((pickle.PicklingError, AttributeError)):
        pickle.dumps(shifted)  # plain pickle cannot send a local function by value


@pytest.mark.concurrency
def test_a_jitted_function_is_not_shipped_call_by_call() -> None:
    pytest.importorskip("distributed")
    from wavejit.executors import DaskExecutor

    class FakeClient:  # never reached: the refusal comes first
        pass

    executor = DaskExecutor(FakeClient())

    @wavejit.jit(executor=executor)
    def two(x: int) -> int:
        return fetch(x) + fetch(x)

    with pytest.raises(WavejitError, match=r"map\(items, executor=\.\.\.\)"):
        two(1)


def test_import_wavejit_loads_no_cluster_engine() -> None:
    check = ("import sys, wavejit; wavejit.executors.DaskExecutor; "
             "print(sorted(m for m in ('dask', 'distributed', 'ray', 'cloudpickle', 'tqdm') "
             "if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
