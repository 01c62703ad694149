"""Operators under @jit: members of an ensemble run concurrently, nested ones compose.

Margins: L = 0.1 s; a 4-member ensemble plus a judge must beat 3.5 L (sequential is
5 L, ideal 2 L) on a loaded 2-core machine.
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import wavejit
from wavejit import Operator

L = 0.1


def llm(prompt: str) -> str:
    time.sleep(L)
    return f"<{prompt}>"


class Member(Operator):
    def __init__(self, name: str) -> None:
        self.name = name

    def forward(self, q: str) -> str:
        return llm(f"{self.name}:{q}")


class Judge(Operator):
    def forward(self, q: str, answers: list[str]) -> str:
        return llm(f"judge {q} among {len(answers)}: {max(answers)}")


class Ensemble(Operator):
    def __init__(self, members: list[Operator], judge: Operator) -> None:
        self.members = members
        self.judge = judge

    def forward(self, q: str) -> str:
        answers = [m(q) for m in self.members]
        verdict: str = self.judge(q, answers)  # (Operator.__call__ returns Any)
        return verdict


def make() -> Ensemble:
    return Ensemble([Member(f"m{i}") for i in range(4)], Judge())


def timed(fn: Any, *args: Any) -> tuple[Any, float]:
    start = time.perf_counter()
    result = fn(*args)
    return result, time.perf_counter() - start


def test_sub_operators_are_found() -> None:
    ens = make()
    assert ens.sub_operators() == [*ens.members, ens.judge]


def test_forward_is_required() -> None:
    with pytest.raises(NotImplementedError, match="must define forward"):
        Operator()()


def test_jit_on_an_instance() -> None:
    expected = make()("q")
    result, elapsed = timed(wavejit.jit(make()), "q")
    assert result == expected
    assert elapsed < 3.5 * L


def test_jit_on_forward() -> None:
    class Jitted(Ensemble):
        @wavejit.jit
        def forward(self, q: str) -> str:
            answers = [m(q) for m in self.members]
            verdict: str = self.judge(q, answers)
            return verdict

    ens = Jitted([Member(f"m{i}") for i in range(4)], Judge())
    result, elapsed = timed(ens, "q")
    assert result == make()("q")
    assert elapsed < 3.5 * L


def test_jit_on_the_class_and_nested_operators() -> None:
    @wavejit.jit
    class Outer(Operator):
        def __init__(self) -> None:
            self.inner = [make(), make()]

        def forward(self, q: str) -> list[str]:
            return [e(q) for e in self.inner]

    expected = [make()("q"), make()("q")]
    result, elapsed = timed(Outer(), "q")
    assert result == expected
    # Both ensembles in parallel, each fanning out: 2 L ideal, 10 L sequential.
    assert elapsed < 4 * L
