"""Issue ahead, retire in order: the run-time half of loop distribution (`_loops`).

A distributed ``for`` loop runs in two phases (the rewrite emits both):

1. **Issue.** For every item: the loop's prefix and hoisted calls run, with the
   invocation in *issuing* mode. Each item gets an `IssueGroup`; what the item spawns
   goes into the group, split in *parts* (part 0: the prefix; part K: the K-th hoisted
   call), and is held until the item's issue is complete, then submitted. Nothing may
   run ahead that plain Python would have run later with an observable effect:

   * a deferred call with no effects on the caller's objects is issued;
   * a call that may have effects, or is not deferred and may have effects, is
     *gated*: created, never submitted, run inline when it is retired (in order);
   * a hook that would block (waiting for a result) or run an effect now raises
     `StopIssue`: the item's group is dropped (its held calls cancelled: none has
     started) and the remaining items run through the ordinary loop, in order;
   * an exception from the prefix is kept and raised when the item is retired; one
     from a hoisted call's arguments, when that call is taken.

2. **Retire.** For every issued item, in order: `retire` links the item's part 0 into
   the invocation (appends its pendings to ``spawned``, registers what they borrow,
   runs its gated calls), so barriers and failures see calls in program order; then
   the rest of the body runs, and ``take`` links each hoisted call at its own place.

Groups not retired when the invocation ends (the body raised) are settled: unstarted
calls cancelled, started ones waited for; their failures are not reported (plain
Python never made those calls).
"""

from __future__ import annotations

import threading
from typing import Any

from ._output import Slot

__all__ = ["StopIssue", "IssueGroup", "HoistFailure", "IssueHooks", "Progress", "is_progress_bar",
           "materialized_items"]


class StopIssue(Exception):
    """Raised by a hook in issuing mode: this item cannot be issued ahead."""


class HoistFailure:
    """The value of a hoisted call whose arguments raised: raised again when taken."""

    __slots__ = ("exc",)

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc


class IssueHooks:
    """The issue hooks the sync and async invocations share (mixed into both)."""

    __slots__ = ()

    def issue_commit(self, group: IssueGroup) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def _link(self, group: IssueGroup, index: int) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    def issue_failed(self, group: IssueGroup, exc: BaseException) -> None:
        """The item's prefix raised: raise it when the item is retired."""
        group.failure = exc
        self.issue_commit(group)

    def hoist_failed(self, group: IssueGroup, exc: BaseException) -> HoistFailure:
        """A hoisted call's arguments raised: raise it where the call is taken."""
        group.failure = exc
        group.hoist_failure = True
        return HoistFailure(exc)

    def take(self, group: IssueGroup, index: int, value: Any) -> Any:
        """A hoisted call's place in program order: link it; its value (maybe pending)."""
        self._link(group, index)
        if type(value) is HoistFailure:
            raise value.exc
        return value


