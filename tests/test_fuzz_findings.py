"""Mismatches the differential fuzzer (`test_fuzz.py`) found, shrunk to reproducers.

Each was marked ``xfail(strict=True)`` until the jit was fixed (the mark came off with
the fix); each now guards its regression. Plain Python is the reference in each.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import wavejit

COUNTER = 0


async def check(s: str) -> str:
    await asyncio.sleep(0.02)  # fails after the glue below could already have run
    if "b" in s:
        raise ValueError(f"bad input {s!r}")
    return s


async def add(a: int, b: int) -> int:
    await asyncio.sleep(0.001)
    return a + b


async def global_write_after_a_failing_await(n: int) -> str:
    global COUNTER
    v = await check("b!")  # fails: plain Python never gets past this line
    COUNTER += await add(1, n)
    return v


def outcome(fn: Any, n: int) -> tuple[Any, ...]:
    global COUNTER
    COUNTER = 0
    try:
        value = asyncio.run(fn(n))
    except ValueError as exc:
        return ("raised", exc.args, COUNTER)
    return ("returned", value, COUNTER)


def test_async_global_write_after_a_failing_await_does_not_happen() -> None:
    expected = outcome(global_write_after_a_failing_await, 1)
    assert expected == ("raised", ("bad input 'b!'",), 0)
    assert outcome(wavejit.jit(global_write_after_a_failing_await), 1) == expected


def chain(exc: BaseException | None) -> Any:
    """Type, args and the cause / context chain: what plain Python's exception carries."""
    if exc is None:
        return None
    return (type(exc).__name__, exc.args, chain(exc.__cause__), chain(exc.__context__))


def raised(fn: Any, *args: Any) -> Any:
    try:
        fn(*args)
    except Exception as exc:  # noqa: BLE001 - compared as data
        return chain(exc)
    return None


def fail(s: str) -> str:
    time.sleep(0.01)
    raise ValueError("bad", s)


def call_in_a_handler(log: list[str]) -> None:
    try:
        try:
            fail("a")
        except ValueError as exc:
            fail(str(exc))  # raised while handling exc: its __context__ is exc
    finally:
        log.append("finally")


def test_a_failure_in_a_handler_keeps_its_context() -> None:
    expected = raised(call_in_a_handler, [])
    assert expected[3] == ("ValueError", ("bad", "a"), None, None)
    assert raised(wavejit.jit(call_in_a_handler), []) == expected



@wavejit.io
def echo(s: str, ms: int = 2) -> str:
    time.sleep(ms / 1000)
    return s


def closure_counter_in_a_loop_and_after(x: str) -> tuple[str, ...]:
    """`make fuzz` (5,000 examples), shrunk: a closure that bumps a `nonlocal` counter
    was judged effect-free (only `global` counted), so its two calls ran concurrently
    once the second was issued with the loop (the statements after a loop): ('a1',)."""
    cnt = 0

    def bump(z: str) -> str:
        nonlocal cnt
        cnt += 1
        return echo(z + str(cnt))

    v7 = []
    for _ in [x]:
        v7.append(echo(bump(x)))
    v8 = echo(x)
    v10 = bump(x)
    return (v10, v8, *v7)


def test_a_closure_writing_a_nonlocal_keeps_program_order() -> None:
    expected = closure_counter_in_a_loop_and_after("a")
    jitted = wavejit.jit(closure_counter_in_a_loop_and_after)
    for _ in range(4):
        assert jitted("a") == expected


def missing(key: str) -> str:
    time.sleep(0.01)
    raise KeyError(key)


def tagged(items: list[str]) -> list[str]:
    out = []
    for it in items:
        out.append(echo(f"<{it}>"))
    return out


def wrapped_lookup_failure(x: str) -> dict[str, str]:
    """`make fuzz` (5,000 examples), shrunk: when the function failed, the containers
    still holding results were resolved while the failure was being handled; the failed
    call's KeyError, raised again there, took the RuntimeError raised ``from`` it as
    its ``__context__`` (a cycle: Python cut the RuntimeError's own context, which the
    runtime then restored)."""
    try:
        found = {c: missing(c) for c in tagged([x])}
    except KeyError as e:
        raise RuntimeError(f"wrapped {e}") from e
    return found


