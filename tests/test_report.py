"""RunRecord and Report: figures are properties, exports methods; plurals; a record
kept after the function went plain says so; accurate fallback reasons."""

from __future__ import annotations

import json
import time
import types
from pathlib import Path

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
