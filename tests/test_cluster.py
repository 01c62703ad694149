"""One conformance suite for ``jitted.map`` and ``Graph.run``, run on the local thread
pool, a Dask ``LocalCluster(n_workers=2, processes=True)`` and ``ray.init(num_cpus=2)``
(both on loopback), each checked against the plain loop.

Each cluster starts once per module and is shut down at its end, and the teardown
checks that no child process or thread of it is left. The functions shipped to the
workers are module-level (pickled by reference: the workers import this module, found
through ``sys.path`` for Dask's spawned workers and ``PYTHONPATH`` for Ray's) or local
(pickled by value).
"""

from __future__ import annotations

import functools
import itertools
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

import wavejit
from wavejit import WavejitError
from wavejit.executors import DaskExecutor, RayExecutor

if TYPE_CHECKING:
    from openai import OpenAI

pytest.importorskip("cloudpickle")

DELAY = 0.02
BACKENDS = ["threads", "dask", "ray"]
HERE = Path(__file__).resolve().parent
T = TypeVar("T")
ClusterOrNone = DaskExecutor | RayExecutor | None  # None: the local threads
# Ray's start and stop warn from its own threads (deprecations, resource cleanup).
pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning",
                                        "ignore::ResourceWarning",
                                        "ignore::pytest.PytestUnraisableExceptionWarning")


# -- what the workers run ------------------------------------------------------------------


def fetch(x: T, delay: float = DELAY) -> T:
    time.sleep(delay)
    return x


@wavejit.jit
def pipeline(x: int) -> int:
    a = fetch(x)
    b = fetch(x + 1)
    c = fetch(x + 2)
    return fetch(a + b) * fetch(c)


def plain(fn: wavejit.JitFunction[[int], T], items: Iterable[int]) -> list[T]:
    return [fn.__wrapped__(x) for x in items]


@wavejit.jit
def failing(x: int) -> int:
    """Items 2 and 5 fail; 5 fails first in time, 2 first in input order."""
    a = fetch(x, 0.3 if x == 2 else DELAY)
    if x in (2, 5):
        raise KeyError(f"item {x}", x)
    return a + fetch(x)


def _log(path: str, line: str) -> None:
    with open(path, "a") as out:  # one short O_APPEND write: atomic across processes
        out.write(line + "\n")


@wavejit.jit
def logged(path: str, x: int) -> int:
    _log(path, f"start {x}")
    try:
        value = fetch(x, 0.0 if x == 0 else 0.1)
        if x == 0:
            raise ValueError("first item fails", x)
        return value
    finally:
        _log(path, f"end {x}")


class Unpicklable(Exception):
    def __init__(self, a: int, b: int) -> None:  # unpickling calls Unpicklable(msg)
        super().__init__(f"{a}-{b}")


@wavejit.jit
def raises_unpicklable(x: int) -> int:
    raise Unpicklable(x, fetch(x))


@wavejit.jit
def returns_lock(x: int) -> threading.Lock:
    fetch(x)
    return threading.Lock()


@wavejit.jit
def dies(x: int) -> int:
    if x == 1 and os.environ.get("WAVEJIT_TEST_MAIN_PID") != str(os.getpid()):
        os._exit(3)  # only on a worker: the threads backend is not tested with it
    return fetch(x, 0.2)


def add(a: int, b: int) -> int:
    return fetch(a) + b


def boom(x: object) -> int:
    raise KeyError("boom", x)


@functools.cache
def llm(base_url: str) -> OpenAI:
    """One OpenAI client per worker process, created there on first use."""
    from openai import OpenAI

    return OpenAI(base_url=f"{base_url}/v1", api_key="test", max_retries=0)


