"""Transparent ``with`` blocks: calls in the body of a context manager that never
suppresses overlap like calls in the function's own body (`wavejit._withs`).

Every test compares with the undecorated function (results, stdout). The overlap tests
make four calls of `LATENCY` in a loop inside the block: in order they take 4 x LATENCY;
jitted they must finish within `FAST` (three latencies of slack for thread start-up on
a loaded 2-core machine); with every deferred call inline they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

import pytest

import wavejit
from overlap import assert_overlapped
from wavejit._withs import transparent

LATENCY = 0.05
FAST = 3 * LATENCY


class Timer:
    """A user's timer, as in real programs: its __exit__ returns nothing."""

    def __enter__(self) -> Timer:
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        self.elapsed = time.perf_counter() - self.start

    async def __aenter__(self) -> Timer:
        return self.__enter__()

    async def __aexit__(self, *exc: object) -> None:
        self.__exit__(*exc)


class Swallow:
    """A context manager that suppresses: the body's later bindings must not exist."""

    def __enter__(self) -> None:
        return None

    def __exit__(self, *exc: object) -> bool:
        return True


@contextlib.contextmanager
def span(name: str) -> Any:
    print("start", name)
    yield
    print("end", name)


@wavejit.io
def fetch(x: int) -> int:
    time.sleep(LATENCY)
    if x < 0:
        raise ValueError(x)
    return x * 2


async def afetch(x: int) -> int:
    await asyncio.sleep(LATENCY)
    return x * 2


def timed_loop(xs: list[int]) -> list[int]:
    with Timer():
        out = []
        for x in xs:
            r = fetch(x)
            print(x, r)
            out.append(r)
    return out


def in_span(xs: list[int]) -> int:
    with span("all"):
        a = fetch(xs[0])
        b = fetch(xs[1])
        c = fetch(xs[2])
        d = fetch(xs[3])
    return a + b + c + d


def suppressed(xs: list[int]) -> Any:
    a = b = None
    with Swallow():
        a = fetch(xs[0])
        b = fetch(xs[1])  # raises for -1: plain never binds b, nor c
        c = fetch(xs[2])
        return a, b, c
    return a, b


def in_try(xs: list[int]) -> Any:
    b = None
    try:
        with Timer():
            a = fetch(xs[0])
            b = fetch(xs[1])
            return a, b
    except ValueError:
        return "handled", b


def _compare(fn: Any, xs: list[int], capsys: pytest.CaptureFixture[str]) -> tuple[Any, float]:
    expected = fn(xs)
    plain_out = capsys.readouterr().out
    jitted = wavejit.jit(fn)
    jitted(xs)
    capsys.readouterr()
    start = time.perf_counter()
    got = jitted(xs)
    wall = time.perf_counter() - start
    assert got == expected
    assert capsys.readouterr().out == plain_out
    return jitted, wall


@pytest.mark.concurrency
@pytest.mark.parametrize("fn", [timed_loop, in_span], ids=["timer-loop", "contextmanager"])
def test_calls_in_a_block_that_never_suppresses_overlap(
    fn: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    jitted, wall = _compare(fn, [1, 2, 3, 4], capsys)
    assert_overlapped(jitted, deferred=4, together=2)
    assert wall < FAST, f"4 calls of {LATENCY}s took {wall:.3f}s: they ran in order"


@pytest.mark.parametrize("xs", [[1, 2, 3], [1, -1, 3]], ids=["ok", "failing"])
def test_a_suppressing_block_keeps_program_order(
    xs: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    _compare(suppressed, xs, capsys)


@pytest.mark.parametrize("xs", [[1, 2], [1, -1]], ids=["ok", "failing"])
def test_a_block_inside_try_keeps_its_bindings_exact(
    xs: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    _compare(in_try, xs, capsys)


@pytest.mark.concurrency
def test_async_with_a_timer_overlaps_its_awaits() -> None:
    async def main(xs: list[int]) -> list[int]:
        async with Timer():
            out = []
            for x in xs:
                out.append(await afetch(x))
        return out

    expected = asyncio.run(main([1, 2, 3, 4]))
    jitted = wavejit.jit(main)
    asyncio.run(jitted([1, 2, 3, 4]))
    start = time.perf_counter()
    assert asyncio.run(jitted([1, 2, 3, 4])) == expected
    wall = time.perf_counter() - start
    assert wall < FAST, f"4 awaits of {LATENCY}s took {wall:.3f}s: they ran in order"


def test_which_context_managers_are_transparent() -> None:
    import ast

    judge = transparent({"Timer": Timer, "Swallow": Swallow, "span": span,
                         "contextlib": contextlib, "lock": __import__("threading").Lock()})

    def of(source: str) -> bool:
        return judge(ast.parse(source, mode="eval").body)

    assert of("Timer()") and of("span('x')") and of("open('f')") and of("lock")
    assert not of("Swallow()")
    assert not of("contextlib.suppress(ValueError)")
    assert not of("something_unknown()") and not of("obj.method()")


@contextlib.contextmanager
def quiet() -> Any:
    with contextlib.suppress(ValueError):  # swallows the body's failure
        yield


def in_quiet(xs: list[int]) -> Any:
    a: Any = "init"
    b: Any = "init"
    with quiet():
        a = fetch(xs[0])
        b = fetch(xs[1])
    return a, b


def test_a_contextmanager_yielding_inside_a_suppressing_block_is_not_transparent(
    capsys: pytest.CaptureFixture[str],
) -> None:
    for xs in ([-1, 2], [1, 2]):
        _compare(in_quiet, xs, capsys)
