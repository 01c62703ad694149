"""Observability of the production controls: what ``logging.getLogger("wavejit")``
records (demotions, promotions, fallbacks to plain, throttling, refusals, re-issues)
and ``@jit(progress=True)``'s bar of deferred calls. Every jitted result is compared
with plain Python's."""

from __future__ import annotations

import asyncio
import functools
import importlib
import logging
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import openai
import pytest

import wavejit
from wavejit import _limits
from wavejit._hints import callee_key
from wavejit._jit import PLAIN_AFTER
from wavejit.bench.ratelimited import RateLimitedServer


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    _limits.reset()
    yield
    _limits.reset()


def _messages(caplog: pytest.LogCaptureFixture, level: int = logging.DEBUG) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.name == "wavejit" and r.levelno >= level]


def fetch(i: int) -> int:
    time.sleep(0.005)
    return i


def busy(x: str) -> str:
    end = time.thread_time() + 0.01
    while time.thread_time() < end:
        pass
    return x * 2


def hinted_busy(x: str) -> str:
    return busy(x)


# -- logging ---------------------------------------------------------------------------


def test_a_demotion_is_logged_at_info(caplog: pytest.LogCaptureFixture) -> None:
    wavejit.register_io(hinted_busy)  # a wrong hint: it computes, and is demoted

    def f(xs: list[str]) -> list[str]:
        return [hinted_busy(x) for x in xs]

    jitted = wavejit.jit(f)
    with caplog.at_level(logging.DEBUG, logger="wavejit"):
        assert jitted(["a", "b", "c", "d"]) == f(["a", "b", "c", "d"])
        # What _runtime._observe_spans reports after an invocation whose calls kept a
        # CPU busy, given directly: whether a loaded 2-core machine measures them so
        # is tests/test_strategies.py's matter; here, that the change is logged.
        compiled = jitted._compiled
        assert compiled is not None
        compiled.sites[0].observe_span(callee_key(hinted_busy), 0.04, 0.04)
        for _ in range(2):
            assert jitted(["a", "b", "c", "d"]) == f(["a", "b", "c", "d"])
    debug = _messages(caplog)
    info = _messages(caplog, logging.INFO)
    # First judged I/O (the hint) and deferred; measured CPU-dense, then kept inline.
    assert any("hinted_busy deferred" in m for m in debug), debug
    demoted = [m for m in info if "hinted_busy demoted" in m]
    assert len(demoted) == 1, info  # logged once, when the verdict changed
    assert "test_production_observe.py:" in demoted[0]  # the site
    assert "demoted despite the hint" in demoted[0]  # the reason explain() gives


def test_a_callee_measured_io_bound_is_logged_deferred(caplog: pytest.LogCaptureFixture) -> None:
    def opaque_wait(x: str) -> str:  # blocks without a known I/O call: measured
        threading.Event().wait(0.01)
        return x

    def f(xs: list[str]) -> list[str]:
        return [opaque_wait(x) for x in xs]

    jitted = wavejit.jit(f, strategy="io_aware")
    with caplog.at_level(logging.DEBUG, logger="wavejit"):
        for _ in range(2):
            assert jitted(["a", "b"]) == f(["a", "b"])
    debug = _messages(caplog)
    # Its first call ran inline, measured; the second was deferred. Verdicts are
    # logged as they stand at the end of an invocation: here the first one logged.
    assert any("opaque_wait deferred: measured I/O-bound" in m for m in debug), debug


def test_a_callee_kept_inline_is_logged_at_debug(caplog: pytest.LogCaptureFixture) -> None:
    def f(xs: list[str]) -> list[str]:
        return [busy(x) for x in xs] + [str(fetch(1))]

    jitted = wavejit.jit(f)
    with caplog.at_level(logging.DEBUG, logger="wavejit"):
        assert jitted(["a", "b"]) == f(["a", "b"])
    assert any("busy kept inline" in m for m in _messages(caplog)), _messages(caplog)