class IssueGroup:
    """What one loop item issued ahead, per part, until it is retired."""

    __slots__ = ("parts", "borrows", "held", "committed", "failure", "hoist_failure",
                 "lock", "part", "outputs", "seq", "stretch", "token", "effects")

    def __init__(self) -> None:
        self.parts: list[list[Any]] = [[]]  # Pendings per part, in spawn order
        self.borrows: list[tuple[Any, Any, bool]] = []  # (object, Pending, may_mutate)
        self.held: list[Any] = []  # ready to run, waiting for the item's issue to end
        self.committed = False
        self.failure: BaseException | None = None  # raised when retired (or taken)
        self.hoist_failure = False  # the failure is a hoisted call's: raised when taken
        self.lock = threading.Lock()
        self.part = 0
        # Output slots per part, in program order: the calls' and, between them, what
        # the caller wrote while issuing the item (linked with the part, see `_output`).
        self.outputs: list[list[Any]] = [[]]  # Slots, and gated Pendings as markers
        self.seq: Any = None  # the invocation's Sequencer
        self.stretch: Slot | None = None  # the caller's current stretch of output
        self.token: Any = None  # the output sink while the item is issued
        # It holds a gated call that writes module globals: no call after it, in this
        # item or a later one, may be issued ahead of it (it may read them).
        self.effects = False

    def add(self, pending: Any) -> None:
        self.parts[self.part].append(pending)

    def start_part(self, index: int) -> None:
        while len(self.parts) <= index:
            self.parts.append([])
            self.outputs.append([])
        self.part = index
        self.stretch = None

    def add_slot(self, slot: Any) -> None:
        """A call issued for this item: its output goes at its place in the part."""
        self.outputs[self.part].append(slot)
        self.stretch = None

    def write(self, index: int, text: str) -> None:
        """The caller's output while issuing the item (an inline call that prints):
        kept in a complete slot after the part's calls so far."""
        if self.stretch is None:
            self.stretch = Slot(self.seq)
            self.stretch.complete = True
            self.outputs[self.part].append(self.stretch)
        self.stretch.buffer.append((index, text))

    def hold(self, pending: Any) -> bool:
        """Keep `pending` until the item is committed; False if it already is."""
        with self.lock:
            if self.committed:
                return False
            self.held.append(pending)
            return True

    def commit(self) -> list[Any]:
        """The item's issue is complete: what was held may start now."""
        with self.lock:
            self.committed = True
            held, self.held = self.held, []
        return held

    def pendings(self) -> list[Any]:
        return [p for part in self.parts for p in part]


_MATERIALIZED = frozenset({list, tuple, range, str, bytes, dict, set, frozenset,
                           type({}.keys()), type({}.values()), type({}.items())})
_IMMUTABLE_ITEMS = frozenset({int, float, complex, str, bytes, bool, type(None), frozenset})
_WRAPPERS: dict[Any, int] = {enumerate: 1, zip: -1, reversed: 1}  # args that are iterables


def materialized_items(wrapper: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                       distinct: bool) -> list[Any] | None:
    """The loop's items as a list, if iterating can be done ahead without effects.

    `wrapper` is None (``args[0]`` is the iterable) or the object the source called
    ``enumerate`` / ``zip`` / ``reversed``, checked to be the builtin. Only containers
    (not generators, files or arbitrary iterables, whose iteration may have effects or
    never end) qualify. With `distinct`, the body mutates its items: mutable items
    must be distinct objects, or an issued call could read an item an earlier
    iteration changes.
    """
    if wrapper is None:
        iterable = args[0]
        if type(iterable) not in _MATERIALIZED:
            return None
        items = list(iterable)
    else:
        count = _WRAPPERS.get(wrapper)
        if count is None:
            return None
        sources = args if count < 0 else args[:count]
        if not sources or any(type(s) not in _MATERIALIZED for s in sources):
            return None
        items = list(wrapper(*args, **kwargs))
    if distinct and not _distinct(items):
        return None
    return items


def _distinct(items: list[Any]) -> bool:
    seen: set[int] = set()
    stack = list(items)
    while stack:
        x = stack.pop()
        t = type(x)
        if t in _IMMUTABLE_ITEMS:
            continue
        if t is tuple:
            stack.extend(x)
            continue
        if id(x) in seen:
            return False
        seen.add(id(x))
    return True


def is_progress_bar(wrapper: Any) -> bool:
    """``tqdm(xs)`` and its kin: an iterable that yields ``xs``'s items and reports."""
    module = getattr(wrapper, "__module__", None) or ""
    return module == "tqdm" or module.startswith("tqdm.")


class Progress:
    """A progress bar of a loop issued ahead: one step per retired item, then the
    ordinary loop takes the rest of its items (none, if the loop raised)."""

    __slots__ = ("iterator", "finished")

    def __init__(self, iterable: Any) -> None:
        self.iterator = iter(iterable)
        self.finished = False

    def step(self) -> None:
        next(self.iterator, None)

    def __iter__(self) -> Any:
        return iter(()) if self.finished else self.iterator