def ask(base_url: str, prompt: str) -> str:
    reply = llm(base_url).chat.completions.create(
        model="m", messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content or ""


@wavejit.jit
def judge(base_url: str, question: str) -> str:
    answers = [ask(base_url, f"{model}: {question}") for model in ("a", "b", "c")]
    return ask(base_url, " | ".join(answers))


# -- backends ----------------------------------------------------------------------------


def _children() -> dict[int, str]:
    """This process's child processes: pid -> command line.

    Not multiprocessing's resource tracker: one per parent process, by design, started
    by the first spawned child (a Dask worker here) and kept for the parent's life.
    """
    me, found = str(os.getpid()), {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    fields = stat.read().rsplit(")", 1)[1].split()
                with open(f"/proc/{entry}/cmdline") as cmdline:
                    command = cmdline.read().replace("\0", " ").strip()
            except OSError:
                continue
            if fields[1] == me and "multiprocessing.resource_tracker" not in command:
                found[int(entry)] = f"[{fields[0]}] {command}"  # state, command
    return found


# distributed's process-wide pools (Future callbacks, offloaded (de)serialization): one
# per process by design, like wavejit's shared pool, and kept for its life.
_PROCESS_WIDE_THREADS = ("Dask-Callback-Thread", "Dask-Offload")


def _assert_cleaned_up(children: dict[int, str], threads: set[threading.Thread]) -> None:
    # Processes and threads told to stop may take a moment to exit; 15 s is far beyond
    # that and far below a hang.
    deadline = time.monotonic() + 15
    while True:
        left = {pid: cmd for pid, cmd in _children().items() if pid not in children}
        stray = [t for t in threading.enumerate() if t not in threads and t.is_alive()
                 and t not in wavejit.shared_executor().threads
                 and not t.name.startswith(_PROCESS_WIDE_THREADS)]
        if (not left and not stray) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert not left, f"child processes left running: {left}"
    assert not stray, f"threads left running: {[t.name for t in stray]}"


def _dask() -> Iterator[DaskExecutor]:
    distributed = pytest.importorskip("distributed")
    import dask

    # A worker that dies fails its task at once instead of retrying it elsewhere.
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        # The scheduler's HTTP server starts even without a dashboard, on port 8787
        # unless told otherwise: a free loopback port, so that two suites (or any
        # other Dask cluster) can run at once.
        cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=1,
                                           processes=True, host="127.0.0.1",
                                           dashboard_address="127.0.0.1:0",
                                           scheduler_kwargs={"dashboard": False})
        client = distributed.Client(cluster)
    try:
        yield DaskExecutor(client)
    finally:
        client.close()
        cluster.close()


def _ray() -> Iterator[RayExecutor]:
    ray = pytest.importorskip("ray")

    path = os.pathsep.join([str(HERE), *filter(None, [os.environ.get("PYTHONPATH")])])
    # Ray turns 127.0.0.1 into the machine's network address; another loopback address
    # keeps every connection between its processes on loopback.
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.2", runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        with RayExecutor() as executor:
            yield executor
    finally:
        ray.shutdown()


@pytest.fixture(scope="module", params=BACKENDS)
def executor(request: pytest.FixtureRequest) -> Iterator[ClusterOrNone]:
    """None (the local threads), or a cluster executor: each cluster starts once, and
    pytest runs all of one backend's tests before starting the next."""
    if request.param == "threads":
        yield None
        return
    children, threads = _children(), set(threading.enumerate())
    yield from (_dask() if request.param == "dask" else _ray())
    _assert_cleaned_up(children, threads)


@pytest.fixture
def ready(executor: ClusterOrNone) -> ClusterOrNone:
    """`executor`, with a Dask cluster back to two workers (after a death test)."""
    if isinstance(executor, DaskExecutor):
        executor.client.wait_for_workers(2, timeout=30)
    return executor


@pytest.fixture(autouse=True)
def _mark_main_process(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVEJIT_TEST_MAIN_PID", str(os.getpid()))


# -- the conformance suite ----------------------------------------------------------------


def test_results_match_the_plain_loop(ready: ClusterOrNone) -> None:
    items = list(range(12))
    assert pipeline.map(items, executor=ready, max_concurrency=6) == plain(pipeline, items)


def test_earliest_failure_in_input_order(ready: ClusterOrNone) -> None:
    with pytest.raises(KeyError) as caught:
        failing.map(range(8), executor=ready)
    with pytest.raises(KeyError) as reference:
        plain(failing, range(8))
    assert type(caught.value) is type(reference.value)
    assert caught.value.args == reference.value.args == ("item 2", 2)
    if sys.version_info >= (3, 11):
        notes = "\n".join(caught.value.__notes__)
        assert "item 2" in notes
        if ready is not None:  # the worker's traceback travels as text
            assert 'raise KeyError(f"item {x}", x)' in notes


def test_return_exceptions_in_place(ready: ClusterOrNone) -> None:
    results = failing.map(range(7), executor=ready, return_exceptions=True)
    for i, result in enumerate(results):
        if i in (2, 5):
            assert isinstance(result, KeyError) and result.args == (f"item {i}", i)
        else:
            assert result == 2 * i


def test_after_a_failure_nothing_more_starts_and_nothing_runs_on(
        ready: ClusterOrNone, tmp_path: Path) -> None:
    log = str(tmp_path / "log")
    pulled: list[int] = []

    def items() -> Iterator[int]:
        for i in itertools.count():  # endless: the map must stop pulling
            pulled.append(i)
            yield i

    with pytest.raises(ValueError, match="first item fails"):
        logged.map(itertools.repeat(log), items(), executor=ready, max_concurrency=3)
    lines = Path(log).read_text().split()
    started = {int(n) for k, n in zip(lines[::2], lines[1::2], strict=True) if k == "start"}
    ended = {int(n) for k, n in zip(lines[::2], lines[1::2], strict=True) if k == "end"}
    # Item 0 fails at once; items 1 and 2 were already running. At most a slot or two
    # freed before the failure was seen, so very few items were pulled at all.
    assert 0 in started and len(pulled) <= 5, pulled
    assert started == ended  # every started item had finished when map() raised
    time.sleep(0.3)
    assert Path(log).read_text().split() == lines  # and none started afterwards


def test_graph_run_matches_the_sequential_scheduler(ready: ClusterOrNone) -> None:
    g = wavejit.Graph()
    a = g.add(add, 1, 2)
    b = g.add(add, 10, 20)
    c = g.add(add, a, b)
    d = g.add(sum, [a, b, c])
    g.add(add, d, {"k": c}["k"], name="last")
    order = g.add(fetch, "after", name="ordered")
    g.add_dependency(order, c)
    expected = g.run(scheduler="sequential").by_name()
    assert g.run(executor=ready).by_name() == expected

    bad = wavejit.Graph()
    x = bad.add(add, 1, 2)
    y = bad.add(boom, x)
    bad.add(add, y, 1)
    bad.add(boom, 99)  # fails too, later in run order
    with pytest.raises(KeyError) as caught:
        bad.run(executor=ready)
    assert caught.value.args == ("boom", 3)


def test_a_real_openai_client_per_worker(ready: ClusterOrNone) -> None:
    pytest.importorskip("openai")
    from wavejit.bench.latency import LatencyModel
    from wavejit.bench.server import BenchServer

    with BenchServer(LatencyModel().scaled(0.05)) as server:
        items = [f"question {i}" for i in range(6)]
        urls = [server.base_url] * len(items)
        try:
            expected = [judge.__wrapped__(u, q) for u, q in zip(urls, items, strict=True)]
            assert judge.map(urls, items, executor=ready) == expected
        finally:
            llm(server.base_url).close()  # this process's own client
            llm.cache_clear()


# -- cluster only ---------------------------------------------------------------------------

CLUSTERS = ["dask", "ray"]


only_clusters = pytest.mark.parametrize("executor", CLUSTERS, indirect=True)


@only_clusters
def test_a_closure_is_shipped_by_value(ready: ClusterOrNone) -> None:
    offset = 1000

    @wavejit.jit
    def shifted(x: int) -> int:
        return fetch(x) + offset

    assert shifted.map(range(4), executor=ready) == [1000, 1001, 1002, 1003]


@only_clusters
def test_a_closure_over_a_lock_cannot_ship(ready: ClusterOrNone) -> None:
    lock = threading.Lock()

    @wavejit.jit
    def guarded(x: int) -> int:
        with lock:
            return fetch(x)

    with pytest.raises(WavejitError) as caught:
        guarded.map(range(3), executor=ready)
    message = str(caught.value)
    assert "closure variable 'lock'" in message and "functools.cache" in message


@only_clusters
def test_a_global_client_in_main_cannot_ship(ready: ClusterOrNone) -> None:
    pytest.importorskip("openai")
    # A script's functions live in __main__, so they are sent by value with the
    # globals they use: here an OpenAI client, which holds an RLock.
    namespace: dict[str, Any] = {"__name__": "__main__"}
    exec(
        "from openai import OpenAI\n"
        "client = OpenAI(base_url='http://127.0.0.1:9/v1', api_key='test')\n"
        "def ask(q):\n"
        "    return client.chat.completions.create(model='m', messages=[])\n",
        namespace,
    )
    script_ask = wavejit.jit(namespace["ask"])
    with pytest.raises(WavejitError) as caught:
        script_ask.map(["q"], executor=ready)
    message = str(caught.value)
    assert "global 'client' (openai.OpenAI)" in message
    assert "importable module" in message


@only_clusters
def test_an_unpicklable_exception_or_value_comes_back_as_text(ready: ClusterOrNone) -> None:
    with pytest.raises(WavejitError, match="Unpicklable: 1-1") as caught:
        raises_unpicklable.map([1], executor=ready)
    assert "raise Unpicklable(x, fetch(x))" in str(caught.value)
    with pytest.raises(WavejitError, match="cannot be pickled to send it back"):
        returns_lock.map([1], executor=ready)


@only_clusters
def test_a_dead_worker_is_a_clear_error_not_a_hang(ready: ClusterOrNone) -> None:
    started = time.monotonic()
    with pytest.raises(WavejitError, match="did not finish on"):
        dies.map(range(4), executor=ready)
    assert time.monotonic() - started < 30
    # The executor still works once the engine has replaced the worker.
    if isinstance(ready, DaskExecutor):
        ready.client.wait_for_workers(2, timeout=30)
    assert pipeline.map([1, 2], executor=ready) == plain(pipeline, [1, 2])


@only_clusters
def test_submit_runs_one_whole_call(ready: ClusterOrNone) -> None:
    assert ready is not None  # only_clusters
    assert ready.submit(add, 1, b=2).result(timeout=30) == 3
    with pytest.raises(KeyError) as caught:
        ready.submit(boom, 7).result(timeout=30)
    assert caught.value.args == ("boom", 7)


@only_clusters
def test_an_argument_that_cannot_ship_fails_its_item(ready: ClusterOrNone) -> None:
    results = pipeline.map([1, threading.Lock(), 2], executor=ready, return_exceptions=True)
    assert results[0] == plain(pipeline, [1])[0] and results[2] == plain(pipeline, [2])[0]
    assert isinstance(results[1], WavejitError)
    assert "argument 0 (_thread.lock) cannot be pickled" in str(results[1])


# -- provider limits across the cluster ------------------------------------------------------


@wavejit.jit(strategy="io_aware")  # the client's calls are known I/O: deferred at once
def ask_four(base_url: str, question: str) -> list[str]:
    client = llm(base_url)  # the calls' receiver names their host: the limit's key
    replies = [client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": f"{question} {i}"}])
        for i in range(4)]
    return [reply.choices[0].message.content or "" for reply in replies]


def test_provider_limits_hold_across_the_cluster(ready: Any) -> None:
    """A limit set here holds for the calls of every worker process at once: without
    the cluster-wide slots each of the two workers would allow 2 (4 in flight)."""
    from wavejit import _limits
    from wavejit.bench.ratelimited import RateLimitedServer
    from wavejit.executors import RayExecutor

    with RateLimitedServer(cap=1000, latency=0.03) as server:
        items = [f"q{i}" for i in range(8)]
        root = server.base_url.removesuffix("/v1")  # llm() adds it
        urls = [root] * len(items)
        try:
            expected = [ask_four.__wrapped__(u, q) for u, q in zip(urls, items, strict=True)]
            server.reset_counts()
            wavejit.limit(f"127.0.0.1:{server.port}", max_concurrency=2)
            assert ask_four.map(urls, items, executor=ready) == expected
            graph = wavejit.Graph()  # graph nodes bring the limits too
            for q in items[:4]:
                graph.add(ask_four, root, q, name=q)
            assert graph.run(executor=ready).by_name() == dict(
                zip(items[:4], expected[:4], strict=True))
            if ready is not None:  # what travels: the cap, and a rate split in two
                wavejit.limit("rate.example.test", rate=10)
                spec = ready.limits()
                assert spec is not None and spec[2] == (
                    (f"127.0.0.1:{server.port}", 2, None), ("rate.example.test", None, 5.0))
        finally:
            _limits.reset()  # the workers drop the limit with the next item they run
            llm(root).close()  # this process's own client
            llm.cache_clear()
        counts = server.counts()
    assert counts["served"] == 4 * (len(items) + 4) and counts["refused"] == 0
    assert counts["peak"] == 2, counts  # the cap, reached (the calls did overlap)
    if isinstance(ready, RayExecutor):
        assert ready.limits_state()["peak"] == {f"127.0.0.1:{server.port}": 2}
