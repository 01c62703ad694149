"""``async def`` under @jit: awaited calls run as concurrent tasks, same results.

Timing margins: L = 0.1 s; N independent awaits must beat (N - 1) * L (sequential is
N * L, ideal L), which holds on a loaded 2-core machine and fails if serialised.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

import wavejit
from overlap import assert_overlapped

L = 0.1


async def aio(x: Any, delay: float = L) -> str:
    await asyncio.sleep(delay)
    return f"aio({x})"


async def afail(x: Any, delay: float = L / 2) -> str:
    await asyncio.sleep(delay)
    raise ValueError(f"bad {x}")


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    return asyncio.run(coro)


def timed(fn: Callable[..., Coroutine[Any, Any, Any]], *args: Any) -> tuple[Any, float]:
    async def go() -> tuple[Any, float]:
        start = time.perf_counter()
        result = await fn(*args)
        return result, time.perf_counter() - start

    return run(go())  # type: ignore[no-any-return]


async def p23(x: str) -> str:
    a = await aio(x)
    b = await aio(x + "!")
    return a + b


@pytest.mark.concurrency
def test_23_independent_awaits_run_together() -> None:
    expected = run(p23("q"))
    jitted = wavejit.jit(p23)
    result, elapsed = timed(jitted, "q")
    assert result == expected
    assert elapsed < 1.8 * L
    assert_overlapped(jitted)


async def fan(xs: list[str]) -> list[str]:
    first = [await aio(x) for x in xs]
    out = []
    for x in xs:
        out.append(await aio(x + "?"))
    scores = {x: await aio(len(x)) for x in xs}
    return first + out + sorted(scores.values())


@pytest.mark.concurrency
def test_async_fan_outs() -> None:
    xs = ["a", "bb", "ccc", "dddd"]
    expected = run(fan(xs))
    jitted = wavejit.jit(fan)
    result, elapsed = timed(jitted, xs)
    assert result == expected
    assert elapsed < 3 * L  # three fan-outs of 4, each ~L
    assert_overlapped(jitted, deferred=12, together=4)


async def chained(x: str) -> str:
    a = await aio(x)
    b = await aio(a)  # depends on a
    c = await aio("other")  # independent of both
    return f"{b}/{c}"


@pytest.mark.concurrency
def test_async_data_flow() -> None:
    expected = run(chained("x"))
    jitted = wavejit.jit(chained)
    result, elapsed = timed(jitted, "x")
    assert result == expected
    assert elapsed < 2.8 * L  # a then b (2L); c overlaps
    assert_overlapped(jitted, deferred=3)


async def two_failures(x: str) -> str:
    a = await afail(x, 2 * L)  # slower, but first in program order
    b = await afail(x + "2")
    return a + b


def test_async_earliest_failure_wins() -> None:
    with pytest.raises(ValueError) as info:
        run(wavejit.jit(two_failures)("x"))
    assert str(info.value) == "bad x"  # not "bad x2" (the note, on 3.11+, is apart)


async def handled(x: str) -> str:
    r = "default"
    try:
        r = await afail(x)
    except ValueError as exc:
        return f"handled {exc} {r}"
    return r


def test_async_try_except() -> None:
    assert run(wavejit.jit(handled)("x")) == run(handled("x"))


async def leaves_no_task(x: str, done: list[str]) -> str:
    async def slow_record(tag: str) -> str:
        await asyncio.sleep(L)
        done.append(tag)
        return tag

    a = await slow_record("a")
    await afail(x)
    return a


def test_async_nothing_outlives_the_invocation() -> None:
    done: list[str] = []

    async def go() -> None:
        with pytest.raises(ValueError):
            await wavejit.jit(leaves_no_task)("x", done)
        assert done == ["a"]
        others = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        assert others == []

    run(go())
