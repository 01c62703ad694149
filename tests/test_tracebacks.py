"""A deferred call's exception reaches the user with the callee's frames and the
user's own lines, and no frame of wavejit's (see `wavejit._traceback`)."""

from __future__ import annotations

import asyncio
import os
import sys
import time
import traceback

import pytest

import wavejit
import wavejit._traceback

WAVEJIT_DIR = os.path.dirname(os.path.abspath(wavejit.__file__))
HERE = os.path.abspath(__file__)


def frames(exc: BaseException) -> list[traceback.FrameSummary]:
    return traceback.extract_tb(exc.__traceback__)


def wavejit_frames(exc: BaseException) -> list[str]:
    """The frames from wavejit's own modules (wavejit.bench is not one)."""
    return [f"{f.filename}:{f.lineno} {f.name}" for f in frames(exc)
            if os.path.dirname(os.path.abspath(f.filename)) == WAVEJIT_DIR]


def here(exc: BaseException) -> list[tuple[str, str | None]]:
    """(function, source line) of each frame in this file, outermost first (without
    the comprehension's own frame, which Python 3.12 no longer has)."""
    return [(f.name, (f.line or "").strip()) for f in frames(exc)
            if os.path.abspath(f.filename) == HERE and f.name != "<listcomp>"]


def fetch(x: int) -> int:
    time.sleep(0.01)  # known I/O: the call is deferred
    return check(x)


def check(x: int) -> int:
    if x == 2:
        raise ValueError(f"bad {x}")
    return x


def total_of(xs: list[int]) -> int:
    results = [fetch(x) for x in xs]  # deferred: fails on a worker thread
    total = 0
    for r in results:
        total += r  # first use: the failure is raised here
    return total


def handled(xs: list[int]) -> list[tuple[str, str | None]]:
    try:
        values = [fetch(x) for x in xs]  # deferred, waited for within the statement
        return [("values", str(values))]
    except ValueError as exc:
        return here(exc)


def test_the_traceback_has_the_callee_and_the_users_line_and_no_wavejit_frame() -> None:
    with pytest.raises(ValueError) as info:
        total_of([1, 2, 3])
    plain = here(info.value)
    with pytest.raises(ValueError) as info:
        wavejit.jit(total_of)([1, 2, 3])
    exc = info.value
    assert wavejit_frames(exc) == []
    # The test, the user's line (the first use of the result: plain Python raised at
    # the call itself, which the note names), then the callee's own frames.
    assert here(exc) == [
        (plain[0][0], "wavejit.jit(total_of)([1, 2, 3])"),
        ("total_of", "total += r  # first use: the failure is raised here"),
        ("fetch", "return check(x)"),
        ("check", 'raise ValueError(f"bad {x}")'),
    ]
    assert plain[1:] == [("total_of", "results = [fetch(x) for x in xs]  # deferred: fails "
                                      "on a worker thread"), *here(exc)[2:]]
    # Handled inside the jitted function: the handler sees what plain Python's sees.
    assert wavejit.jit(handled)([1, 2, 3]) == handled([1, 2, 3])
    if sys.version_info >= (3, 11):
        assert exc.__notes__ == [
            "wavejit: raised by the deferred call at test_tracebacks.py:50 fetch(x)"]


def test_without_trimming_the_test_sees_wavejit_frames(monkeypatch: pytest.MonkeyPatch) -> None:
    # The assertion above can fail: this is what it would see untrimmed.
    monkeypatch.setattr(wavejit._traceback, "_KEEP_ALL", True)
    with pytest.raises(ValueError) as info:
        wavejit.jit(total_of)([1, 2, 3])
    assert len(wavejit_frames(info.value)) >= 3


def earliest(x: int) -> int:
    a = fetch(2)  # fails last (it sleeps longer), but first in program order
    b = fast_fail(x)
    return b + a  # b's failure is raised here first; a's is the one plain Python raises


def fast_fail(x: int) -> int:
    time.sleep(0.001)
    raise KeyError(x)


def test_the_earliest_failure_is_trimmed_too() -> None:
    with pytest.raises(ValueError) as info:
        wavejit.jit(earliest)(1)
    assert wavejit_frames(info.value) == []
    assert [name for name, _ in here(info.value)] == [
        "test_the_earliest_failure_is_trimmed_too", "earliest", "fetch", "check"]


async def afetch(x: int) -> int:
    await asyncio.sleep(0.01)
    return check(x)


async def atotal_of(xs: list[int]) -> int:
    results = [await afetch(x) for x in xs]
    total = 0
    for r in results:
        total += r
    return total


def test_async_tracebacks_are_trimmed() -> None:
    with pytest.raises(ValueError) as info:
        asyncio.run(wavejit.jit(atotal_of)([1, 2, 3]))
    exc = info.value
    assert wavejit_frames(exc) == []
    assert [name for name, _ in here(exc)] == [
        "test_async_tracebacks_are_trimmed", "atotal_of", "afetch", "check"]


def test_a_plain_jitted_function_adds_no_frame() -> None:
    jitted = wavejit.jit(check, enabled=False)
    with pytest.raises(ValueError) as info:
        jitted(2)
    assert wavejit_frames(info.value) == []
    assert [name for name, _ in here(info.value)] == [
        "test_a_plain_jitted_function_adds_no_frame", "check"]
