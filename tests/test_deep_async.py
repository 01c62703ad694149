"""Deep jit in async code reaches a loop two levels down (``endpoint -> service ->
agent loop``, as web handlers are written; seekbot's todo agent).

Four awaits of `LATENCY` in the leaf's loop take 4 x LATENCY in order; jitted at the top
they must finish within `FAST` (two latencies of slack on a loaded 2-core machine), and
with every awaited call in place (``WAVEJIT_EXECUTOR=sequential``) the test fails.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

import wavejit

LATENCY = 0.05
FAST = 3 * LATENCY


async def tool(x: int) -> int:
    await asyncio.sleep(LATENCY)
    return x * 2


async def leaf(items: list[int]) -> list[int]:
    out = []
    for x in items:
        r = await tool(x)
        print("tool", x, r)
        out.append(r)
    return out


async def mid(items: list[int]) -> dict[str, Any]:
    return {"reply": await leaf(items)}


async def top(items: list[int]) -> dict[str, Any]:
    reply = await mid(items)
    print("done")
    return reply


@pytest.mark.concurrency
def test_a_loop_two_awaits_down_overlaps(capsys: pytest.CaptureFixture[str]) -> None:
    expected = asyncio.run(top([1, 2, 3, 4]))
    plain_out = capsys.readouterr().out
    jitted = wavejit.jit(top)
    assert asyncio.run(jitted([1, 2, 3, 4])) == expected
    capsys.readouterr()
    start = time.perf_counter()
    assert asyncio.run(jitted([1, 2, 3, 4])) == expected
    wall = time.perf_counter() - start
    assert capsys.readouterr().out == plain_out
    assert wall < FAST, f"4 awaits of {LATENCY}s took {wall:.3f}s: they ran in order"


class Chat:
    """An async chat object whose method reads its history, then appends to it."""

    def __init__(self) -> None:
        self.history: list[str] = []
        self.n = 0

    async def say(self, i: int) -> str:
        await asyncio.sleep(LATENCY * (3 - i) / 3)  # later calls would finish first
        line = f"{i}@{len(self.history)}"
        self.history.append(line)
        self.n += 1
        return line


def test_async_methods_that_change_their_object_keep_program_order() -> None:
    async def main() -> Any:
        chat = Chat()
        out = [await chat.say(i) for i in range(3)]
        return out, chat.n, chat.history

    expected = asyncio.run(main())
    jitted = wavejit.jit(main)
    for _ in range(3):
        assert asyncio.run(jitted()) == expected == (
            ["0@0", "1@1", "2@2"], 3, ["0@0", "1@1", "2@2"])
