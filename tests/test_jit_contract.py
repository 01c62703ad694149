"""The @jit contract, point by point, against plain Python as the reference."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
import traceback
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

import wavejit
from overlap import assert_overlapped
from wavejit import _tiers
from wavejit._compile import compile_function

L = 0.05


def slow(x: Any, delay: float = L) -> str:
    time.sleep(delay)
    return f"slow({x})"


def boom(x: Any) -> str:
    time.sleep(L)
    raise RuntimeError(f"boom {x}")


# 1. same answer; glue runs in the same order on the caller's thread

def glue(xs: list[str]) -> str:
    seen = []
    for x in xs:
        r = slow(x)
        print("got", x)
        seen.append(threading.current_thread().name)
    print("done", r)
    return ",".join(seen)


def test_glue_runs_in_order_on_the_callers_thread(capsys: pytest.CaptureFixture[str]) -> None:
    expected = glue(["a", "b"])
    plain_out = capsys.readouterr().out
    assert wavejit.jit(glue)(["a", "b"]) == expected
    assert capsys.readouterr().out == plain_out


# 2/3. data flow, first use

def flow(x: str) -> tuple[str, str]:
    a = slow(x, 2 * L)
    b = slow("independent")  # does not wait for a
    c = slow(a)  # waits for a only
    return b, c


@pytest.mark.concurrency
def test_a_call_waits_only_for_the_calls_it_uses() -> None:
    expected = flow("x")
    jitted = wavejit.jit(flow)
    assert jitted("x") == expected
    # From the calls' own times (a wall-time bound cannot tell "b waits for a" from
    # correct: a + b in order is 3 L, the critical path a + c is 3 L as well):
    record = assert_overlapped(jitted, deferred=3)
    a, b, c = record.calls
    assert b.started < a.finished  # b did not wait for a
    assert c.started >= a.finished  # c waited for a, whose result it uses
    assert record.calls[2].deps == (0,)


# 4. exceptions: the same object, a note naming the call site

def raises_via_result(x: str) -> str:
    r = boom(x)
    return r.upper()


def test_exception_is_the_same_object_with_a_note() -> None:
    seen: list[BaseException] = []

    def boom_keep(x: Any) -> str:
        time.sleep(L)
        exc = RuntimeError(f"boom {x}")
        seen.append(exc)
        raise exc

    def f(x: str) -> str:
        r = boom_keep(x)
        return r.upper()

    jitted = wavejit.jit(f)
    with pytest.raises(RuntimeError) as info:
        jitted("x")
    assert info.value is seen[-1]
    text = "".join(traceback.format_exception(info.value))
    assert "boom_keep" in text  # the original frames are kept
    if sys.version_info >= (3, 11):
        assert any("test_jit_contract.py" in n and "boom_keep(x)" in n
                   for n in info.value.__notes__)


def unused_failure(x: str) -> str:
    boom(x)  # result never used: plain Python raises here all the same
    return "unreachable"


def test_failure_of_an_unused_call_is_raised() -> None:
    with pytest.raises(RuntimeError, match="boom x"):
        wavejit.jit(unused_failure)("x")


def dependents(x: str, ran: list[str]) -> str:
    a = boom(x)
    b = record_run(a, ran)
    return b


def record_run(a: str, ran: list[str]) -> str:
    time.sleep(0.001)
    ran.append(a)
    return a


def test_dependents_of_a_failed_call_never_run() -> None:
    ran: list[str] = []
    with pytest.raises(RuntimeError):
        wavejit.jit(dependents)("x", ran)
    assert ran == []


def handled_in_loop(xs: list[str]) -> list[str]:
    out = []
    for x in xs:
        try:
            out.append(boom(x) if x == "bad" else slow(x))
        except RuntimeError as exc:
            out.append(f"handled {exc}")
    return out


def keeps_default(x: str) -> str:
    r = "default"
    try:
        r = boom(x)
    except RuntimeError:
        pass
    return r


def test_a_failed_call_in_try_leaves_the_name_unbound() -> None:
    assert wavejit.jit(keeps_default)("x") == "default"


def test_try_in_a_loop_sees_each_failure() -> None:
    xs = ["a", "bad", "c"]
    assert wavejit.jit(handled_in_loop)(xs) == handled_in_loop(xs)


# 5. nothing outlives the invocation

def fan_then_fail(n: int) -> str:
    results = [timed_sleep(i) for i in range(n)]
    boom("late")
    return str(results)


def timed_sleep(i: int) -> int:
    time.sleep(L * (1 + i % 3))
    return i


@pytest.mark.concurrency
def test_nothing_outlives_the_invocation() -> None:
    jitted = wavejit.jit(fan_then_fail)
    with pytest.raises(RuntimeError):
        jitted(6)
    returned = time.perf_counter()
    # Seven calls in flight together (boom fails after L, while the 2 L and 3 L sleeps
    # still run), and every one had finished before the invocation raised.
    record = assert_overlapped(jitted, deferred=7, together=7)
    assert all(0 < c.finished <= returned for c in record.calls)
    assert max(c.finished for c in record.calls) > min(
        c.finished for c in record.calls if c.failed)  # boom was not the last to end


# 7. no deadlock at any max_workers

@wavejit.jit(max_workers=1)
def tree(depth: int) -> int:
    if depth == 0:
        return len(slow(depth, 0.001))
    left = tree(depth - 1)
    right = tree(depth - 1)
    return left + right


@wavejit.jit(max_workers=2)
def tree2(depth: int) -> int:
    if depth == 0:
        return len(slow(depth, 0.01))
    left = tree2(depth - 1)
    right = tree2(depth - 1)
    return left + right


def tree_plain(depth: int) -> int:  # the reference: an undecorated twin
    if depth == 0:
        return len(slow(depth, 0.001))
    return tree_plain(depth - 1) + tree_plain(depth - 1)


def test_recursion_with_one_worker_does_not_deadlock() -> None:
    # One call of each invocation in flight at a time: nothing overlaps, but every
    # level waits for calls that need the pool too, which must not deadlock.
    assert tree(4) == tree_plain(4)
    assert tree.last_run is not None and len(tree.last_run.calls) == 2


@pytest.mark.concurrency
def test_recursion_with_two_workers_overlaps_without_deadlock() -> None:
    assert tree2(4) == tree_plain(4)
    assert_overlapped(tree2)  # the two subtrees of the top level ran together


@pytest.mark.concurrency
def test_jit_inside_worker_threads() -> None:
    jitted = wavejit.jit(flow)
    pool = wavejit.ThreadExecutor(2)
    try:
        tasks = [pool.submit(jitted, str(i)) for i in range(6)]
        assert [t.result(timeout=30) for t in tasks] == [flow(str(i)) for i in range(6)]
    finally:
        pool.shutdown()
    assert_overlapped(jitted, deferred=3)  # a jit running on a worker still fans out


# 8. thread-safe: compiled once

def test_concurrent_first_calls_compile_once(monkeypatch: pytest.MonkeyPatch) -> None:
    count = 0
    real = compile_function  # what _tiers calls (patched there below)

    def counting(*args: Any, **kwargs: Any) -> Any:
        nonlocal count
        if kwargs.get("hooked") is None:  # tier 0; tier 1 may follow, also once
            count += 1
        time.sleep(0.05)  # widen the race window
        return real(*args, **kwargs)

    monkeypatch.setattr(_tiers, "compile_function", counting)
    jitted = wavejit.jit(flow)
    results: list[Any] = [None] * 32
    barrier = threading.Barrier(32)

    def call(i: int) -> None:
        barrier.wait()
        results[i] = jitted(str(i))

    threads = [threading.Thread(target=call, args=(i,)) for i in range(32)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert count == 1
    # The reference: plain `flow` on each input, the 32 calls side by side (each one is
    # still plain Python; one after another they took 6.4 s).
    with ThreadPoolExecutor(32) as reference_pool:
        assert results == list(reference_pool.map(flow, [str(i) for i in range(32)]))


# options and switches

def test_disabled_runs_the_plain_function() -> None:
    jitted = wavejit.jit(flow, enabled=False)
    assert jitted("x") == flow("x")
    report = jitted.explain()
    assert report.status == "plain" and "enabled=False" in (report.reason or "")


def test_environment_switch_disables_jit() -> None:
    code = (
        "import wavejit\n"
        "def f(x):\n    return x + 1\n"
        "j = wavejit.jit(f)\n"
        "print(j(1), j.explain().reason)\n"
    )
    env = {**os.environ, "WAVEJIT_DISABLE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, check=True).stdout
    assert out.startswith("2 ") and "WAVEJIT_DISABLE" in out


@pytest.mark.parametrize("kwargs, message", [
    ({"strategy": "magic"}, "unknown strategy"),
    ({"max_workers": 0}, "at least 1"),
    ({"executor": "gpu"}, "unknown executor"),
    ({"executor": object()}, "no submit"),
])
def test_bad_options_say_how_to_fix_them(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        wavejit.jit(flow, **kwargs)


@pytest.mark.parametrize("executor", ["sequential", "threads"])
def test_executors_give_the_same_answer(executor: str) -> None:
    assert wavejit.jit(flow, executor=executor)("x") == flow("x")


@pytest.mark.concurrency
def test_a_concurrent_futures_executor_works() -> None:
    from concurrent.futures import Future, ThreadPoolExecutor

    class Counting(ThreadPoolExecutor):
        submitted = 0

        def submit(self, fn: Any, /, *args: Any, **kwargs: Any) -> Future[Any]:
            Counting.submitted += 1
            return super().submit(fn, *args, **kwargs)

    with Counting(4) as pool:
        jitted = wavejit.jit(flow, executor=pool)
        assert jitted("x") == flow("x")
    assert Counting.submitted >= 2  # a and b went to this executor (c may run inline)
    assert_overlapped(jitted, deferred=3)


def test_explain_reports_sites_and_evidence() -> None:
    jitted = wavejit.jit(flow)
    jitted("x")
    text = str(jitted.explain())
    assert "status: rewritten" in text
    assert "slow: deferred - calls time.sleep (known I/O); confirmed, measured I/O-bound" in text
    assert "strategy: io_aware" in text
    assert "test_jit_contract.py" in text
    run = jitted.last_run
    assert run is not None and len(run.calls) == 3
    assert "traceEvents" in run.to_chrome_trace()
    assert run.to_mermaid().startswith("gantt")


def test_no_threads_left_behind() -> None:
    # Only the shared pool's workers (which live for the process by design) may be
    # new, whatever their names; the calls ran on them.
    before = set(threading.enumerate())
    jitted = wavejit.jit(flow)
    jitted("x")
    pool = set(wavejit.shared_executor().threads)
    assert set(threading.enumerate()) - before <= pool
    assert jitted.last_run is not None
    assert {c.thread for c in jitted.last_run.calls} <= {t.name for t in pool} | {
        threading.current_thread().name}


# pinned limits: what jit deliberately does not do

Thunk = Callable[[], str]  # typed by a comment below: the jitted code keeps a bare lambda


def escapes_via_lambda(x: str) -> str:
    a = slow(x)
    get = lambda: a  # type: Thunk  # noqa: E731 - a captured name is never pending
    return get()


def test_captured_names_are_resolved_before_capture() -> None:
    assert wavejit.jit(escapes_via_lambda)("x") == escapes_via_lambda("x")


def test_sequential_decorator_keeps_calls_inline() -> None:
    @wavejit.sequential
    def stepped(x: str) -> str:
        time.sleep(L)
        return x

    def f() -> list[str]:
        return [stepped(str(i)) for i in range(3)]

    jitted = wavejit.jit(f)
    start = time.perf_counter()
    assert jitted() == f()
    assert time.perf_counter() - start >= 3 * L  # stays sequential by request


# glue effects after a failing deferred call

def mutates_after_failure(x: str, log: list[str], state: dict[str, str]) -> str:
    r = boom(x)  # fails; its result is never used
    log.append("after")  # plain Python never gets here
    state["seen"] = x
    return "unreachable" + str(r is None)


def test_glue_does_not_mutate_caller_objects_after_a_failed_call() -> None:
    log: list[str] = []
    state: dict[str, str] = {}
    with pytest.raises(RuntimeError, match="boom x"):
        wavejit.jit(mutates_after_failure)("x", log, state)
    assert log == [] and state == {}


def prints_after_failure(x: str) -> None:
    boom(x)
    print("progress")


def test_pinned_limit_output_after_a_failed_call_may_appear(
    capsys: pytest.CaptureFixture[str],
) -> None:
    # Output (print, logging) is not a commit point: it would serialise every loop that
    # reports progress. So after a failing deferred call, later output may already be
    # written: here the print runs before boom()'s failure is raised, so it always
    # appears (plain Python prints nothing). The exception is still plain Python's.
    jitted = wavejit.jit(prints_after_failure)
    with pytest.raises(RuntimeError, match="boom x"):
        jitted("x")
    assert capsys.readouterr().out == "progress\n"
    assert jitted.last_run is not None and len(jitted.last_run.calls) == 1


def note(log: list[str], msg: str) -> int:
    time.sleep(0.001)
    log.append("note:" + msg)
    return len(log)


def returns_through_finally(x: str, log: list[str]) -> int:
    try:
        return 1
    finally:
        note(log, x)  # runs after `return` has settled the invocation


def test_a_call_in_finally_after_return_runs_before_the_function_returns() -> None:
    for _ in range(3):
        log: list[str] = []
        assert wavejit.jit(returns_through_finally)("x", log) == 1
        assert log == ["note:x"]
