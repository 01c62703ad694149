"""Methods called on a result that has not arrived run as continuations only when they
read the result's own data (`_rewrite._GLUE_METHODS`: ``strip``, ``model_dump``...).
Any other method may change the result or state elsewhere; it used to run as unordered
glue (found by an adversarial review): a method that counts its calls returned its
counts swapped, a ``log`` that appends to a module list wrote after the caller read
the list, a ``finish()`` that sets a flag was read before it ran. Each program is
compared with plain Python over several calls (the races were intermittent)."""

from __future__ import annotations

import time
from typing import Any

import pytest

import wavejit

EVENTS: list[Any] = []


class Resp:
    def __init__(self, v: int) -> None:
        self.v = v
        self.reads = 0
        self.done = False

    def text(self) -> int:
        self.reads += 1
        return self.reads

    def finish(self) -> None:
        self.done = True

    def log(self, tag: str) -> None:
        EVENTS.append((tag, self.v))


@wavejit.io
def fetch(x: int) -> Resp:
    time.sleep(0.02 - 0.005 * x)  # later calls finish first
    return Resp(x)


def counts() -> Any:
    r = fetch(0)
    a = r.text()
    b = r.text()
    return a, b, r.reads


def logs() -> Any:
    r1 = fetch(0)
    r2 = fetch(1)
    r1.log("a")
    r2.log("b")
    return list(EVENTS)


def flag() -> Any:
    r = fetch(0)
    r.finish()
    return r.done


@pytest.mark.parametrize("fn", [counts, logs, flag])
def test_a_method_that_changes_state_keeps_program_order(fn: Any) -> None:
    EVENTS.clear()
    expected = fn()
    jitted = wavejit.jit(fn)
    for _ in range(8):
        EVENTS.clear()
        assert jitted() == expected
