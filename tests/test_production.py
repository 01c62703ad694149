"""A program that works plain works jitted: provider rate limits, thread-bound objects,
context variables, interrupts, timeouts, external effects, stale source, retries,
progress, logging and tracing. Real parts on loopback (the `openai` client against
`RateLimitedServer`), compared with plain Python every time."""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import io as _io
import itertools
import logging
import os
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import openai
import pytest

import wavejit
from wavejit import _limits, _providers
from wavejit.bench.ratelimited import RateLimitedServer


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    _limits.reset()
    yield
    _limits.reset()


def _asker(client: openai.OpenAI) -> Callable[[str], str]:
    def ask(q: str) -> str:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": q}])
        content = reply.choices[0].message.content
        # Not `assert`: pytest rewrites asserts in this module, and with one here the
        # limiter tests exceeded the provider's cap (reported; not so outside pytest).
        if content is None:
            raise ValueError("the server answered without text")
        return content

    return ask


# -- provider rate limits ----------------------------------------------------------------


# The plain peer of the test below, in a process of its own (its own GIL and server):
# on each line "go" it makes the first half of the requests one after another, as the
# plain function does, and prints how long they took.
_PLAIN_PEER = """
import sys, time, openai
from wavejit.bench.ratelimited import RateLimitedServer
with RateLimitedServer(cap=8, latency=0.03, retry_after=0.05) as server:
    client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    def ask(q):
        return client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": q}]).choices[0].message.content
    ask("warm-up")
    print("ready", flush=True)
    for line in sys.stdin:
        t0 = time.perf_counter()
        for i in range(int(line.split()[1])):
            ask(f"q{i}")
        print(time.perf_counter() - t0, flush=True)
"""


@pytest.mark.parametrize("max_retries", [0, 2], ids=["max_retries=0", "sdk-default"])
def test_rate_limited_provider_same_answers_and_faster(max_retries: int,
                                                       closing: Callable[[Any], Any]) -> None:
    with RateLimitedServer(cap=8, latency=0.03, retry_after=0.05) as server, \
            subprocess.Popen([sys.executable, "-c", _PLAIN_PEER], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True) as peer:
        assert peer.stdin is not None and peer.stdout is not None
        client = closing(openai.OpenAI(base_url=server.base_url, api_key="x",
                                       max_retries=max_retries))
        ask = _asker(client)

        def fan_out(qs: list[str]) -> list[str]:
            return [ask(q) for q in qs]

        jitted = wavejit.jit(fan_out)
        qs = [f"q{i}" for i in range(60)]
        expected = fan_out(qs)
        assert server.counts()["refused"] == 0  # plain Python never exceeds the cap
        assert peer.stdout.readline() == "ready\n"
        for _ in range(2):
            # Ideal is 60/8 rounds of 30 ms vs 60 sequential requests: about 8x. The
            # claim, 2x faster than plain, leaves room for the refusals and Retry-After
            # waits. Plain runs side by side, started at the same moment, so that both
            # see the same load (measured one after the other, a burst of load from
            # other processes during the jitted run alone failed it, 1.1 s vs 2.0 s):
            # the jitted 60 must be done before plain's first 30.
            peer.stdin.write(f"go {len(qs) // 2}\n")
            peer.stdin.flush()
            t0 = time.perf_counter()
            assert jitted(qs) == expected
            wall = time.perf_counter() - t0
            plain_half = float(peer.stdout.readline())
            assert wall <= plain_half, (wall, plain_half, server.counts())
        peer.stdin.close()
        assert peer.wait(timeout=30) == 0
        assert server.counts()["peak"] <= 8


