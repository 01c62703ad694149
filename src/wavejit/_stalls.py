"""Stalls: where the function's own code waited for a deferred call's result while
calls it makes later had not been issued yet -- what `explain()` shows a user who asks
why two independent calls did not overlap (``title = ask(q); save(title)`` before
``answer = council(q)``: the save waited for the title, and only then was the council
called).

The runtime notes a wait only when it blocks (the result has not arrived): the line of
the program that waited (the first frame outside this package), the call waited for,
how many deferred calls had been made by then, and how long it took. `stall_records`
turns those into `Stall` s for the invocation's `RunRecord`, keeping the waits after
which more deferred calls were made (1 ms or longer, longest first).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

from ._report import Stall

__all__ = ["waiting", "stall_records"]

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_SHORTEST = 0.001  # seconds: shorter waits are noise, not what serialized anything


def caller_line() -> str:
    """``file.py:LINE`` of the nearest frame outside wavejit (the program's code)."""
    frame = sys._getframe(1)  # (within this package or `waiting`'s contextlib: skipped)
    while frame is not None and (
        os.path.dirname(frame.f_code.co_filename) == _PACKAGE_DIR
        or frame.f_code.co_filename == contextlib.__file__
    ):
        frame = frame.f_back  # type: ignore[assignment]
    if frame is None:
        return "?"
    return f"{os.path.basename(frame.f_code.co_filename)}:{frame.f_lineno}"


@contextlib.contextmanager
def waiting(inv: Any, pending: Any) -> Iterator[None]:
    """Around a wait of `inv`'s own code that blocks on `pending`: note it in
    ``inv.waits`` (the line, the call, the deferred calls made so far, the seconds)."""
    line, made, t0 = caller_line(), inv.deferred_count, time.perf_counter()
    try:
        yield
    finally:
        inv.waits.append((line, pending, made, time.perf_counter() - t0))


def stall_records(waits: list[tuple[str, Any, int, float]], deferred: int) -> list[Stall]:
    """`Stall` s from an invocation's ``(line, pending, deferred calls so far, seconds)``
    notes, `deferred` being its final count of deferred calls."""
    stalls = [Stall(line, pending.site.label, seconds, deferred - made)
              for line, pending, made, seconds in waits
              if deferred > made and seconds >= _SHORTEST and pending.site is not None]
    return sorted(stalls, key=lambda s: -s.seconds)
