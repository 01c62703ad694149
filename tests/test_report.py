"""RunRecord and Report: figures are properties, exports methods; plurals; a record
kept after the function went plain says so; accurate fallback reasons."""

from __future__ import annotations

import asyncio
import inspect
import json
import time
import types
from collections.abc import Callable
from pathlib import Path
from typing import Any

import wavejit
from wavejit._tiers import PLAIN_AFTER

L = 0.02


def io(x: str) -> str:
    time.sleep(L)
    return x


def cpu(x: str) -> str:
    return x.upper()


def diamond(x: str) -> str:
    a = io(x)
    b = io(a + "b")
    c = io(a + "c")
    return io(b + c)


def test_figures_are_properties_and_exports_methods(tmp_path: Path) -> None:
    jitted = wavejit.jit(diamond)
    assert jitted("x") == diamond("x")
    run = jitted.last_run
    assert run is not None and not run.stale
    assert run.waves == [[0], [1, 2], [3]]
    length, path = run.critical_path
    # a, then b or c (equally long: which one depends on timing), then the join.
    assert [c.name.split(" ", 1)[1] for c in path] in (
        ["io(x)", "io(a + 'b')", "io(b + c)"], ["io(x)", "io(a + 'c')", "io(b + c)"])
    assert length == sum(c.seconds for c in path)
    for figure in ("wall", "sum_of_calls", "predicted_speedup", "achieved_speedup"):
        assert isinstance(getattr(run, figure), float)
    trace = tmp_path / "trace.json"
    run.write_chrome_trace(trace)
    assert trace.read_text() == run.to_chrome_trace()
    events = json.loads(trace.read_text())["traceEvents"]
    assert [e["name"] for e in events] == [c.name for c in run.calls]


def one_call(x: str) -> str:
    return io(x)


def test_plurals() -> None:
    jitted = wavejit.jit(one_call)
    jitted("x")
    text = str(jitted.explain())
    assert "1 candidate call site," in text
    assert "1 invocation of the rewritten code" in text
    assert "one_call: 1 deferred call," in text
    jitted("y")
    text = str(jitted.explain())
    assert "2 invocations of the rewritten code" in text
    assert "(s)" not in text.replace("call(s)", "")  # _sites' "call(s)": not this report's


def io_then_cpu(x: str, first: bool) -> str:
    # Deferred I/O on the first call only; later calls defer nothing.
    return io(x) if first else cpu(x)


def test_last_run_is_marked_stale_once_the_function_goes_plain() -> None:
    jitted = wavejit.jit(io_then_cpu)
    jitted("x", True)
    before = jitted.last_run
    assert before is not None and not before.stale
    for _ in range(PLAIN_AFTER):
        jitted("y", False)
    report = jitted.explain()
    assert report.status == "plain"
    after = jitted.last_run
    assert after is not None and after.stale
    assert after.calls == before.calls  # the same, old invocation, now marked
    assert "from before the function went plain" in str(report)


def test_an_exec_def_under_a_real_file_name_gets_the_accurate_reason() -> None:
    source = "\n\n\ndef made(x):\n    return x\n"  # line 4 of this file is not its def
    namespace: dict[str, object] = {}
    exec(compile(source, __file__, "exec"), namespace)
    made = namespace["made"]
    assert isinstance(made, types.FunctionType)
    jitted = wavejit.jit(made)
    assert jitted(1) == 1
    report = jitted.explain()
    assert report.fallback and report.reason is not None
    assert report.reason.startswith("test_report.py:4 holds `from __future__ import annotations`, "
                                    "not this function's def")
    assert "a lambda" not in report.reason


def test_a_lambda_is_called_a_lambda() -> None:
    jitted = wavejit.jit(lambda x: x)
    assert jitted(1) == 1
    assert jitted.explain().reason == ("a lambda: only a function defined with a def "
                                       "statement is rewritten")


# -- waits that kept later calls from starting (wavejit._stalls) -----------------------

RECORDS: list[str] = []


def record(x: str) -> None:
    RECORDS.append(x)  # writes module state: waits for its argument, in program order


def fetch_title(q: str) -> str:
    time.sleep(0.05)
    return f"title of {q}"


def fetch_answer(q: str) -> str:
    time.sleep(0.05)
    return f"answer to {q}"


def title_then_answer(q: str) -> tuple[str, str]:
    title = fetch_title(q)
    record(title)  # waits for the title before the answer is asked for
    answer = fetch_answer(q)
    return title, answer


async def atitle(q: str) -> str:
    await asyncio.sleep(0.05)
    return f"title of {q}"


async def aanswer(q: str) -> str:
    await asyncio.sleep(0.05)
    return f"answer to {q}"


async def atitle_then_answer(q: str) -> tuple[str, str]:
    title = await atitle(q)
    record(title)  # waits for the title before the answer is asked for
    answer = await aanswer(q)
    return title, answer


def _line_of(fn: Any, text: str) -> int:
    lines, first = inspect.getsourcelines(fn)
    return first + next(i for i, line in enumerate(lines) if text in line)


def test_explain_shows_the_wait_that_kept_a_later_call_from_starting() -> None:
    # The user sees where the function stopped for a result before making a call that
    # could have overlapped with it: the line to move.
    def run_sync(f: Any) -> Any:
        return f("q")

    def run_async(f: Any) -> Any:
        return asyncio.run(f("q"))

    cases: list[tuple[Any, Callable[[Any], Any], str]] = [
        (title_then_answer, run_sync, "fetch_title(q)"),
        (atitle_then_answer, run_async, "atitle(q)"),
    ]
    for fn, run, callee in cases:
        expected = run(fn)
        jitted = wavejit.jit(fn)
        assert run(jitted) == expected
        record_ = jitted.last_run
        assert record_ is not None
        stalls = record_.stalls
        assert len(stalls) == 1, stalls
        stall = stalls[0]
        assert stall.line == f"test_report.py:{_line_of(fn, 'record(title)')}"
        assert stall.waited_for.endswith(callee) and stall.issued_after == 1
        assert stall.seconds > 0.02  # it waited for most of the 50 ms call
        text = str(jitted.explain())
        assert "waits that kept later calls from starting" in text
        assert ("1 deferred call made after it could have run during the wait if it does "
                "not need its result (make it first)") in text


def test_no_wait_is_reported_when_nothing_was_made_after_it() -> None:
    def fan_out(qs: list[str]) -> str:
        titles = [fetch_title(q) for q in qs]
        return " | ".join(titles)  # waits, but every call was made before

    jitted = wavejit.jit(fan_out)
    assert jitted(["a", "b"]) == fan_out(["a", "b"])
    assert jitted.last_run is not None and jitted.last_run.stalls == []