# "trace" measures each callee inline on its first calls: those take slots too.
@pytest.mark.parametrize("strategy", ["auto", "trace"])
def test_user_max_concurrency_holds_across_concurrent_invocations(strategy: str,
                                                                  closing: Callable[[Any], Any]) -> None:
    with RateLimitedServer(cap=1000, latency=0.02) as server:
        client = closing(openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0))
        ask = _asker(client)
        wavejit.limit(client, max_concurrency=5)

        @wavejit.jit(strategy=strategy)
        def fan_out(qs: list[str]) -> list[str]:
            answers = [ask(q) for q in qs]
            with contextlib.nullcontext():  # a call in a with-block, and one inline
                first = ask(qs[0])
            return [*answers, first, ask(" ".join(answers[:1]))]

        results: dict[int, list[str]] = {}

        def invoke(k: int) -> None:
            results[k] = fan_out([f"{k}-{i}" for i in range(12)])

        threads = [threading.Thread(target=invoke, args=(k,)) for k in range(8)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        for k in range(8):
            assert results[k] == fan_out.__wrapped__([f"{k}-{i}" for i in range(12)])
        counts = server.counts()
        assert counts["served"] == 8 * 14 * 2 and counts["refused"] == 0
        assert counts["peak"] <= 5
        assert counts["peak"] >= 2  # the calls did overlap (else the test shows nothing)
        state = _limits.snapshot()[f"127.0.0.1:{server.port}"]
        assert state["peak"] <= 5 and state["throttled"] > 0
        assert f"127.0.0.1:{server.port}: limit 5" in str(fan_out.explain())


def test_refusal_plain_would_see_is_raised_not_retried_forever(closing: Callable[[Any], Any]) -> None:
    # Every request is refused: plain raises RateLimitError, so must the jit (a lone
    # call refused is not re-issued: plain Python would have been refused too).
    with RateLimitedServer(cap=0, latency=0.01, retry_after=0.01) as server:
        client = closing(openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0))
        ask = _asker(client)

        def one(q: str) -> str:
            a = ask(q)
            return a

        with pytest.raises(openai.RateLimitError):
            one("x")
        plain_refused = server.counts()["refused"]
        with pytest.raises(openai.RateLimitError):
            wavejit.jit(one)("x")
        assert server.counts()["refused"] <= plain_refused + 2


def test_limiter_aimd_and_retry_after_parsing() -> None:
    lim = _limits.limiter("example.test")
    held = [lim.acquire() for _ in range(8)]
    assert lim.in_flight == 8 and lim.limit == float("inf")
    lim.release(held[0][0], refused=True)  # first refusal: half of those in flight
    assert lim.limit == 4
    lim.release(held[1][0], refused=True)  # same overload (same epoch): no second cut
    assert lim.limit == 4
    for epoch, _ in held[2:]:
        lim.release(epoch, refused=False)
    assert 4 < lim.limit < 6  # additive increase: about 1/limit per success
    assert _providers._retry_after({"retry-after": "1.5"}) == 1.5
    assert _providers._retry_after({"retry-after-ms": "250"}) == 0.25
    assert _limits.parse_rate("120/min") == 2.0


