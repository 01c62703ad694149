"""Journaled methods: an LLM wrapper that keeps books on ``self`` still overlaps.

``self.total += n`` / ``self.history.append(...)`` in the method used to keep every
call on one object in program order. The jit now records such blind writes and replays
them in program order (`wavejit._journal`). Every test compares with the undecorated
function: results, the object's state, the exception raised. The overlap tests make
four calls of `LATENCY`: in order they take 4 x LATENCY; jitted they must finish within
`FAST`, three latencies of slack for thread start-up on a loaded 2-core machine, and
run with every deferred call inline (``WAVEJIT_EXECUTOR=sequential``) they fail.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import wavejit
from overlap import assert_overlapped

LATENCY = 0.05
FAST = 3 * LATENCY


@wavejit.io
def fetch(x: int, delay: float = LATENCY) -> int:
    time.sleep(delay)
    if x < 0:
        raise ValueError(f"bad input {x}")
    return x * 2


class Bot:
    """The shape of real wrappers: a client call, then bookkeeping on self."""

    prefix = ""  # a class-level setting the method reads

    def __init__(self) -> None:
        self.total = 0
        self.calls = 0
        self.history: list[tuple[int, int]] = []
        self.last: int | None = None
        self.model = "m-1"

    def chat(self, x: int, delay: float = LATENCY) -> int:
        self.calls += 1  # before the request: counted even when it fails
        r = fetch(x, delay) if not self.prefix else -1
        self.total += r
        self.history.append((x, r))
        self.last = r
        return r

    def chat_reads_total(self, x: int) -> int:
        r = fetch(x)
        self.total += r
        return r + self.total  # reads what it writes: not journaled

    def describe(self) -> str:
        return f"{self.model}: {self.total} over {self.calls} call(s)"


def _state(bot: Bot) -> tuple[Any, ...]:
    return bot.total, bot.calls, bot.history, bot.last


def fan_out(bot: Bot, xs: list[int]) -> list[int]:
    return [bot.chat(x) for x in xs]


def loop(bot: Bot, xs: list[int]) -> list[int]:
    out = []
    for x in xs:
        out.append(bot.chat(x))
    return out


def out_of_order(bot: Bot, xs: list[int]) -> list[int]:
    # Later calls finish first: the history must still be in call order.
    return [bot.chat(x, LATENCY * (len(xs) - i)) for i, x in enumerate(xs)]


def reads_between(bot: Bot, xs: list[int]) -> list[Any]:
    out: list[Any] = []
    for x in xs:
        r = bot.chat(x)
        out.append(r)
        out.append(bot.total)  # the caller reads the books after each call
    return out


def reads_own_writes(bot: Bot, xs: list[int]) -> list[int]:
    return [bot.chat_reads_total(x) for x in xs]


def _run_both(fn: Any, xs: list[int]) -> tuple[Any, Any, Any, Any, float]:
    plain_bot, jit_bot = Bot(), Bot()
    expected = fn(plain_bot, xs)
    jitted = wavejit.jit(fn)
    jitted(Bot(), xs)  # learn: the first calls may be measured inline
    start = time.perf_counter()
    got = jitted(jit_bot, xs)
    wall = time.perf_counter() - start
    return expected, got, _state(plain_bot), (_state(jit_bot), jitted), wall


@pytest.mark.concurrency
@pytest.mark.parametrize("fn", [fan_out, loop], ids=["comprehension", "loop"])
def test_calls_that_keep_books_on_self_overlap(fn: Any) -> None:
    expected, got, plain_state, (jit_state, jitted), wall = _run_both(fn, [1, 2, 3, 4])
    assert got == expected
    assert jit_state == plain_state
    assert_overlapped(jitted, deferred=4, together=2)
    assert wall < FAST, f"4 calls of {LATENCY}s took {wall:.3f}s: they ran in order"
    assert "journaled" in str(jitted.explain())


def test_writes_are_replayed_in_call_order_not_completion_order() -> None:
    expected, got, plain_state, (jit_state, _), _ = _run_both(out_of_order, [1, 2, 3, 4])
    assert got == expected
    assert jit_state == plain_state  # history [(1, 2), (2, 4), ...] and last == 8


def test_the_caller_reading_the_object_sees_every_earlier_write() -> None:
    expected, got, plain_state, (jit_state, _), _ = _run_both(reads_between, [1, 2, 3])
    assert got == expected == [2, 2, 4, 6, 6, 12]
    assert jit_state == plain_state


def test_a_method_reading_what_it_writes_is_not_journaled() -> None:
    expected, got, plain_state, (jit_state, jitted), _ = _run_both(
        reads_own_writes, [1, 2, 3])
    assert got == expected
    assert jit_state == plain_state
    assert "journaled" not in str(jitted.explain())


@pytest.mark.parametrize("fn", [fan_out, loop], ids=["comprehension", "loop"])
def test_a_failing_call_keeps_its_earlier_writes_and_later_calls_leave_none(fn: Any) -> None:
    # Plain: the call on -1 counts itself (self.calls += 1), then raises; the call on
    # 5 is never made. Jitted, the call on 5 may already have run: its writes must not
    # be replayed.
    xs = [1, -1, 5]
    plain_bot = Bot()
    with pytest.raises(ValueError) as plain_error:
        fn(plain_bot, xs)
    jitted = wavejit.jit(fn)
    jitted(Bot(), [1, 2, 3])  # learn first
    jit_bot = Bot()
    with pytest.raises(ValueError) as jit_error:
        jitted(jit_bot, xs)
    assert str(jit_error.value) == str(plain_error.value)
    assert _state(jit_bot) == _state(plain_bot) == (2, 2, [(1, 2)], 2)


def test_an_attribute_the_method_reads_that_is_not_shareable_keeps_program_order() -> None:
    class Memory(Bot):
        def __init__(self) -> None:
            super().__init__()
            self.notes: list[str] = ["a"]

        def chat(self, x: int, delay: float = LATENCY) -> int:
            r = fetch(x + len(self.notes), delay)  # reads a list another call may change
            self.total += r
            return r

    def run(bot: Memory, xs: list[int]) -> list[int]:
        return [bot.chat(x) for x in xs]

    plain_bot, jit_bot = Memory(), Memory()
    expected = run(plain_bot, [1, 2])
    jitted = wavejit.jit(run)
    jitted(Memory(), [1, 2])
    assert jitted(jit_bot, [1, 2]) == expected
    assert jit_bot.total == plain_bot.total
    assert "journaled" not in str(jitted.explain())


def test_the_journal_plan_reads_the_rules_from_the_source() -> None:
    from wavejit._journal import plan

    bot = Bot()
    journaled = plan(bot.chat)
    assert journaled is not None
    assert journaled.writes == {"total", "calls", "history", "last"}
    assert journaled.admits(bot, lambda v: isinstance(v, (str, int)))
    assert plan(bot.chat_reads_total) is None
    assert plan(bot.describe) is None  # writes nothing: nothing to journal
    bot.history = "not a list"  # type: ignore[assignment]
    assert not journaled.admits(bot, lambda v: True)  # append on a str: keep order


class Logged(Bot):
    sink: list[int] = []  # shared by every object: a change of its own

    def chat(self, x: int, delay: float = LATENCY) -> int:
        r = fetch(x, LATENCY * (5 - x) / 4)
        Logged.sink.append(r)
        self.total += r
        return r


def test_a_method_that_also_changes_shared_state_is_not_journaled() -> None:
    def run(bot: Logged, xs: list[int]) -> list[int]:
        return [bot.chat(x) for x in xs]

    expected = run(Logged(), [1, 2, 3, 4])
    plain_sink = list(Logged.sink)
    jitted = wavejit.jit(run)
    for _ in range(2):
        Logged.sink.clear()
        assert jitted(Logged(), [1, 2, 3, 4]) == expected
        assert Logged.sink == plain_sink == [2, 4, 6, 8]
