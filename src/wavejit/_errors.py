"""The exception hierarchy.

Every error wavejit raises itself derives from `WavejitError`; where one resembles a
built-in error it inherits that too, so ``except ValueError`` keeps working.
Exceptions raised by user code are never wrapped: they propagate as the same object,
with a note added (Python >= 3.11) naming where they came from.
"""

from __future__ import annotations

import sys
from typing import NoReturn

__all__ = ["WavejitError", "CycleError", "GraphError", "CancelledError", "InvocationTimeout",
           "add_note", "reraise", "chain_to_handled"]


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


def reraise(exc: BaseException) -> NoReturn:
    """Raise `exc`, which a deferred call raised elsewhere, with its ``__context__`` kept.

    A ``raise`` in an except or finally block makes the exception being handled the
    raised one's context. Plain Python raised `exc` inside the call, where its context
    was set, and propagating it out of the call changed nothing."""
    context = exc.__context__
    try:
        raise exc
    finally:
        exc.__context__ = context


def chain_to_handled(exc: BaseException, handled: BaseException | None) -> None:
    """Make the link plain Python made when its caller was handling `handled` as it made
    the call (which then ran where nothing was handled): the first exception raised in
    the call, the end of `exc`'s context chain, gets `handled` as its context.

    Nothing changes if `handled` is already on the chain (the call re-raised it), or if
    the link would close a cycle (one of the chain's exceptions is on `handled`'s own
    chain: CPython would cut that link instead, which this does not imitate)."""
    if handled is None:  # the caller handled nothing: nothing to link
        return
    chain: set[int] = set()
    end = exc
    while True:
        if end is handled:
            return
        chain.add(id(end))
        context = end.__context__
        if context is None:
            break
        if id(context) in chain:
            return  # already a cycle (made by hand): leave it
        end = context
    outer: BaseException | None = handled
    seen: set[int] = set()
    while outer is not None and id(outer) not in seen:
        if id(outer) in chain:
            return
        seen.add(id(outer))
        outer = outer.__context__
    end.__context__ = handled


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
