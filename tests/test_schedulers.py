"""Conformance suite: every scheduler on every kind of executor gives the sequential
scheduler's results and exceptions, runs each node in its own copy of the caller's
context, and leaves nothing running behind."""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from overlap import assert_spans_overlap
from wavejit import Graph, Node, ThreadExecutor

SCHEDULERS = ["sequential", "wave", "dataflow", "async"]
EXECUTORS = ["threads", "private1", "sequential", "stdlib"]


@pytest.fixture(params=SCHEDULERS)
def scheduler(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(params=EXECUTORS)
def executor(
    request: pytest.FixtureRequest,
    no_leaked_threads: None,
    private_pool: Callable[[int], ThreadExecutor],
) -> Iterator[object]:
    """The executor under test. Requests ``no_leaked_threads`` so that the leak check
    runs after the executor is shut down."""
    kind = request.param
    if kind == "threads":
        yield None
    elif kind == "private1":
        yield private_pool(1)
    elif kind == "sequential":
        yield "sequential"
    else:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            yield pool


def check(g: Graph, scheduler: str, executor: object) -> dict[str, Any]:
    """Run `g` both ways; the results must be the sequential scheduler's."""
    expected = g.run(scheduler="sequential").by_name()
    got = g.run(scheduler=scheduler, executor=executor)
    assert got.by_name() == expected
    return expected


class Tracker:
    """Records which nodes ran and how many are running right now."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ran: list[str] = []
        self.running = 0

    def call(self, name: str, value: Any = None, delay: float = 0.0,
             error: BaseException | None = None) -> Any:
        with self.lock:
            self.ran.append(name)
            self.running += 1
        try:
            if delay:
                time.sleep(delay)
            if error is not None:
                raise error
            return value
        finally:
            with self.lock:
                self.running -= 1


def add(*xs: int) -> int:
    return sum(xs)


def inc(x: int) -> int:
    return x + 1


async def adouble(x: int) -> int:
    await asyncio.sleep(0)
    return 2 * x


# -- shapes ----------------------------------------------------------------------------


def test_diamond(scheduler: str, executor: object) -> None:
    g = Graph()
    a = g.add(inc, 1)
    b = g.add(adouble, a)  # a coroutine function: runs under every scheduler
    c = g.add(lambda x: [x, x], a, name="pair")
    d = g.add(lambda x, ys, k: (x, ys, k), b, [c, {"a": a}], k=(a, b))
    out = check(g, scheduler, executor)
    assert out[d.name] == (4, [[2, 2], {"a": 2}], (2, 4))


def test_fan_out_of_100(scheduler: str, executor: object) -> None:
    g = Graph()
    root = g.add(inc, 0)
    leaves = [g.add(add, root, i) for i in range(100)]
    total = g.add(lambda *xs: sum(xs), *leaves, name="total")
    assert check(g, scheduler, executor)["total"] == sum(1 + i for i in range(100))
    assert g.waves() == [[root], leaves, [total]]


def test_chain_of_1000(scheduler: str, executor: object) -> None:
    g = Graph()
    x = g.add(int, 0)
    for _ in range(1000):
        x = g.add(inc, x)
    assert check(g, scheduler, executor)[x.name] == 1000


def test_wide_and_deep(scheduler: str, executor: object) -> None:
    g = Graph()
    rows: list[list[Node]] = [[g.add(int, i) for i in range(20)]]
    for depth in range(1, 20):
        prev = rows[-1]
        rows.append([g.add(add, prev[i], prev[i - 1], depth) for i in range(20)])
    g.add(lambda *xs: sorted(xs), *rows[-1], name="out")
    check(g, scheduler, executor)
    assert len(g.waves()) == 21


def test_unbalanced_branches(scheduler: str, executor: object) -> None:
    g = Graph()
    a = g.add(lambda: "a", name="a1")
    a2 = g.add(lambda x: x + "!", a, name="a2")
    b = g.add(lambda: "b", name="b1")
    for k in range(2, 6):
        b = g.add(lambda x, k=k: f"{x}{k}", b, name=f"b{k}")
    g.add(lambda x, y: x + y, a2, b, name="join")
    assert check(g, scheduler, executor)["join"] == "a!b2345"


def test_graph_run_inside_a_node(scheduler: str, executor: object) -> None:
    """On a one-thread pool the inner run waits on a worker that is busy running the
    outer node: only help-while-waiting lets it finish."""

    def inner(k: int) -> int:
        h = Graph()
        parts = [h.add(lambda i=i: i * k) for i in range(3)]
        total = h.add(add, *parts)
        return int(h.run(scheduler=scheduler, executor=executor)[total])

    g = Graph()
    outs = [g.add(inner, k) for k in range(3)]
    g.add(add, *outs, name="total")
    assert check(g, scheduler, executor)["total"] == 9


@pytest.mark.concurrency
@pytest.mark.parametrize("scheduler", ["wave", "dataflow", "async"])
def test_nested_three_deep_on_a_one_thread_pool(
    scheduler: str, no_leaked_threads: None, private_pool: Callable[[int], ThreadExecutor]
) -> None:
    """The leak check comes first so that it runs after the pool is shut down.

    No deadlock, and still concurrent: the one worker and the threads that wait (and
    help) run leaves at the same time."""
    pool = private_pool(1)
    spans: list[tuple[float, float]] = []

    def level(depth: int) -> int:
        if depth == 0:
            start = time.perf_counter()
            time.sleep(0.02)
            spans.append((start, time.perf_counter()))
            return 1
        h = Graph()
        kids = [h.add(level, depth - 1) for _ in range(2)]
        total = h.add(add, *kids)
        return int(h.run(scheduler=scheduler, executor=pool)[total])

    assert level(3) == 8
    assert_spans_overlap(spans)


# -- errors ----------------------------------------------------------------------------


def test_one_error_is_the_same_object(scheduler: str, executor: object) -> None:
    raised: list[BaseException] = []

    def boom() -> None:
        exc = KeyError("boom")
        raised.append(exc)
        raise exc

    g = Graph()
    g.add(inc, 1)
    g.add(boom, name="exploder")
    with pytest.raises(KeyError) as info:
        g.run(scheduler=scheduler, executor=executor)
    assert info.value is raised[-1]
    assert any(entry.name == "boom" for entry in info.traceback)  # original frames kept
    notes = getattr(info.value, "__notes__", ["'exploder'"])  # no notes before 3.11
    assert any("'exploder'" in note for note in notes)


def test_several_errors_raise_the_earliest(scheduler: str, executor: object) -> None:
    """The slow early failure wins over the fast late one, as in sequential order."""
    tracker = Tracker()
    g = Graph()
    g.add(tracker.call, "ok", 1)
    g.add(tracker.call, "early", delay=0.05, error=ValueError("early"))
    g.add(tracker.call, "late", error=ValueError("late"))
    with pytest.raises(ValueError, match="early"):
        g.run(scheduler=scheduler, executor=executor)
    assert tracker.running == 0


def test_error_in_a_dependency(scheduler: str, executor: object) -> None:
    tracker = Tracker()
    g = Graph()
    a = g.add(tracker.call, "a", error=RuntimeError("in a"))
    b = g.add(tracker.call, "b", a)
    g.add(tracker.call, "c", b)
    g.add(tracker.call, "d", [a])
    with pytest.raises(RuntimeError, match="in a"):
        g.run(scheduler=scheduler, executor=executor)
    assert tracker.ran == ["a"]  # dependents of a failed node never run


def test_nodes_after_a_failure_never_start(scheduler: str, executor: object) -> None:
    """Nodes not yet started when the failure is known never start, and nothing is
    left running when run() returns."""
    tracker = Tracker()
    g = Graph()
    g.add(tracker.call, "fail", error=OSError("fail"))
    gate = g.add(tracker.call, "gate", 1, delay=0.05)
    g.add(tracker.call, "slow", delay=0.05)
    for i in range(20):
        g.add(tracker.call, f"after{i}", gate)
    with pytest.raises(OSError, match="fail"):
        g.run(scheduler=scheduler, executor=executor)
    assert tracker.running == 0
    ran = list(tracker.ran)
    assert not [name for name in ran if name.startswith("after")]
    time.sleep(0.05)
    assert tracker.ran == ran  # and nothing starts later


def test_exceptions_are_never_results(scheduler: str, executor: object) -> None:
    value = ValueError("a value, not raised")
    g = Graph()
    err = g.add(lambda: value, name="err")
    assert check(g, scheduler, executor)["err"] is value
    g.add(lambda e: e.args[0], err, name="msg")
    assert check(g, scheduler, executor)["msg"] == "a value, not raised"


# -- context ---------------------------------------------------------------------------

var: contextvars.ContextVar[str] = contextvars.ContextVar("var", default="unset")


def test_contextvars(scheduler: str, executor: object) -> None:
    def look_then_set(name: str) -> str:
        seen = var.get()
        var.set(name)  # must not leak to siblings nor to the caller
        return seen

    token = var.set("caller")
    try:
        g = Graph()
        for i in range(20):
            g.add(look_then_set, f"n{i}")
        results = g.run(scheduler=scheduler, executor=executor)
        assert set(results.values()) == {"caller"}
        assert var.get() == "caller"
    finally:
        var.reset(token)


# -- timing and overlap: only where threads really run concurrently --------------------


def sleeper(i: int, spans: list[tuple[float, float]]) -> int:
    start = time.perf_counter()
    time.sleep(0.2)
    spans.append((start, time.perf_counter()))
    return i


@pytest.mark.concurrency
@pytest.mark.parametrize("scheduler", ["wave", "dataflow", "async"])
def test_fan_out_runs_concurrently(scheduler: str, no_leaked_threads: None) -> None:
    g = Graph()
    spans: list[tuple[float, float]] = []
    for i in range(10):
        g.add(sleeper, i, spans)
    start = time.perf_counter()
    assert g.run(scheduler=scheduler).by_name() == g.run(scheduler="sequential").by_name()
    # Ten 0.2 s sleeps take 2 s in sequence and 0.2 s concurrently; with the 2 s
    # sequential reference run, 3.0 s leaves room for a loaded CI machine and still
    # fails a serialised run (4 s).
    assert time.perf_counter() - start < 3.0
    assert_spans_overlap(spans[:10], together=10)  # the first run's: all at once


@pytest.mark.concurrency
@pytest.mark.parametrize("scheduler", ["dataflow", "async"])
def test_dataflow_does_not_wait_for_the_wave(scheduler: str, no_leaked_threads: None) -> None:
    """b2 needs only b1 (0.05 s), so it starts long before a1 (0.3 s) ends. Checked on
    the recorded start/end times, not the wall clock, so load cannot make it flaky."""
    times: dict[str, float] = {}

    def step(name: str, seconds: float, *_: object) -> str:
        times[name + ".start"] = time.perf_counter()
        time.sleep(seconds)
        times[name + ".end"] = time.perf_counter()
        return name

    g = Graph()
    a1 = g.add(step, "a1", 0.3)
    b1 = g.add(step, "b1", 0.05)
    b2 = g.add(step, "b2", 0.05, b1)
    g.add(step, "join", 0, a1, b2)
    g.run(scheduler=scheduler)
    assert times["b2.start"] < times["a1.end"]
    assert_spans_overlap([(times["a1.start"], times["a1.end"]),
                          (times["b1.start"], times["b2.end"])])
    g.run(scheduler="wave")
    assert times["b2.start"] >= times["a1.end"]  # the wave barrier, for contrast


@pytest.mark.concurrency
def test_max_workers_bounds_concurrency(no_leaked_threads: None) -> None:
    tracker = Tracker()
    peak = [0]

    def work(i: int) -> int:
        with tracker.lock:
            tracker.running += 1
            peak[0] = max(peak[0], tracker.running)
        time.sleep(0.01)
        with tracker.lock:
            tracker.running -= 1
        return i

    g = Graph()
    for i in range(12):
        g.add(work, i)
    g.run(max_workers=2)
    assert peak[0] <= 3  # two pool workers, plus the caller helping while it waits
    assert peak[0] >= 2  # ...and bounded is not sequential


# -- async specifics -------------------------------------------------------------------


def test_run_async_on_the_callers_loop(no_leaked_threads: None) -> None:
    g = Graph()
    a = g.add(adouble, 3)
    b = g.add(inc, a)

    async def main() -> tuple[int, int]:
        results = await g.run_async()
        # Sync run() from inside a running loop: a private loop on a helper thread.
        blocking = g.run(scheduler="async")
        return results[b], blocking[b]

    assert asyncio.run(main()) == (7, 7)


def test_bad_scheduler_name_teaches() -> None:
    g = Graph()
    g.add(inc, 1)
    with pytest.raises(ValueError, match="'dataflow'"):
        g.run(scheduler="parallel")
    with pytest.raises(TypeError, match="submit"):
        g.run(executor=object())