def test_a_failure_wrapped_from_a_deferred_one_keeps_plain_chains() -> None:
    expected = raised(wrapped_lookup_failure, "a")
    assert expected == ("RuntimeError", ("wrapped '<a>'",),
                        ("KeyError", ("<a>",), None, None), ("KeyError", ("<a>",), None, None))
    jitted = wavejit.jit(wrapped_lookup_failure)
    for _ in range(3):  # first call, measured, compiled with the callees known
        assert raised(jitted, "a") == expected


@wavejit.io
def parse(s: str) -> int:
    time.sleep(0.01)
    try:
        return {"a": 7}[s]
    except KeyError as exc:
        raise LookupError("cannot parse", s) from exc


def parse_again_in_finally(x: str) -> str:
    """`make fuzz` (5,000 examples), shrunk: a deferred call made in a finally block,
    while its try block's failure was being handled, ran on a worker, where nothing
    was: the KeyError it raised first lacked that failure as its ``__context__``; and
    raised again at its use (``str``), its LookupError took the handled failure as
    context in place of its own KeyError."""
    t = echo(f"<{x}>")
    try:
        parse(x)
    finally:
        v = str(parse(t))
    return v


async def aparse(s: str) -> int:
    await asyncio.sleep(0.01)
    try:
        return {"a": 7}[s]
    except KeyError as exc:
        raise LookupError("cannot parse", s) from exc


async def aecho(s: str) -> str:
    await asyncio.sleep(0.002)
    return s


async def aparse_again_in_finally(x: str) -> str:
    """`parse_again_in_finally`, awaited: the deferred calls are tasks, which start with
    no exception being handled."""
    t = await aecho(f"<{x}>")
    try:
        await aparse(x)
    finally:
        v = str(await aparse(t))
    return v


def test_a_call_made_while_handling_a_failure_chains_to_it() -> None:
    expected = raised(parse_again_in_finally, "b")
    first = ("LookupError", ("cannot parse", "b"), ("KeyError", ("b",), None, None),
             ("KeyError", ("b",), None, None))
    assert expected == ("LookupError", ("cannot parse", "<b>"),
                        ("KeyError", ("<b>",), None, first),
                        ("KeyError", ("<b>",), None, first))
    jitted = wavejit.jit(parse_again_in_finally)
    for _ in range(3):  # first call, measured, compiled with the callees known
        assert raised(jitted, "b") == expected
    assert jitted.last_run is not None and len(jitted.last_run.calls) == 3  # deferred


def test_an_awaited_call_made_while_handling_a_failure_chains_to_it() -> None:
    def run(fn: Any) -> Any:
        return raised(lambda: asyncio.run(fn("b")))

    expected = run(aparse_again_in_finally)
    assert expected == raised(parse_again_in_finally, "b")  # the same chain as above
    jitted = wavejit.jit(aparse_again_in_finally)
    for _ in range(3):
        assert run(jitted) == expected
    assert jitted.last_run is not None and len(jitted.last_run.calls) == 3  # tasks


def two_lookups(x: str) -> tuple[str, int]:
    return echo(x), parse(x)


def test_a_jitted_function_called_in_a_handler_chains_its_calls_failures_to_it() -> None:
    """Not the function's own handler: its caller's. Plain Python chains the first
    exception a call raises to whatever its thread (or coroutine) is handling."""
    def from_a_handler(fn: Any) -> Any:
        try:
            raise ConnectionError("outer")
        except ConnectionError:
            return raised(fn, "b")

    expected = from_a_handler(two_lookups)
    assert expected[2][3] == ("ConnectionError", ("outer",), None, None)
    jitted = wavejit.jit(two_lookups)
    for _ in range(3):
        assert from_a_handler(jitted) == expected
    assert raised(jitted, "b") == raised(two_lookups, "b")  # and none outside one
