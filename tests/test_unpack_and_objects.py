"""Three shapes from the programs transcribed this round, each compared with the
undecorated function (results, the exception raised):

- ``a, b = judge(x)``: a tuple result unpacked (FastChat's judge pairs), unpacked when
  it arrives (`Invocation.unpack`, Python's own unpacking and errors);
- ``db = VectorDB(); db.load(x)``: a method of an object the function built;
- constructing an object of the program's own class between calls (``Message(...)``,
  a dataclass) is not an effect that waits for earlier calls, unless its ``__init__``
  changes something else.

The overlap tests make calls of `LATENCY`: in order they take 2-4 x LATENCY; jitted they
must finish within `FAST` (two latencies of slack on a loaded 2-core machine).
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from typing import Any

import pytest

import wavejit

LATENCY = 0.05
FAST = 2 * LATENCY

_log: list[Any] = []


@wavejit.io
def judge(x: int) -> tuple[str, int]:
    time.sleep(LATENCY)
    return ("win" if x % 2 else "loss"), x


@wavejit.io
def judge3(x: int) -> tuple[Any, ...]:
    time.sleep(LATENCY)
    return (x,) * (3 if x >= 0 else 2)


async def ajudge(x: int) -> tuple[str, int]:
    await asyncio.sleep(LATENCY)
    return ("win" if x % 2 else "loss"), x


class VectorDB:
    def __init__(self, name: str) -> None:
        self.name = name

    def search(self, q: int) -> list[int]:
        time.sleep(LATENCY)
        return [q, q + 1]


@dataclasses.dataclass
class Message:
    role: str
    content: Any


class Logged:
    def __init__(self, sink: list[Any], x: Any) -> None:
        sink.append(x)  # changes its argument: an effect
        self.x = x


def pairs(xs: list[int]) -> list[Any]:
    w1, s1 = judge(xs[0])
    w2, s2 = judge(xs[1])
    return [w1, s1, w2, s2]


def bad_arity(xs: list[int]) -> Any:
    a, b, c = judge3(xs[0])
    d, e, f = judge3(xs[1])
    return a, d


def two_dbs(qs: list[int]) -> list[Any]:
    first = VectorDB("a")
    r1 = first.search(qs[0])
    second = VectorDB("b")
    r2 = second.search(qs[1])
    return [r1, r2, first.name, second.name]


def messages(qs: list[int]) -> list[Any]:
    out = []
    for q in qs:
        r = judge(q)
        out.append(Message("assistant", r))
    return out


def logged(qs: list[int]) -> list[Any]:
    sink: list[Any] = []
    a = judge(qs[0])
    Logged(sink, "between")
    b = judge(qs[1])
    return [a, b, sink]


def _timed(fn: Any, *args: Any) -> tuple[Any, float]:
    jitted = wavejit.jit(fn)
    jitted(*args)
    start = time.perf_counter()
    got = jitted(*args)
    return got, time.perf_counter() - start


@pytest.mark.concurrency
@pytest.mark.parametrize("fn", [pairs, two_dbs], ids=["unpack", "local-objects"])
def test_independent_calls_overlap(fn: Any) -> None:
    got, wall = _timed(fn, [1, 2])
    assert got == fn([1, 2])
    assert wall < FAST, f"2 calls of {LATENCY}s took {wall:.3f}s: they ran in order"


@pytest.mark.concurrency
def test_building_a_dataclass_between_calls_does_not_wait() -> None:
    got, wall = _timed(messages, [1, 2, 3, 4])
    assert got == messages([1, 2, 3, 4])
    assert wall < FAST, f"4 calls of {LATENCY}s took {wall:.3f}s: they ran in order"


@pytest.mark.parametrize("xs", [[1, 2], [-1, 2], [1, -2]], ids=["ok", "first", "second"])
def test_unpacking_raises_what_plain_python_raises(xs: list[int]) -> None:
    try:
        expected: Any = bad_arity(xs)
    except ValueError as exc:
        expected = repr(exc)
    jitted = wavejit.jit(bad_arity)
    for _ in range(2):
        try:
            got: Any = jitted(xs)
        except ValueError as exc:
            got = repr(exc)
        assert got == expected


def test_a_constructor_that_changes_its_argument_keeps_its_place() -> None:
    jitted = wavejit.jit(logged)
    for _ in range(2):
        assert jitted([1, 2]) == logged([1, 2])


@pytest.mark.concurrency
def test_async_unpacked_awaits_overlap() -> None:
    async def main(xs: list[int]) -> list[Any]:
        w1, s1 = await ajudge(xs[0])
        w2, s2 = await ajudge(xs[1])
        return [w1, s1, w2, s2]

    expected = asyncio.run(main([1, 2]))
    jitted = wavejit.jit(main)
    assert asyncio.run(jitted([1, 2])) == expected
    start = time.perf_counter()
    assert asyncio.run(jitted([1, 2])) == expected
    wall = time.perf_counter() - start
    assert wall < FAST, f"2 awaits of {LATENCY}s took {wall:.3f}s: they ran in order"