def test_rate_spaces_calls(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(_limits, "clock", clock)
    bucket = _limits.TokenBucket(rate=10.0)
    for _ in range(4):
        bucket.take()
    # The first token is there; each next one is 0.1 s later.
    assert clock.sleeps == pytest.approx([0.1, 0.1, 0.1])


class FakeClock:
    """Sleeps advance time at once; jitter is its upper bound (deterministic)."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []
        self.lock = threading.Lock()

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        with self.lock:
            self.sleeps.append(seconds)
            self.now += seconds

    def uniform(self, low: float, high: float) -> float:
        return high


# -- opt-in retries and timeouts -----------------------------------------------------------


def test_retries_count_and_spacing(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(_limits, "clock", clock)
    attempts = itertools.count(1)  # (a list.append would be a write: not retried)

    @wavejit.io(retries=3, retry_on=(ConnectionError,), backoff=0.1)
    def flaky(x: int) -> int:
        if next(attempts) < 3:
            raise ConnectionError("reset")
        return x * 2

    @wavejit.jit
    def f(x: int) -> int:
        y = flaky(x)
        return y

    assert f(21) == 42
    assert next(attempts) == 4  # three attempts
    # backoff * 2**attempt plus jitter of the same size (the fake clock's upper bound)
    assert clock.sleeps == pytest.approx([0.2, 0.4])


def test_retries_stop_at_the_count_and_skip_other_errors(
        monkeypatch: pytest.MonkeyPatch) -> None:
    clock = FakeClock()
    monkeypatch.setattr(_limits, "clock", clock)
    calls = itertools.count(1)

    @wavejit.io(retries=2, retry_on=(ConnectionError,), backoff=0.1)
    def broken(kind: str) -> str:
        next(calls)
        if kind == "conn":
            raise ConnectionError("conn")
        raise ValueError("value")

    @wavejit.jit
    def g(kind: str) -> str:
        r = broken(kind)
        return r

    with pytest.raises(ConnectionError):
        g("conn")
    assert next(calls) == 4  # 1 + 2 retries
    with pytest.raises(ValueError):
        g("value")
    assert next(calls) == 6  # not in retry_on: once
    assert len(clock.sleeps) == 2


def test_no_retries_for_callees_with_effects(monkeypatch: pytest.MonkeyPatch,
                                             tmp_path: Path) -> None:
    monkeypatch.setattr(_limits, "clock", FakeClock())
    calls: list[str] = []

    @wavejit.io(retries=3)
    def write_then_fail(path: str) -> str:
        calls.append(path)
        with open(path, "a") as fh:
            fh.write("x")
        raise ConnectionError("after the write")

    @wavejit.jit
    def h(path: str) -> str:
        r = write_then_fail(path)
        return r

    with pytest.raises(ConnectionError):
        h(str(tmp_path / "out"))
    assert len(calls) == 1 and (tmp_path / "out").read_text() == "x"


def test_tenacity_policy_is_accepted() -> None:
    tenacity = pytest.importorskip("tenacity")
    attempts: list[int] = []

    @wavejit.io(retries=tenacity.Retrying(stop=tenacity.stop_after_attempt(3),
                                          wait=tenacity.wait_none(), reraise=True))
    def flaky() -> str:
        attempts.append(1)
        if len(attempts) < 2:
            raise ConnectionError
        return "ok"

    @wavejit.jit
    def f() -> str:
        r = flaky()
        return r

    assert f() == "ok" and len(attempts) == 2


def test_io_timeout_raises_at_use() -> None:
    release = threading.Event()

    @wavejit.io(timeout=0.1)
    def stuck() -> str:
        release.wait(5)
        return "late"

    @wavejit.jit
    def f() -> str:
        r = stuck()
        return r

    t0 = time.perf_counter()
    try:
        with pytest.raises(TimeoutError):
            f()
        assert time.perf_counter() - t0 < 1.0  # 0.1 s timeout; wide margin for the VM
    finally:
        release.set()  # the abandoned call finishes: no thread left behind
    assert wavejit.io(stuck) is stuck  # plain @wavejit.io still works on a function


# -- interrupts ----------------------------------------------------------------------------


def test_ctrl_c_reaches_the_caller_at_once_and_nothing_starts_after() -> None:
    starts: list[float] = []
    lock = threading.Lock()

    def slow(i: int) -> int:
        with lock:
            starts.append(time.perf_counter())
        time.sleep(0.5)
        return i

    @wavejit.jit(max_workers=3)
    def fan_out(n: int) -> list[int]:
        return [slow(i) for i in range(n)]

    fan_out(2)  # warm: compiled and `slow` known as I/O
    starts.clear()
    main = threading.main_thread().ident
    assert main is not None
    sent: list[float] = []

    def interrupt() -> None:
        sent.append(time.perf_counter())
        signal.pthread_kill(main, signal.SIGINT)

    # A process started in the background by a shell without job control (`cmd &` in
    # a script, make's recipes) inherits SIGINT ignored, and Python then installs no
    # handler: Ctrl-C's KeyboardInterrupt, what this test is about, is restored here.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(0.2, interrupt)
    try:
        timer.start()
        with pytest.raises(KeyboardInterrupt):
            fan_out(30)
        caught = time.perf_counter()
        timer.join()
    finally:
        signal.signal(signal.SIGINT, previous)
    assert caught - sent[0] < 0.2, caught - sent[0]
    time.sleep(0.7)  # in-flight calls (0.5 s) finish in the background
    assert starts and all(s < sent[0] for s in starts), (len(starts), starts[-1] - sent[0])
    assert len(starts) <= 4  # max_workers=3 (+ the caller helping): 26+ never started


# -- thread-bound objects, thread-locals, context variables --------------------------------


def test_sqlite_connection_argument_runs_on_the_callers_thread() -> None:
    conn = sqlite3.connect(":memory:")
    conn.execute("create table t (k integer, v text)")
    conn.executemany("insert into t values (?, ?)", [(i, f"v{i}") for i in range(5)])

    def lookup(db: sqlite3.Connection, k: int) -> str:
        time.sleep(0.005)  # known I/O: deferred unless pinned
        v: str = db.execute("select v from t where k = ?", (k,)).fetchone()[0]
        return v

    def read_all(db: sqlite3.Connection, keys: Iterable[int]) -> list[str]:
        return [lookup(db, k) for k in keys]

    expected = read_all(conn, range(5))
    assert wavejit.jit(read_all)(conn, range(5)) == expected
    conn.close()


_conn: sqlite3.Connection | None = None


def _global_lookup(k: int) -> int:
    time.sleep(0.005)
    assert _conn is not None
    v: int = _conn.execute("select ?", (k,)).fetchone()[0]
    return v


def test_sqlite_connection_global_runs_on_the_callers_thread() -> None:
    global _conn
    _conn = sqlite3.connect(":memory:")
    try:
        def read_all(keys: list[int]) -> list[int]:
            return [_global_lookup(k) for k in keys]

        assert wavejit.jit(read_all)([1, 2, 3]) == read_all([1, 2, 3]) == [1, 2, 3]
    finally:
        _conn.close()
        _conn = None


_local = threading.local()


def _greet(x: str) -> str:
    time.sleep(0.005)
    return f"{_local.user}:{x}"


def test_thread_local_read_by_a_callee_sees_the_callers_value() -> None:
    # Decision (docs/DESIGN.md): callees that use a module-level threading.local run
    # on the caller's thread, where its attributes are the caller's.
    _local.user = "ann"

    def greet_all(xs: str) -> list[str]:
        return [_greet(x) for x in xs]

    assert wavejit.jit(greet_all)("abc") == greet_all("abc") == ["ann:a", "ann:b", "ann:c"]


_user: contextvars.ContextVar[str] = contextvars.ContextVar("_user", default="nobody")


def _login(name: str) -> str:
    time.sleep(0.005)
    _user.set(name)
    return name


def _whoami(tag: str) -> str:
    time.sleep(0.005)
    return f"{tag}:{_user.get()}"


def test_context_var_set_in_a_callee_reaches_later_code() -> None:
    def session(name: str) -> list[str]:
        _login(name)
        a = _whoami("a")
        b = _whoami("b")
        return [a, b, _user.get()]

    expected = contextvars.copy_context().run(session, "ann")
    got = contextvars.copy_context().run(wavejit.jit(session), "ann")
    assert got == expected == ["a:ann", "b:ann", "ann"]


# -- external effects after a failure ------------------------------------------------------


def test_file_writing_callees_do_not_run_after_an_earlier_failure(tmp_path: Path) -> None:
    def post(i: int) -> int:
        time.sleep(0.02)
        if i == 0:
            raise ConnectionError("call 0 fails")
        with open(tmp_path / f"{i}.txt", "w") as fh:
            fh.write(str(i))
        return i

    def post_all(n: int) -> list[int]:
        return [post(i) for i in range(n)]

    with pytest.raises(ConnectionError):
        post_all(20)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(ConnectionError):
        wavejit.jit(post_all)(20)
    time.sleep(0.1)  # anything that did start would have written by now
    assert list(tmp_path.iterdir()) == []


def test_effects_scan() -> None:
    from wavejit._effects import external_effects

    def reads(p: str) -> str:
        return open(p).read()

    def writes(p: str) -> None:
        Path(p).write_text("x")

    def appends(p: str) -> None:
        with Path(p).open("a") as fh:
            fh.write("x")

    def path_reads(p: str) -> str:
        with Path(p).open() as fh:
            return fh.read()

    def removes(p: str) -> None:
        os.remove(p)

    def runs(cmd: list[str]) -> subprocess.CompletedProcess[bytes]:
        return subprocess.run(cmd, check=True)

    def inserts(db: sqlite3.Connection) -> None:
        db.execute("INSERT INTO t VALUES (1)")

    def selects(db: sqlite3.Connection) -> tuple[int]:
        row: tuple[int] = db.execute("select 1").fetchone()
        return row

    assert external_effects(reads) is None and external_effects(selects) is None
    # (`or ""`: None, no effect found, fails these as it should)
    assert "write_text" in (external_effects(writes) or "")
    assert "open(..., 'a')" in (external_effects(appends) or "")
    assert external_effects(path_reads) is None
    assert "INSERT" in (external_effects(inserts) or "")
    assert "os.remove" in (external_effects(removes) or "")
    assert "subprocess.run" in (external_effects(runs) or "")


# -- stale source --------------------------------------------------------------------------


def test_stale_source_runs_the_imported_code(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    module = tmp_path / "wj_stale_mod.py"
    module.write_text(
        "import time\n\n"
        "def fetch(x):\n    time.sleep(0.001)\n    return x\n\n"
        "def pipeline(xs):\n    return [fetch(x) * 2 for x in xs]\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("wj_stale_mod")
    try:
        # Edited after the import, same line count (a deploy, a hot reload).
        module.write_text(module.read_text().replace("* 2", "* 3"))
        import linecache

        linecache.checkcache(str(module))
        jitted = wavejit.jit(mod.pipeline)
        assert jitted([1, 2]) == mod.pipeline([1, 2]) == [2, 4]
        assert "changed after it was imported" in str(jitted.explain())
    finally:
        sys.modules.pop("wj_stale_mod", None)


def _old_module(tmp_path: Path, name: str, text: str) -> Path:
    """`text` as module `name`, last modified an hour before this process started."""
    module = tmp_path / f"{name}.py"
    module.write_text(text)
    old = time.time() - 3600 - time.monotonic()  # (before any process start)
    os.utime(module, (old, old))
    return module


_OLD_PIPELINE = ("import time\n\n"
                 "def fetch(x):\n    time.sleep(0.001)\n    return x\n\n"
                 "def pipeline(xs):\n    return [fetch(x) * 2 for x in xs]\n")


def test_a_file_older_than_the_process_needs_no_freshness_compile(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from wavejit import _freshness

    if _freshness._process_start() is None:
        pytest.skip("no process start time here (/proc): the compile always runs")
    _old_module(tmp_path, "wj_old_mod", _OLD_PIPELINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("wj_old_mod")
    compiled: list[str] = []
    real = _freshness._compile_like

    def counted(fn: Any, node: Any) -> Any:
        compiled.append(fn.__name__)
        return real(fn, node)

    monkeypatch.setattr(_freshness, "_compile_like", counted)
    try:
        jitted = wavejit.jit(mod.pipeline)
        assert jitted([1, 2]) == [2, 4]
        assert jitted.last_run is not None and len(jitted.last_run.calls) == 2
        assert compiled == []
    finally:
        sys.modules.pop("wj_old_mod", None)


def test_an_old_file_edited_after_the_import_is_still_caught(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The file predates the process, so the freshness shortcut would apply to it as
    imported; edited since, its mtime is fresh: the compile runs and finds the change."""
    import linecache

    module = _old_module(tmp_path, "wj_old_edited", _OLD_PIPELINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("wj_old_edited")
    try:
        # Edited after the import (a fresh mtime), linecache told (a traceback does).
        module.write_text(module.read_text().replace("* 2", "* 3"))
        linecache.checkcache(str(module))
        jitted = wavejit.jit(mod.pipeline)
        assert jitted([1, 2]) == mod.pipeline([1, 2]) == [2, 4]
        assert "changed after it was imported" in str(jitted.explain())
    finally:
        sys.modules.pop("wj_old_edited", None)


def test_old_lines_cached_before_an_edit_and_reload_are_caught(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """linecache still holds the old file's lines, with its old mtime (read before the
    edit); the module was reloaded from the edited file. Those lines are not the
    file as it is now, so the compile runs and finds them stale."""
    import linecache

    module = _old_module(tmp_path, "wj_old_reloaded", _OLD_PIPELINE)
    monkeypatch.syspath_prepend(str(tmp_path))
    mod = importlib.import_module("wj_old_reloaded")
    try:
        assert "* 2" in "".join(linecache.getlines(str(module)))
        module.write_text(module.read_text().replace("* 2", "* 3"))
        reloaded = importlib.reload(mod)
        jitted = wavejit.jit(reloaded.pipeline)
        assert jitted([1, 2]) == reloaded.pipeline([1, 2]) == [3, 6]
        assert "changed after it was imported" in str(jitted.explain())
    finally:
        sys.modules.pop("wj_old_reloaded", None)


# -- progress, logging, tracing ------------------------------------------------------------


def test_progress_bar_counts_deferred_calls() -> None:
    pytest.importorskip("tqdm")

    def fetch(i: int) -> int:
        time.sleep(0.005)
        return i

    @wavejit.jit
    def fan_out(n: int) -> list[int]:
        return [fetch(i) for i in range(n)]

    out = _io.StringIO()
    with wavejit.progress(file=out) as bar:
        assert fan_out(10) == list(range(10))
    assert bar.done == bar.total >= 10
    assert f"{bar.total}/{bar.total}" in out.getvalue()


def test_log_records(caplog: pytest.LogCaptureFixture, closing: Callable[[Any], Any]) -> None:
    def fetch(i: int) -> int:
        time.sleep(0.005)
        return i

    @wavejit.jit
    def fan_out(n: int) -> list[int]:
        return [fetch(i) for i in range(n)]

    with caplog.at_level(logging.DEBUG, logger="wavejit"):
        fan_out(3)
        with RateLimitedServer(cap=100, latency=0.01) as server:
            client = closing(openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0))
            wavejit.limit(client, max_concurrency=1)
            ask = _asker(client)

            @wavejit.jit
            def asks(qs: list[str]) -> list[str]:
                return [ask(q) for q in qs]

            asks(["a", "b", "c"])
    messages = [r.getMessage() for r in caplog.records if r.name == "wavejit"]
    assert any("deferred call" in m and "fetch" in m and "started" in m for m in messages)
    assert any("limited to 1 concurrent" in m for m in messages)
    assert any("throttling" in m for m in messages)


def test_otel_spans_in_deferred_calls_are_children_of_the_callers_span() -> None:
    pytest.importorskip("opentelemetry.sdk")
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("test")

    def fetch(i: int) -> str:
        with tracer.start_as_current_span(f"fetch-{i}"):
            time.sleep(0.01)
            return threading.current_thread().name

    @wavejit.jit
    def fan_out(n: int) -> list[str]:
        return [fetch(i) for i in range(n)]

    with tracer.start_as_current_span("caller") as parent:
        threads = fan_out(4)
    assert any(t != threading.current_thread().name for t in threads)  # really deferred
    spans = {s.name: s for s in exporter.get_finished_spans()}
    for i in range(4):
        child = spans[f"fetch-{i}"]
        assert child.parent is not None
        assert child.parent.span_id == parent.get_span_context().span_id
        assert child.context.trace_id == parent.get_span_context().trace_id


def test_async_cancellation_cancels_deferred_tasks_at_once() -> None:
    import asyncio

    finished: list[int] = []

    async def slow(i: int) -> int:
        await asyncio.sleep(0.5)
        finished.append(i)
        return i

    async def fan_out(n: int) -> list[int]:
        return [await slow(i) for i in range(n)]

    jitted = wavejit.jit(fan_out)

    async def main() -> float:
        assert await jitted(3) == [0, 1, 2]  # warm; also checks the tasks overlap
        finished.clear()
        t0 = time.perf_counter()
        with pytest.raises(asyncio.TimeoutError):
            await asyncio.wait_for(jitted(20), 0.1)
        waited = time.perf_counter() - t0
        await asyncio.sleep(0.6)  # long enough for any task left running to finish
        return waited

    waited = asyncio.run(main())
    assert waited < 0.4, waited  # 0.1 s timeout; wide margin for a noisy VM
    assert finished == []  # every deferred task was cancelled, as plain's await is


def test_nested_jit_under_a_provider_limit_of_one_does_not_deadlock(
        closing: Callable[[Any], Any]) -> None:
    with RateLimitedServer(cap=100, latency=0.01) as server:
        client = closing(openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0))
        ask = _asker(client)
        wavejit.limit(client, max_concurrency=1)

        def summarize(doc: str) -> str:
            return " | ".join([ask(f"{doc}-{i}") for i in range(3)])

        jitted_summarize = wavejit.jit(summarize)

        def plain_all(docs: list[str]) -> list[str]:
            return [summarize(d) for d in docs]

        def run_all(docs: list[str]) -> list[str]:
            return [jitted_summarize(d) for d in docs]

        expected = plain_all(["a", "b", "c"])
        out: list[list[str]] = []
        worker = threading.Thread(target=lambda: out.append(wavejit.jit(run_all)(["a", "b", "c"])))
        worker.start()
        worker.join(20)  # a deadlock fails here, not at the 60 s test timeout
        assert not worker.is_alive(), "deadlock: outer calls hold every provider slot"
        assert out == [expected]
        # The outer call holds the one slot; the calls deferred inside it share it
        # (docs/DESIGN.md): at most one summary's three requests at once.
        assert 1 <= server.counts()["peak"] <= 3
        assert _limits.snapshot()[f"127.0.0.1:{server.port}"]["peak"] == 1


def test_subprocess_calls_after_a_failing_one_do_not_run(tmp_path: Path) -> None:
    from wavejit._effects import external_effects

    assert external_effects(subprocess.run) == "subprocess.run()"
    client = openai.OpenAI(base_url="http://127.0.0.1:9/v1", api_key="x")
    assert external_effects(client.chat.completions.create) is None  # the request itself

    def run_all(cmds: list[list[str]]) -> list[int]:
        return [subprocess.run(c, check=True).returncode for c in cmds]

    cmds = [["false"], *[["touch", str(tmp_path / f"{i}")] for i in range(8)]]
    with pytest.raises(subprocess.CalledProcessError):
        run_all(cmds)
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(subprocess.CalledProcessError):
        wavejit.jit(run_all)(cmds)
    time.sleep(0.2)  # anything that did start would have touched its file by now
    assert list(tmp_path.iterdir()) == []


# -- jit(timeout=...) ------------------------------------------------------------------


def test_timeout_raises_at_the_deadline_and_starts_nothing_after_it() -> None:
    started: list[int] = []

    @wavejit.io
    def slow(i: int) -> int:
        started.append(i)
        time.sleep(0.5)
        return i

    @wavejit.jit(timeout=0.2, max_workers=4)
    def fan_out(n: int) -> list[int]:
        return [slow(i) for i in range(n)]

    t0 = time.perf_counter()
    with pytest.raises(TimeoutError) as error:
        fan_out(12)
    waited = time.perf_counter() - t0
    # 0.2 s deadline; the calls take 0.5 s (and 12 of them 1.5 s with 4 workers).
    assert 0.15 < waited < 0.45, waited
    assert isinstance(error.value, wavejit.InvocationTimeout)
    assert "fan_out did not finish within its jit(timeout=0.2)" in str(error.value)
    time.sleep(0.6)  # the four in flight finish in the background
    assert sorted(started) == [0, 1, 2, 3]  # the queued eight never started


def test_a_timeout_raised_by_a_deferred_call_is_an_ordinary_failure() -> None:
    @wavejit.io
    def flaky(i: int) -> int:
        time.sleep(0.02)
        if i == 1:
            raise TimeoutError("the provider timed out", i)
        return i

    def calls(n: int) -> list[int]:
        return [flaky(i) for i in range(n)]

    with pytest.raises(TimeoutError) as plain:
        calls(4)
    with pytest.raises(TimeoutError) as jitted:
        wavejit.jit(calls, timeout=10)(4)
    assert type(jitted.value) is TimeoutError and jitted.value.args == plain.value.args


def test_an_async_timeout_cancels_the_deferred_tasks() -> None:
    import asyncio

    finished: list[int] = []

    @wavejit.io
    async def slow(i: int) -> int:
        await asyncio.sleep(0.5)
        finished.append(i)
        return i

    @wavejit.jit(timeout=0.1)
    async def fan_out(n: int) -> list[int]:
        return [await slow(i) for i in range(n)]

    async def main() -> float:
        t0 = time.perf_counter()
        with pytest.raises(TimeoutError):
            await fan_out(5)
        waited = time.perf_counter() - t0
        await asyncio.sleep(0.6)  # none of the cancelled tasks goes on
        return waited

    waited = asyncio.run(main())
    assert waited < 0.4 and finished == []


def test_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="timeout must be a positive number"):
        wavejit.jit(lambda: None, timeout=0)
