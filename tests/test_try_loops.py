"""Loops in ``try`` bodies are issued ahead, their items retired strictly in order.

Real helpers wrap their whole body in ``try: ... except Exception as e: print(e);
return []`` (3 of 5 programs transcribed this round). Every test compares with the
undecorated function: result, stdout, and the exception handled; failures are placed
at every position. The overlap test makes four calls of `LATENCY`: in order 4 x LATENCY,
jitted within `FAST` (three latencies of slack for thread start-up on a loaded 2-core
machine); with every deferred call inline it fails.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import wavejit
from overlap import assert_overlapped

LATENCY = 0.03
FAST = 3 * LATENCY


@wavejit.io
def fetch(x: int) -> dict[str, Any]:
    time.sleep(LATENCY * (1 + (x % 3)))  # finish out of order
    if x < 0:
        raise ValueError(f"bad {x}")
    return {"name": f"n{x}"}


@wavejit.io
def notify(x: int) -> None:
    time.sleep(LATENCY)
    if x < 0:
        raise ValueError(f"cannot notify {x}")


async def afetch(x: int) -> dict[str, Any]:
    await asyncio.sleep(LATENCY * (1 + (x % 3)))
    if x < 0:
        raise ValueError(f"bad {x}")
    return {"name": f"n{x}"}


def places(xs: list[int]) -> list[Any]:
    out: list[Any] = []
    try:
        for x in xs:
            print("asking", x)
            d = fetch(x)
            print("got", d["name"])
            out.append(d.get("name"))
        return out
    except ValueError as e:
        print("failed:", e)
        return ["partial", *out]


def prefix_first(xs: list[int]) -> list[Any]:
    out: list[Any] = []
    try:
        for x in xs:
            d = fetch(x)  # the prefix: issued ahead, settled before the item's body
            print("item", x)
            out.append(d["name"])
    except ValueError as e:
        print("failed:", e)
    return out


def bare_calls(xs: list[int]) -> list[int]:
    done: list[int] = []
    try:
        for x in xs:
            notify(x)  # a result nobody uses: its failure is still raised at its place
            print("notified", x)
            done.append(x)
    except ValueError as e:
        print("stopped:", e)
    return done


def handler_reads_the_loop(xs: list[int]) -> Any:
    d = None
    try:
        for x in xs:
            d = fetch(x)
    except ValueError:
        return "handled", d  # reads a name the loop binds: the loop runs in order
    return d


CASES = [[1, 2, 3, 4], [-1, 2, 3], [1, 2, -3, 4], [1, 2, 3, -4]]


@pytest.mark.parametrize("fn", [places, prefix_first, bare_calls, handler_reads_the_loop])
@pytest.mark.parametrize("xs", CASES, ids=["ok", "first", "middle", "last"])
def test_a_loop_in_a_try_body_gives_the_plain_answer_and_output(
    fn: Any, xs: list[int], capsys: pytest.CaptureFixture[str]
) -> None:
    expected = fn(xs)
    plain_out = capsys.readouterr().out
    jitted = wavejit.jit(fn)
    for _ in range(2):
        assert jitted(xs) == expected
        assert capsys.readouterr().out == plain_out


@pytest.mark.concurrency
def test_a_loop_in_a_try_body_overlaps(capsys: pytest.CaptureFixture[str]) -> None:
    jitted = wavejit.jit(places)
    jitted([1, 2, 3, 4])
    start = time.perf_counter()
    assert jitted([3, 6, 9, 12]) == places([3, 6, 9, 12])
    wall = time.perf_counter() - start
    assert_overlapped(jitted, deferred=4, together=2)
    assert "issued ahead" in str(jitted.explain())
    # (plain's own run above is not timed: it ran after the jitted one)
    assert wall < FAST + 4 * LATENCY, f"took {wall:.3f}s: the calls ran in order"


def test_a_loop_whose_names_a_handler_reads_is_not_issued_ahead() -> None:
    jitted = wavejit.jit(handler_reads_the_loop)
    jitted([1, 2])
    assert "issued ahead" not in str(jitted.explain())


@pytest.mark.parametrize("xs", CASES, ids=["ok", "first", "middle", "last"])
def test_async_a_loop_in_a_try_body(xs: list[int], capsys: pytest.CaptureFixture[str]) -> None:
    async def main(xs: list[int]) -> list[Any]:
        out: list[Any] = []
        try:
            for x in xs:
                print("asking", x)
                d = await afetch(x)
                print("got", d["name"])
                out.append(d["name"])
        except ValueError as e:
            print("failed:", e)
        return out

    expected = asyncio.run(main(xs))
    plain_out = capsys.readouterr().out
    jitted = wavejit.jit(main)
    for _ in range(2):
        assert asyncio.run(jitted(xs)) == expected
        assert capsys.readouterr().out == plain_out


def deleted_after(xs: list[int]) -> str:
    try:
        for x in xs:
            d = fetch(x)
    except ValueError:
        pass
    try:
        del d  # a name the loop binds, used outside it: the loop runs in order
        return "deleted"
    except NameError:
        return "never bound"


def test_a_name_the_loop_binds_deleted_after_it_keeps_program_order() -> None:
    jitted = wavejit.jit(deleted_after)
    for xs in ([-1, 2], [1, 2]):
        assert jitted(xs) == deleted_after(xs)
