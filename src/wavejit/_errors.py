"""The exception hierarchy.

Every error wavejit raises itself derives from `WavejitError`; where one resembles a
built-in error it inherits that too, so ``except ValueError`` keeps working.
Exceptions raised by user code are never wrapped: they propagate as the same object,
with a note added (Python >= 3.11) naming where they came from.
"""

from __future__ import annotations

import sys

__all__ = ["WavejitError", "CycleError", "GraphError", "CancelledError", "InvocationTimeout",
           "add_note"]


class WavejitError(Exception):
    """Base class of the errors wavejit raises itself."""


class GraphError(WavejitError, ValueError):
    """A Graph is malformed: a foreign node, a bad argument."""


class CycleError(GraphError):
    """The graph has a cycle; ``.cycle`` lists the nodes on it, first repeated last."""

    def __init__(self, message: str, cycle: list[object]) -> None:
        super().__init__(message)
        self.cycle = cycle


class CancelledError(WavejitError):
    """The task was cancelled before it started (a sibling failed first)."""


def add_note(exc: BaseException, note: str) -> None:
    """Attach `note` to `exc` once (Python >= 3.11; a no-op on 3.10)."""
    if sys.version_info >= (3, 11):
        notes = getattr(exc, "__notes__", ())
        if note not in notes:
            exc.add_note(note)


class InvocationTimeout(WavejitError, TimeoutError):
    """A jitted function ran past its ``jit(timeout=...)`` (a builtin ``TimeoutError``).

    Its deferred calls that had not started were cancelled; those in flight finish in
    the background, their results dropped.
    """

    def __init__(self, message: str, invocation: object = None) -> None:
        super().__init__(message)
        self.invocation = invocation  # the one that timed out (nested ones propagate)

    def __reduce__(self) -> tuple[object, ...]:
        return InvocationTimeout, self.args  # the invocation stays behind