def test_fallbacks_to_plain_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    def gen(n: int) -> Iterator[int]:  # a generator: the rewrite does not handle it
        yield from range(n)

    def compute(n: int) -> int:  # defers nothing: runs plain after PLAIN_AFTER calls
        return sum(range(n))

    partial = wavejit.jit(functools.partial(fetch, 3))  # no Python source
    with caplog.at_level(logging.INFO, logger="wavejit"):
        assert list(wavejit.jit(gen)(3)) == [0, 1, 2]
        assert partial() == 3
        jitted = wavejit.jit(compute)
        for _ in range(PLAIN_AFTER):
            assert jitted(10) == 45
        assert "disabled" not in " ".join(_messages(caplog))
        wavejit.jit(compute, enabled=False)
    info = _messages(caplog, logging.INFO)
    assert any("gen runs as the plain function (fallback)" in m for m in info), info
    assert any("functools.partial(" in m and "runs as the plain function (fallback): "
               "partial objects have no Python source" in m for m in info), info
    assert any("compute runs as the plain function: 2 calls deferred nothing" in m
               for m in info), info
    assert any("compute runs as the plain function: disabled by jit(enabled=False)" in m
               for m in info), info


def test_throttling_refusals_and_reissues_are_logged(
        caplog: pytest.LogCaptureFixture, closing: Callable[[Any], Any]) -> None:
    # A server taking 2 requests at once: the fan-out is refused, the limit shrinks,
    # and the refused calls are issued again.
    with RateLimitedServer(cap=2, latency=0.02, retry_after=0.01) as server:
        client = closing(openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0))

        def ask(q: str) -> str:
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": q}])
            return reply.choices[0].message.content or ""

        def fan_out(qs: list[str]) -> list[str]:
            return [ask(q) for q in qs]

        qs = [f"q{i}" for i in range(12)]
        expected = fan_out(qs)
        with caplog.at_level(logging.DEBUG, logger="wavejit"):
            assert wavejit.jit(fan_out)(qs) == expected
        counts = server.counts()
    info = _messages(caplog, logging.INFO)
    debug = _messages(caplog)
    host = f"127.0.0.1:{server.port}"
    assert counts["refused"] > 0  # else nothing here was exercised
    assert any(f"{host} refused a call (rate limit); concurrency limit" in m
               for m in info), info
    assert any("re-issuing" in m and "ask" in m for m in debug), debug
    assert any(f"throttling {host}" in m for m in info), info
    state = _limits.snapshot()[host]
    assert state["reissued"] > 0 and state["refused"] == counts["refused"]


# -- jit(progress=True) ----------------------------------------------------------------


def test_progress_bar_counts_the_deferred_calls(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")

    def pipeline(n: int) -> int:
        parts = [fetch(i) for i in range(n)]
        return fetch(sum(parts)) + fetch(1)

    jitted = wavejit.jit(pipeline, progress=True)
    capsys.readouterr()
    assert jitted(10) == pipeline(10) == 46
    err = capsys.readouterr().err
    record = jitted.last_run
    assert record is not None
    deferred = len(record.calls)
    assert deferred == 12  # the ten fetches, then two more
    assert f"{deferred}/{deferred}" in err, err  # the closed bar: every call finished
    assert "pipeline" in err  # its label
    # A second invocation gets a bar of its own.
    assert jitted(4) == pipeline(4)
    err = capsys.readouterr().err
    assert err.count("pipeline") >= 1 and "6/6" in err, err


def test_progress_bar_is_silent_without_deferred_calls(
        capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")

    def compute(n: int) -> int:
        return sum(range(n))

    jitted = wavejit.jit(compute, progress=True)
    capsys.readouterr()
    assert jitted(10) == 45
    assert capsys.readouterr().err == ""


def test_progress_without_tqdm_warns_and_runs(monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "tqdm", None)  # import tqdm -> ImportError
    monkeypatch.setitem(sys.modules, "tqdm.auto", None)
    with pytest.raises(ImportError):
        importlib.import_module("tqdm")

    def pipeline(n: int) -> list[int]:
        return [fetch(i) for i in range(n)]

    with pytest.warns(UserWarning, match=r"tqdm is not installed .*wavejit\[progress\]"):
        jitted = wavejit.jit(pipeline, progress=True)
    capsys.readouterr()
    assert jitted(5) == pipeline(5)
    assert capsys.readouterr().err == ""


def test_progress_bar_of_an_async_function(capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("tqdm")

    async def pipeline(n: int) -> int:
        parts = [await asyncio.sleep(0.005, result=i) for i in range(n)]
        return sum(parts)

    jitted = wavejit.jit(pipeline, progress=True)
    capsys.readouterr()
    assert asyncio.run(jitted(6)) == asyncio.run(pipeline(6)) == 15
    record = jitted.last_run
    assert record is not None and len(record.calls) == 6  # all six were deferred
    err = capsys.readouterr().err
    assert "6/6" in err and "pipeline" in err, err
