"""The runtime of a jitted invocation: deferred calls, waited for at first use.

The rewritten function (see `_rewrite`) creates one `Invocation` on entry and calls its
methods at the places the rewrite marked:

* ``call(site, f, *args, **kwargs)`` at a *candidate* call site (a call whose value is
  used lazily). The site's `Plan` decides, from the callee, whether to defer it. A
  deferred call becomes a `Pending` (a `Task`) submitted to the executor once the
  Pendings among its arguments have finished (data flow); otherwise the call runs
  inline, timed when the callee is still unclassified so that opaque I/O is promoted
  on the next invocation.
* ``wait(x)`` at a *strict* use (the value is needed): resolves a Pending, resolves the
  Pendings inside a container it registered as dirty (in place), and waits for
  deferred calls that borrowed the object (they may read or mutate it).
* ``shallow(x)`` where only the object's identity is needed (receiver of
  ``.append``): resolves a Pending itself but not the Pendings inside a container.
* ``new_list`` / ``new_dict`` / ``new_tuple`` / ``append`` / ``extend`` / ``insert`` /
  ``setitem``: the few places a Pending may be stored; a container that receives one
  is registered as dirty.
* ``barrier()`` at the entry and end of ``try`` and ``with`` bodies and before leaving
  them; ``fail(exc)`` when one raises; ``ret(value)`` at ``return``.

State: ``spawned`` lists every Pending in program order; ``settled`` is how many of
them a barrier has already accounted for (a Pending before it has finished and its
failure, if any, was raised or consumed). ``dirty`` maps id -> container holding
Pendings; ``borrowed`` maps id -> (object, [(Pending, may_mutate)]) for mutable objects
that outstanding deferred calls hold.

Exceptions: the one plain Python would raise first is raised. A failing call's
exception is raised (same object) at the first strict use of its result, or at the next
barrier; when the body raises, `fail` runs every Pending spawned before the failing
point and reports the earliest failure among them, and cancels those spawned after.
"""

from __future__ import annotations

import builtins
import contextlib
import functools
import operator
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import replace as _replace
from types import MethodType, ModuleType
from typing import Any

from . import _limits
from ._deep import bind_twin
from ._deep import has_something_to_overlap as overlaps_inside
from ._effects import external_effects as _external_effects
from ._effects import external_reads as _external_reads
from ._errors import CancelledError, InvocationTimeout, add_note, chain_to_handled, reraise
from ._executors import _CANCELLED, _FINISHED, Task
from ._hints import callee_key, is_io_client_type
from ._issue import (
    IssueGroup,
    IssueHooks,
    Progress,
    StopIssue,
    is_progress_bar,
    materialized_items,
)
from ._journal import apply as _apply_journal_entries
from ._journal import plan as _journal_plan
from ._journal import run_journaled as _run_journaled
from ._limits import run as _run_limited
from ._nested import nested_items, tail_items
from ._output import Slot
from ._output import _Stream as _OutputStream
from ._output import begin as _begin_output
from ._output import end as _end_output
from ._output import sink as _output_sink
from ._rowmap import NOT_HANDLED, ROW_MAPS, map_ahead
from ._sites import has_effects
from ._stalls import waiting
from ._threadbound import keep_order as _keep_order
from ._traceback import trim

__all__ = ["Pending", "Invocation", "is_shareable"]

_thread_time = time.thread_time
_perf_counter = time.perf_counter
_exc_info = sys.exc_info


class Pending(Task[Any]):
    """A deferred call's future. Its value is the call's return value."""

    __slots__ = ("site", "deps", "cpu", "measure", "_inv", "group", "gated", "effects",
                 "slot", "after", "jplan", "journal", "handled", "__weakref__")

    def __init__(self, inv: Invocation, site: Any, fn: Callable[..., Any],
                 args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        super().__init__(_call_resolved, (self, fn, args, kwargs), None, None,
                         name=site.label if site is not None else "gather")
        self.site = site
        self.deps: list[Pending] = []  # must finish first (data flow and ordering)
        self.measure = site is not None  # report timings to the site (until known)
        self.cpu = 0.0
        self._inv = inv
        self.group: IssueGroup | None = None  # issued ahead, not yet retired (`_issue`)
        self.gated = False  # issued ahead but has effects: runs inline when retired
        self.effects = False
        self.slot: Any = None  # where its output goes (see `_output`)
        # The results the caller used before making this call: data flow the arguments
        # no longer show (``judge(" ".join(answers))``), for `last_run` only.
        self.after: tuple[Pending, ...] = ()
        # A journaled method call (`_journal`): its plan and the writes it recorded; an
        # applier of another call's journal has the plan and no journal.
        self.jplan: Any = None
        self.journal: list[tuple[Any, ...]] | None = None
        # The exception the caller was handling when it made the call: plain Python
        # chains the first exception the call raises to it (`chain_to_handled`).
        self.handled = _exc_info()[1]

    def wait(self, timeout: float | None = None) -> bool:
        """As `Task.wait`; under ``jit(timeout=...)``, the caller's wait ends at the
        deadline with `InvocationTimeout` (and does not run the call itself: it
        could take longer)."""
        inv = self._inv
        if inv.deadline is None or self._state >= _FINISHED or (
            threading.get_ident() != inv.caller
        ):
            return super().wait(timeout)
        remaining = inv.deadline - _perf_counter()
        if timeout is not None:
            remaining = min(remaining, timeout)
        if remaining > 0 and self._done.acquire(timeout=remaining):
            self._done.release()
            return True
        if self._state >= _FINISHED:
            return True
        if timeout is not None and _perf_counter() < inv.deadline:
            return False
        raise _timed_out(inv)

    def cancel(self) -> bool:
        """As `Task.cancel`. A print cancelled (an earlier call failed: plain Python
        never reached it) ends the invocation's output there, as a failed one does."""
        cancelled = super().cancel()
        if cancelled and self.name == "print" and type(self.slot) is Slot:
            self.slot.seq.fail(self.slot)
        return cancelled

    def value(self) -> Any:
        """The result, waiting (or running it here) if needed; re-raises its exception."""
        if self._state == _FINISHED and self._exception is None:
            return self._result
        return self.result()


def _call_resolved(pending: Pending, fn: Callable[..., Any], args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Any:
    """Body of a deferred call: its output goes to its slot (in its own context); a
    journaled method's writes to its object go to its journal (`_journal`)."""
    if pending.journal is not None:
        return _run_journaled(pending.journal, _call_in_slot, (pending, fn, args, kwargs), {})
    return _call_in_slot(pending, fn, args, kwargs)


def _call_in_slot(pending: Pending, fn: Callable[..., Any], args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    slot = pending.slot
    if slot is None:
        return _call_body(pending, fn, args, kwargs)
    _output_sink.set(slot)
    failed = True
    try:
        value = _call_body(pending, fn, args, kwargs)
        failed = False
        return value
    finally:
        if type(slot) is Slot:
            if failed and pending.name == "print":  # plain Python raised at the print
                slot.seq.fail(slot)
            else:
                slot.seq.done(slot)


def _call_body(pending: Pending, fn: Callable[..., Any], args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> Any:
    """Resolve the Pendings among the call's arguments, then call."""
    inv = pending._inv
    for dep in pending.deps:
        # A waiter may run this call before its dependencies were scheduled: help
        # them first. A failed dependency means this call never runs (plain Python
        # raised before reaching it); so does a cancelled one (an earlier call failed
        # and this invocation is settling: its success proves nothing).
        dep.wait()
        if dep._exception is not None:
            reraise(dep._exception)
        if dep._state == _CANCELLED:
            raise CancelledError(f"{dep!r}, which {pending!r} depends on, was cancelled")
    if inv.has_pending_args(args, kwargs):
        args = tuple(inv.resolve(a) for a in args)
        kwargs = {k: inv.resolve(v) for k, v in kwargs.items()}
    wall0, cpu0 = _perf_counter(), _thread_time()
    pending.started = wall0  # the call itself, after its dependencies
    # The thread running the call may be handling an exception that the caller was
    # not handling when it made the call (a waiter settling after a failure), or none
    # where the caller was (a worker): what the call raises is chained as in plain Python.
    handling = _exc_info()[1]
    try:
        # Provider limits, re-issue on 429, @wavejit.io options, progress (_limits).
        return _run_limited(fn, args, kwargs, pending.site is not None, inv)
    except BaseException as exc:
        if handling is not pending.handled:
            if handling is not None:
                _unchain(exc, handling)
            chain_to_handled(exc, pending.handled)
        if pending.site is not None:
            add_note(exc, f"wavejit: raised by the deferred call at {pending.site.label}")
        raise
    finally:
        pending.cpu = _thread_time() - cpu0
        if pending.measure:
            pending.site.observe(fn, _perf_counter() - wall0, pending.cpu)


def _unchain(exc: BaseException, outer: BaseException) -> None:
    """Cut the implicit link from `exc`'s context chain to `outer`, an exception the
    running thread was handling when it ran the call (plain Python ran it outside)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if current.__context__ is outer:
            current.__context__ = None
            return
        current = current.__context__


def _make_tuple(*items: Any) -> tuple[Any, ...]:
    return items


@functools.lru_cache(maxsize=256)
def _method_glue(name: str) -> Callable[..., Any]:
    """``obj.name(*args)`` as a function of ``(obj, *args)``: a continuation's glue."""
    def glue(obj: Any, *args: Any) -> Any:
        return getattr(obj, name)(*args)
    glue.__qualname__ = glue.__name__ = f"<{name}>"
    return glue


BINARY_OPERATORS: dict[str, Callable[[Any, Any], Any]] = {
    "Add": operator.add, "Sub": operator.sub, "Mult": operator.mul,
    "MatMult": operator.matmul, "Div": operator.truediv, "FloorDiv": operator.floordiv,
    "Mod": operator.mod, "Pow": operator.pow, "LShift": operator.lshift,
    "RShift": operator.rshift, "BitOr": operator.or_, "BitXor": operator.xor,
    "BitAnd": operator.and_,
}

_IMMUTABLE: frozenset[type] = frozenset(
    {int, float, complex, str, bytes, bool, type(None), range, type(Ellipsis), frozenset}
)


def is_shareable(x: object, safe_types: Callable[[type], bool]) -> bool:
    """True if a deferred call may hold `x` while other code runs: nobody can mutate it."""
    t = type(x)
    if t in _IMMUTABLE or t is Pending:
        return True
    if t is tuple:
        return all(is_shareable(e, safe_types) for e in x)  # type: ignore[attr-defined]
    return safe_types(t)


_NO_NOTE = contextlib.nullcontext()  # a wait that does not block: nothing to note


def _timed_out(inv: Invocation) -> InvocationTimeout:
    owner = getattr(getattr(inv.code, "compiled", None), "owner", None)
    name = getattr(owner, "__qualname__", "the jitted function")
    return InvocationTimeout(
        f"{name} did not finish within its jit(timeout={getattr(owner, 'timeout', None)})"
        " seconds; its deferred calls not started were cancelled", invocation=inv)


class Invocation(IssueHooks):
    """One call of a jitted function: its deferred calls and their bookkeeping."""

    __slots__ = ("code", "executor", "spawned", "settled", "dirty", "borrowed", "owned",
                 "deferred_count", "started", "done", "last_commit", "delivered",
                 "issuing", "unlinked", "output", "_output_token", "wasted", "ahead",
                 "_submit_task", "used", "deadline", "caller", "issue_blocked", "outside",
                 "waits")

    def __init__(self, code: Any, executor: Any) -> None:
        self.code = code  # the CompiledFunction: plans per site, policies
        self.executor = executor
        self._submit_task = getattr(executor, "submit_task", None)
        self.spawned: list[Pending] = []
        self.settled = 0
        self.dirty: dict[int, Any] = {}
        self.borrowed: dict[int, tuple[Any, list[tuple[Pending, bool]]]] = {}
        # Containers made by a display in this invocation and reachable only through
        # local names: the only ones a Pending may be appended or stored into.
        self.owned: dict[int, Any] = {}
        self.deferred_count = 0
        self.started = _perf_counter()
        # (line, call, deferred calls made by then, seconds): where this function's own
        # code blocked on a result (see `_stalls`), for explain().
        self.waits: list[tuple[str, Pending, int, float]] = []
        self.done = False
        self.last_commit = 0  # index of the last deferred call with effects
        # Deferred calls that write outside the process (a file, a database): a later
        # call that may read such state waits for them, as plain Python wrote first.
        self.outside: list[Pending] = []
        self.delivered: dict[int, BaseException] = {}  # failures already raised
        self.issuing: IssueGroup | None = None  # the loop item being issued ahead
        self.unlinked: list[IssueGroup] = []  # items issued ahead, not all retired
        # What the calls being issued ahead borrowed (id -> (object, [(Pending, may
        # mutate)])), for the dependencies among them; cleared when the issue ends.
        self.ahead: dict[int, tuple[Any, list[tuple[Pending, bool]]]] = {}
        self.wasted = 0  # calls issued ahead for loop items never reached (speculation)
        self.issue_blocked = False  # an item issued holds a gated call with effects
        self.used: dict[int, Pending] = {}  # results used since the last call was deferred
        self.output: Any = None  # the Sequencer ordering output, from the first deferral
        # jit(timeout=...): when the caller's waits give up (None: never), and the
        # caller's thread (waits on deferred calls' threads are not timed).
        self.deadline: float | None = None
        self.caller = threading.get_ident()
        self._output_token: Any = None

    # -- resolution -------------------------------------------------------------------

    def has_pending_args(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        dirty = self.dirty
        for a in args:
            if type(a) is Pending or (dirty and id(a) in dirty):
                return True
        for a in kwargs.values():
            if type(a) is Pending or (dirty and id(a) in dirty):
                return True
        return False

    def _input_pending(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        for a in args:
            if type(a) is Pending and not a._state >= _FINISHED:
                return True
        return any(type(a) is Pending and not a._state >= _FINISHED
                   for a in kwargs.values())

    def resolve(self, x: Any) -> Any:
        """Deep value of `x`: a Pending's result; a dirty container resolved in place."""
        t = type(x)
        if t is Pending:
            return x.value()
        dirty = self.dirty
        if dirty and id(x) in dirty:
            if t is list:
                for i, e in enumerate(x):
                    if type(e) is Pending or id(e) in dirty:
                        x[i] = self.resolve(e)
            elif t is dict:
                for k, e in x.items():
                    if type(e) is Pending or id(e) in dirty:
                        x[k] = self.resolve(e)
            dirty.pop(id(x), None)
        return x

    def _resolve_quietly(self, x: Any) -> None:
        """`resolve` for `_finish`, when every call has ended: a failed or cancelled
        call's Pending stays where it is. (Raising its exception here, where the
        function's own failure may be being handled, would make that one its
        ``__context__``, and Python, breaking the cycle, would cut the handled one's
        chain: the user saw a KeyError whose context was the RuntimeError raised
        ``from`` it.)"""
        dirty = self.dirty
        if dirty.pop(id(x), None) is None:
            return
        for key, e in list(x.items()) if type(x) is dict else list(enumerate(x)):
            if type(e) is Pending:
                if e._state == _FINISHED and e._exception is None:
                    x[key] = e._result
            elif dirty and id(e) in dirty:
                self._resolve_quietly(e)

    def wait(self, x: Any) -> Any:
        """A strict use of `x`: its deep value, with no deferred call still holding it.

        The object may escape here (stored elsewhere, passed on), so it is disowned:
        no Pending will be stored into it from now on.
        """
        if self.issuing is not None:
            self._ready_or_stop(x)
        try:
            if type(x) is Pending:
                if self.borrowed:
                    self._wait_borrowers(x)  # glue reading it runs first
                self.used[id(x)] = x
                if x._state < _FINISHED:  # it blocks: note where (see `_stalls`)
                    with waiting(self, x):
                        x = x.value()
                else:
                    x = x.value()
            if self.owned:
                self.owned.pop(id(x), None)
            if self.borrowed:
                self._wait_borrowers(x)
            if self.dirty:
                if id(x) in self.dirty:  # the caller uses the results it holds
                    for e in (x.values() if type(x) is dict else x):
                        if type(e) is Pending:
                            self.used[id(e)] = e
                return self.resolve(x)
            return x
        except BaseException as exc:
            self.delivered[id(exc)] = exc
            raise

    def method(self, x: Any, name: str) -> Any:
        """``x.name`` for a candidate call ``x.name(...)``: as ``wait(x).name``, except
        that calls journaled on `x` (`_journal`) and their appliers are not waited
        for: they only read what is shareable, and the call itself is ordered after
        any that conflicts with it (`_borrow`), or waits for them if it runs inline."""
        if type(x) is not Pending and not (self.dirty and id(x) in self.dirty):
            tables = (self.borrowed, self.ahead) if self.issuing is not None else (
                self.borrowed,)
            entries = [table[id(x)] for table in tables if table and id(x) in table]
            if entries and all(p.jplan is not None for entry in entries for p, _ in entry[1]):
                if self.owned:
                    self.owned.pop(id(x), None)
                return getattr(x, name)
        return getattr(self.wait(x), name)

    def shallow(self, x: Any) -> Any:
        """`x` itself resolved, but not the Pendings inside it; no borrower outstanding."""
        if self.issuing is not None:
            self._ready_or_stop(x)
        try:
            if type(x) is Pending:
                self.used[id(x)] = x
                x = x.value()
            if self.borrowed:
                self._wait_borrowers(x)
            return x
        except BaseException as exc:
            self.delivered[id(exc)] = exc
            raise

    def _ready_or_stop(self, x: Any) -> None:
        """Issuing ahead: raise `StopIssue` if using `x` now would have to wait."""
        if type(x) is Pending:
            if not x.done():
                raise StopIssue
            x = x._result
        entry = self.borrowed.get(id(x)) if self.borrowed else None
        if entry is not None and not all(p.done() for p, _ in entry[1]):
            raise StopIssue
        entry = self.ahead.get(id(x)) if self.ahead else None
        if entry is not None and not all(p.done() or not mutates for p, mutates in entry[1]):
            raise StopIssue  # a call issued for an earlier item changes it when retired
        if self.dirty and id(x) in self.dirty:
            for e in (x.values() if type(x) is dict else x):
                self._ready_or_stop(e)

    def _undelivered(self, exc: BaseException | None) -> bool:
        """A failure not yet raised to the function's code (raising it twice would let
        a later ``finally`` or handler see it again, which plain Python never does)."""
        return exc is not None and id(exc) not in self.delivered

    def _wait_borrowers(self, x: Any) -> None:
        entry = self.borrowed.pop(id(x), None)
        if entry is not None:
            for pending, _ in entry[1]:
                pending.wait()

    # -- candidate call sites ---------------------------------------------------------

    def call(self, site_index: int, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A candidate call site: defer the call or run it inline, as the plan says."""
        site = self.code.sites[site_index]
        if self.deadline is not None and _perf_counter() > self.deadline:
            raise _timed_out(self)
        if type(fn) is MethodType and fn.__name__ in ROW_MAPS and self.issuing is None and (
            not self.has_pending_args(args, kwargs)
        ):  # df.apply(llm_fn): its calls issued ahead (_rowmap)
            if self.borrowed:
                self._wait_borrowers(fn.__self__)
            value = map_ahead(self, site, fn, args, kwargs)
            if value is not NOT_HANDLED:
                return value
        decision = site.decide(fn)
        # Thread-bound objects, ContextVar / thread-local callees, external effects.
        decision = _keep_order(decision, fn, args, kwargs)
        if decision.info.assumed and decision.info.passes_assumed(args, kwargs):
            decision = decision.without_assumptions()
        own = fn
        if decision.twin is not None:  # a helper of the program: its jitted twin
            fn = bind_twin(decision.twin, fn)
            site.twin_calls += 1
        if self.issuing is not None and (self.issuing.effects or self.issue_blocked):
            # After a gated call that writes globals nothing is issued ahead of it: a
            # later call may read them. (Unknown effects do not stop the issue: that
            # would serialize every loop that calls, say, json.loads.)
            raise StopIssue
        if decision.defer and decision.effects and type(own) is MethodType and (
            decision.info.mutated and not decision.info.writes_globals
        ) and (decision.twin is None or not overlaps_inside(own.__func__)):  # type: ignore[arg-type]
            journaled = self._journaled(site, decision, own, args, kwargs)
            if journaled is not None:
                return journaled
        if self.issuing is not None and (decision.effects or _external_effects(fn)) and not (
            (decision.defer or decision.profile and _passes_io_client(args, kwargs))
            and self._untouchable(fn, args, kwargs)
            and _external_effects(fn) is None  # writes a file: in order, when retired
        ):
            # Issued ahead of the loop body's earlier iterations, it could change what
            # they see: it runs inline, in program order, when its item is retired.
            # (A deferred call handed only immutable values and shareable clients
            # cannot change anything of ours, whatever the scan could not see; nor can
            # an unknown callee handed an I/O client, deferred below from its first call.)
            if decision.info.writes_globals:  # what any later call may read
                self.issuing.effects = True
            return self._defer(site, decision, fn, args, kwargs, gated=True)
        if decision.defer:
            return self._defer(site, decision, fn, args, kwargs)
        if decision.profile and _passes_io_client(args, kwargs):
            # An unknown callee handed an I/O client (``ask(client, q)``) is about to
            # use it: deferred from the first call, measured like any other.
            site.count_continuation()
            return self._defer(site, decision, fn, args, kwargs)
        if not decision.effects and self._input_pending(args, kwargs):
            # A continuation: computing on a result that has not arrived. Deferred, it
            # runs when the result does, while this thread goes on to start other
            # calls (a loop of "fetch, then compute on it" overlaps its fetches).
            site.count_continuation()
            return self._defer(site, decision, fn, args, kwargs)
        if self.issuing is not None and (decision.profile or decision.info.io):
            # Not deferred, yet it may do I/O (being measured, or known I/O the strategy
            # keeps inline): run ahead, it would be made again if the item is dropped.
            # It runs inline when its item is retired.
            return self._defer(site, decision, fn, args, kwargs, gated=True)
        if self.issuing is not None:  # an object an earlier item's call changes later
            self._ready_or_stop(getattr(fn, "__self__", None))
        if decision.effects and self.settled < len(self.spawned):
            self._commit(fn)
        if self.owned:  # the callee may keep what it is given: no longer ours alone
            for a in (*args, *kwargs.values()):
                self.owned.pop(id(a), None)
        if self.spawned or self.dirty:
            if self.has_pending_args(args, kwargs) or self.borrowed:
                args = tuple(self.wait(a) for a in args)
                kwargs = {k: self.wait(v) for k, v in kwargs.items()}
            if self.borrowed:
                self._wait_borrowers(getattr(fn, "__self__", None))
        if self.outside:
            for writer in self.writers_before(fn):
                writer.wait()
        if decision.profile:
            wall0, cpu0 = _perf_counter(), _thread_time()
            try:
                if _limits.capped:  # measured, and it takes its provider's slot too
                    return _limits.run_inline(fn, args, kwargs)
                return fn(*args, **kwargs)
            finally:
                site.observe(fn, _perf_counter() - wall0, _thread_time() - cpu0)
        if _limits.capped:  # a provider limit is set: inline calls take slots too
            return _limits.run_inline(fn, args, kwargs)
        return fn(*args, **kwargs)

    def now(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """A call whose value is needed at once (not a candidate site).

        Its arguments are resolved; if it may have effects outside the invocation
        while deferred calls are outstanding, it commits first (see `mut`).
        """
        if self.issuing is not None and has_effects(fn):
            raise StopIssue  # it would run ahead of the loop body's earlier iterations
        if self.settled < len(self.spawned) and has_effects(fn):
            self._commit(fn)
        args = tuple(self.wait(a) for a in args)
        kwargs = {k: self.wait(v) for k, v in kwargs.items()}
        if self.borrowed:
            self._wait_borrowers(getattr(fn, "__self__", None))
        if self.outside:
            for writer in self.writers_before(fn):
                writer.wait()
        if _limits.capped:  # a provider limit is set: inline calls take slots too
            return _limits.run_inline(fn, args, kwargs)
        return fn(*args, **kwargs)

    def writers_before(self, fn: Any) -> list[Any]:
        """The unfinished deferred calls that write outside the process, if `fn` may
        read what they wrote (a helper that opens the file a deferred call saved)."""
        writers = [p for p in self.outside if not p.done()]
        self.outside = writers
        if not writers or _external_reads(fn) is None:
            return []
        return writers

    def later(self, glue: Callable[..., Any], *args: Any) -> Any:
        """Glue (an f-string, an operator expression) over values that may be pending.

        If an input is still pending, the glue becomes a continuation: a Pending that
        evaluates it once its inputs have arrived, so a loop of "call, then format its
        result" keeps starting calls. Every other input must be immutable (it is read
        later); otherwise, and when nothing is pending, the glue runs now. The
        continuation borrows its pending inputs: a strict use of one waits for it.
        """
        waiting = [a for a in args if type(a) is Pending and not a._state >= _FINISHED]
        if not waiting or not all(type(a) is Pending or type(a) in _IMMUTABLE for a in args):
            return glue(*[self.wait(a) for a in args])
        pending = Pending(self, None, glue, args, {})
        pending.name = "glue"
        self._continue(pending, waiting)
        return pending

    def method_call(self, site_index: int, obj: Any, name: str, *args: Any) -> Any:
        """``obj.name(*args)`` at candidate site `site_index`, `obj` a local that may
        hold a call's result: a continuation if it has not arrived (`later`), else a
        call like any other (`call`). (The rewrite's compact form of ``later(lambda
        obj: obj.name(...), ...) if pending(obj) else call(...)``.)"""
        if type(obj) is Pending and obj._state < _FINISHED:
            return self.later(_method_glue(name), obj, *args)
        return self.call(site_index, self.method(obj, name), *args)

    @staticmethod
    def pending(x: Any) -> bool:
        """Has `x` (a name bound to a call's result) not arrived yet?"""
        return type(x) is Pending and x._state < _FINISHED

    def unpack(self, value: Any, count: int) -> tuple[Any, ...]:
        """``a, b = value``: if `value` has not arrived, `count` continuations (one
        unpacking it, exactly as the statement would, raising what it would raise;
        one per item reading it), so the caller goes on."""
        unpacker = unpacker_of(count)
        if type(value) is not Pending or value._state >= _FINISHED:
            return unpacker(self.wait(value) if type(value) is Pending else value)
        whole = self.later(unpacker, value)
        return tuple(self.later(operator.itemgetter(i), whole) for i in range(count))

    def _continue(self, pending: Pending, waiting: list[Pending]) -> None:
        """Start `pending` (glue, a print) once `waiting` have finished; until then it
        borrows them: a strict use of one (a mutation) waits for it."""
        for a in waiting:
            if self.issuing is not None:
                self.issuing.borrows.append((a, pending, False))
                continue
            entry = self.borrowed.get(id(a))
            if entry is None:
                self.borrowed[id(a)] = (a, [(pending, False)])
            else:
                entry[1].append((pending, False))
        self._spawn(pending)
        pending.deps = waiting
        _when_all_done(waiting, lambda: self._submit(pending))

    def print_later(self, fn: Any, /, *args: Any, **kwargs: Any) -> None:
        """``print(...)`` of results that may not have arrived: printed when they have,
        at its place in the invocation's output (a slot linked now), while this thread
        goes on. The same rule as glue (`later`): every other input is immutable, and
        the print borrows its pending inputs, so a strict use (a mutation) waits for it.
        If it fails (an input's call failed), nothing after it is written, as in plain
        Python, and the failure is raised at the next barrier in program order."""
        if fn is not builtins.print or self.issuing is not None or not all(
            type(a) is Pending or type(a) in _IMMUTABLE for a in args
        ) or not all(type(v) in _IMMUTABLE for v in kwargs.values()):
            return self.now(fn, *args, **kwargs)  # type: ignore[no-any-return]
        waiting = [a for a in args if type(a) is Pending and a._state < _FINISHED]
        if not waiting:
            return self.now(fn, *args, **kwargs)  # type: ignore[no-any-return]
        self._sequencer()
        if not isinstance(sys.stdout, _OutputStream):  # someone else's stdout: in order
            return self.now(fn, *args, **kwargs)  # type: ignore[no-any-return]
        pending = Pending(self, None, fn, args, {**kwargs, "file": sys.stdout})
        pending.name = "print"
        self._give_slot(pending)
        self._continue(pending, waiting)
        return None

    def binop(self, op: str, left: Any, right: Any) -> Any:
        """``left <op> right`` on the operands' values (both may have been pending)."""
        return BINARY_OPERATORS[op](self.wait(left), self.wait(right))

    def mut(self, x: Any) -> Any:
        """Glue is about to mutate `x`: commit first unless the invocation owns it.

        Plain Python would not have run this glue if an earlier call had failed, and
        the caller can see `x` afterwards (an argument, a global, an attribute). So
        every outstanding deferred call must have succeeded before the mutation: a
        barrier, which raises the earliest failure instead.
        """
        if self.issuing is not None:
            if id(x) not in self.owned:
                raise StopIssue  # an effect, ahead of earlier iterations' bodies
            self._ready_or_stop(x)
        if self.settled < len(self.spawned) and id(x) not in self.owned:
            self.barrier()
        if self.borrowed:
            self._wait_borrowers(x)
        return x

    def _commit(self, fn: Any) -> None:
        receiver = getattr(fn, "__self__", None)
        if receiver is None or id(receiver) not in self.owned:
            self.barrier()

    def _defer(self, site: Any, decision: Any, fn: Any, args: tuple[Any, ...],
               kwargs: dict[str, Any], gated: bool = False, journal: Any = None) -> Any:
        """Create the Pending; find its dependencies; submit it once they are done.

        Dependencies: Pendings among the arguments (and inside dirty containers), and
        earlier deferred calls holding the same mutable object when either call may
        mutate it. Immutable arguments (the common case: strings) cost one set test.
        """
        pending = Pending(self, site, fn, args, kwargs)
        pending.measure = decision.measure
        if journal is not None:
            pending.jplan, pending.journal = journal, []
        if not gated:
            self._give_slot(pending)
        deps: list[Pending] = []
        touched: list[tuple[Any, bool]] | None = None
        receiver = getattr(fn, "__self__", None)
        if receiver is not None and not decision.safe_receiver and not is_shareable(
            receiver, self.code.is_safe_type
        ):
            touched = [(receiver, decision.mutates_self)]
        position = -1
        for a in (args if not kwargs else (*args, *kwargs.values())):
            position += 1
            t = type(a)
            if t in _IMMUTABLE:
                continue
            if t is Pending:
                deps.append(a)
                readers = self.borrowed.get(id(a)) if self.borrowed else None
                if readers and decision.mutates_arg(position, args, kwargs):
                    deps.extend(p for p, _ in readers[1])  # glue reads it before
                continue
            if self.dirty and id(a) in self.dirty:
                self._collect_deps(a, deps)
            if self.owned:
                self.owned.pop(id(a), None)  # the callee may keep it
            if not is_shareable(a, self.code.is_safe_type):
                if touched is None:
                    touched = []
                touched.append((a, decision.mutates_arg(position, args, kwargs)))
        if touched:
            self._borrow(pending, touched, deps)
        if self.outside:
            deps.extend(self.writers_before(fn))
        if not gated and (touched and any(may_mutate for _, may_mutate in touched)
                          or _external_effects(fn) is not None):  # files, db (_effects)
            self._commit_after(deps)
        if _external_effects(fn) is not None:
            self.outside.append(pending)
        self._spawn(pending)
        if self.used:
            pending.after = tuple(self.used.values())
            self.used.clear()
        if gated:
            if self.issuing is not None:
                self.issuing.add_slot(pending)  # a marker: its output is the caller's
            pending.gated = True
            pending.effects = decision.effects
            pending.deps = deps
            return pending
        self.deferred_count += 1
        if deps:
            self._submit_when_ready(pending, deps)
        else:
            self._submit(pending)
        return pending

    def _journaled(self, site: Any, decision: Any, fn: MethodType, args: tuple[Any, ...],
                   kwargs: dict[str, Any]) -> Pending | None:
        """Defer a method whose only effects are blind writes to its own object, with
        those writes journaled (see `_journal`), and an applier that replays them in
        program order; None if the method or this call does not qualify."""
        info = decision.info
        me = info.positional[0] if info.positional and info.self_offset else None
        if me is None or info.mutated != frozenset({me}) or (
            _external_effects(fn) is not None
        ):
            return None
        plan = _journal_plan(fn)
        receiver = fn.__self__
        safe = self.code.is_safe_type
        if plan is None or not plan.admits(receiver, lambda v: is_shareable(v, safe)):
            return None
        if len(site.journaled) < len(site.callee_names):
            site.journaled.setdefault(site.callee_names.get(callee_key(fn)), plan.writes)
        calm = _replace(decision, info=_replace(info, mutated=frozenset()), effects=False)
        call: Pending = self._defer(site, calm, MethodType(plan.function, receiver), args,
                                    kwargs, journal=plan)
        applier = Pending(self, None, _apply_journal, (receiver, [call]), {})
        applier.measure = False
        applier.jplan = plan
        deps: list[Pending] = []
        # The containers it appends to are borrowed too: an alias the caller holds
        # (``h = bot.history``) is waited for like the object.
        state = receiver.__dict__
        self._borrow(applier, [(receiver, True), *[
            (state[name], True) for name in plan.containers if name in state]], deps)
        if self.issuing is not None:  # replayed when its item is retired, in order
            self._spawn(applier)
            self.issuing.add_slot(applier)  # a marker: run at its place
            applier.gated = applier.effects = True
            applier.deps = deps
            return call
        self._commit_after(deps)
        deps = [d for d in deps if d is not call]  # its own failure does not stop it...
        self.last_commit -= 1  # ...but stops the next one: the chain starts at the call
        self._spawn(applier)
        applier.deps = deps
        _when_all_done([*deps, call], lambda: self._submit(applier))
        return call

    def _commit_after(self, deps: list[Pending]) -> None:
        """A deferred call that mutates objects the caller sees runs only after every
        earlier deferred call succeeded (plain Python would not have reached it).

        It depends on the calls since the previous such call, and on that call, which
        in turn waited for the ones before it: a chain, linear in the number of calls.
        """
        start = max(self.settled, self.last_commit)
        deps.extend(p for p in self.spawned[start:]
                    if not p.done() or p._exception is not None)
        self.last_commit = len(self.spawned)  # this call's index, appended next

    def _borrow(self, pending: Pending, touched: list[tuple[Any, bool]],
                deps: list[Pending]) -> None:
        group = self.issuing
        for obj, may_mutate in touched:
            if group is not None:  # registered when the item is retired (in order)
                # ...but a call issued after one (of this loop, issued ahead) that may
                # change the object must wait for it, as in plain Python.
                for table in (self.borrowed, self.ahead):
                    entry = table.get(id(obj))
                    if entry is not None:
                        deps.extend(other for other, other_mutates in entry[1]
                                    if (may_mutate or other_mutates) and not other.done()
                                    and not _independent(pending, other))
                self.ahead.setdefault(id(obj), (obj, []))[1].append((pending, may_mutate))
                group.borrows.append((obj, pending, may_mutate))
                continue
            entry = self.borrowed.get(id(obj))
            if entry is None:
                self.borrowed[id(obj)] = (obj, [(pending, may_mutate)])
                continue
            for other, other_mutates in entry[1]:
                if (may_mutate or other_mutates) and not other.done() and not (
                    _independent(pending, other)
                ):
                    deps.append(other)
            entry[1].append((pending, may_mutate))

    def _collect_deps(self, container: Any, deps: list[Pending]) -> None:
        items = container.values() if type(container) is dict else container
        dirty = self.dirty
        for e in items:
            if type(e) is Pending:
                deps.append(e)
            elif id(e) in dirty:
                self._collect_deps(e, deps)

    def _submit_when_ready(self, pending: Pending, deps: list[Pending]) -> None:
        pending.deps = deps
        _when_all_done(deps, lambda: self._submit(pending))

    def _submit(self, pending: Pending) -> None:
        if pending._state or pending.gated:
            return  # already run by a waiter, or cancelled; gated: run when retired
        group = pending.group
        if group is not None and group.hold(pending):
            return  # its loop item is still being issued: it may yet be dropped
        submit_task = self._submit_task
        if submit_task is not None:
            submit_task(pending)
        else:
            self.executor.submit(pending.run)

    def _untouchable(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Are the call's receiver and arguments all immutable or shareable clients?"""
        safe = self.code.is_safe_type
        receiver = getattr(fn, "__self__", None)
        if receiver is not None and not isinstance(receiver, ModuleType) and not (
            is_shareable(receiver, safe)
        ):
            return False
        return all(is_shareable(a, safe) for a in args) and all(
            is_shareable(a, safe) for a in kwargs.values())

    def _sequencer(self) -> Any:
        seq = self.output
        if seq is None:
            seq, self._output_token = _begin_output()
            self.output = seq
        return seq

    def _end_item_output(self, group: IssueGroup) -> None:
        if group.token is not None:
            _output_sink.reset(group.token)
            group.token = None

    def _give_slot(self, pending: Pending) -> None:
        """Order the call's output: linked now, or when its loop item is retired."""
        seq = self._sequencer()
        pending.slot = Slot(seq)
        if self.issuing is None:
            seq.link(pending.slot)
        else:
            self.issuing.add_slot(pending.slot)

    def _spawn(self, pending: Pending) -> None:
        """Record a new Pending: in program order, or in the loop item being issued."""
        group = self.issuing
        if group is None:
            self.spawned.append(pending)
        else:
            pending.group = group
            group.add(pending)

    # -- loops issued ahead (see `_issue` and `_loops`) ---------------------------------

    StopIssue = StopIssue  # for the rewritten code's ``except _wj_inv.StopIssue``
    nested = staticmethod(nested_items)  # nested loops as one loop over pairs

    def tail_items(self, items: list[Any], queue: list[Any]) -> tuple[None, ...]:
        """The statements after a loop issued ahead, as one more item (see `_nested`);
        none after an item with a gated call with effects."""
        return () if self.issue_blocked else tail_items(items, queue)

    def loop_items(self, wrapper: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                   distinct: bool) -> tuple[list[Any] | None, Any]:
        """A distributable loop's items (a list), or None and the iterable to loop over
        in order. `wrapper`: None (``args[0]`` is the iterable), or the callable the
        source's iterable expression calls (``enumerate(xs)``, ``tqdm(xs)``, ``sorted(xs)``).

        A progress bar over a container (``tqdm(xs)``) is issued ahead over ``xs`` and
        advanced as items are retired, so it reports what plain Python would.
        """
        items = materialized_items(wrapper, args, kwargs, distinct)
        if items is not None:
            return items, None
        if wrapper is None:
            return None, args[0]
        if is_progress_bar(wrapper) and args:
            items = materialized_items(None, args[:1], {}, distinct)
            iterable = wrapper(*args, **kwargs)
            if items is not None:
                return items, Progress(iterable)
            return None, iterable
        iterable = self.now(wrapper, *args, **kwargs)  # sorted(xs), a generator: once
        items = materialized_items(None, (iterable,), {}, distinct)
        return (items, None) if items is not None else (None, iterable)

    def issue_begin(self) -> IssueGroup:
        group = IssueGroup()
        self.issuing = group
        self.unlinked.append(group)
        group.seq = self._sequencer()
        group.token = _output_sink.set(group)  # what the caller prints meanwhile
        return group

    def issue_part(self, group: IssueGroup, index: int) -> None:
        group.start_part(index)

    def issue_commit(self, group: IssueGroup) -> None:
        """The item is issued: start what it holds."""
        self.issuing = None
        if group.effects:
            self.issue_blocked = True
        self._end_item_output(group)
        for pending in group.commit():
            self._submit(pending)

    def issue_stop(self, group: IssueGroup) -> None:
        """A hook raised `StopIssue`: drop the item (nothing of it has started).

        Cancelled before the group stops holding: a dependency finishing meanwhile (on
        a pool thread) must find them cancelled, not submit them."""
        self.issuing = None
        self._end_item_output(group)
        for pending in group.pendings():
            pending.cancel()
        group.commit()
        self.unlinked.remove(group)

    def issue_end(self, items: list[Any], issued: list[Any], progress: Any) -> Any:
        """The items not issued ahead, to run through the ordinary loop in order (a
        progress bar yields them itself, after the retired ones)."""
        self.issuing = None
        self.ahead.clear()
        self.issue_blocked = False
        failed = bool(issued) and issued[-1][0].failure is not None
        if type(progress) is Progress:
            progress.finished = failed
            return progress
        if failed:
            return []  # plain Python raises within that item: nothing runs after it
        return items[len(issued):]

    def retire(self, group: IssueGroup, progress: Any = None) -> IssueGroup:
        """The item's turn in program order: link its prefix; raise its failure."""
        if type(progress) is Progress:
            progress.step()
        self._link(group, 0)
        if group.failure is not None and not group.hoist_failure:
            raise group.failure
        return group

    def settle_row(self, group: IssueGroup, values: tuple[Any, ...], count: int
                   ) -> tuple[Any, ...]:
        """A loop issued ahead in a try body: the item's prefix (its calls, and the
        first `count` carried values: loop target, prefix results) waited for before
        its body runs, the first failure raised, as plain Python ran it first."""
        for pending in group.parts[0] if group.parts else ():
            if type(pending) is Pending and not pending.gated:
                self.wait(pending)
        return tuple(self.wait(v) if i < count and type(v) is Pending else v
                     for i, v in enumerate(values))

    def _link(self, group: IssueGroup, index: int) -> None:
        """Put part `index` of `group` in program order: into ``spawned``, its borrows
        registered, its gated calls run here."""
        if index >= len(group.parts):
            return
        part = group.parts[index]
        ids = {id(p) for p in part} if group.borrows else ()
        for obj, pending, may_mutate in group.borrows:
            if id(pending) in ids:
                entry = self.borrowed.get(id(obj))
                if entry is None:
                    self.borrowed[id(obj)] = (obj, [(pending, may_mutate)])
                else:
                    entry[1].append((pending, may_mutate))
        # The part's output, in program order: the calls' slots, what the caller wrote
        # while issuing it, and markers for the gated calls (run here, in order).
        entries = group.outputs[index] if index < len(group.outputs) else []
        cursor = 0
        for pending in part:
            pending.group = None
            if not pending.gated:
                self.spawned.append(pending)
                continue
            while cursor < len(entries) and entries[cursor] is not pending:
                entry = entries[cursor]
                if type(entry) is Slot:
                    entry.seq.link(entry)
                cursor += 1
            cursor += 1
            self._run_gated(pending)
        for entry in entries[cursor:]:
            if type(entry) is Slot:
                entry.seq.link(entry)

    def _run_gated(self, pending: Pending) -> None:
        """Run a call issued ahead that has effects, here: at its program point, after
        every earlier deferred call succeeded (as an inline call with effects)."""
        if pending.jplan is not None:  # an applier: the calls before its call succeeded
            self._commit_before(pending.args[2][1][0])
        elif pending.effects and self.settled < len(self.spawned):
            self._commit(pending.args[1])
        self.spawned.append(pending)
        pending.slot = self.output  # it runs here: its output is the caller's
        pending.run()
        if pending._exception is not None:
            self.delivered[id(pending._exception)] = pending._exception
            reraise(pending._exception)

    def _commit_before(self, call: Pending) -> None:
        """Wait for the deferred calls spawned so far; raise the first failure among
        those before `call` (its own is raised where its result is used)."""
        spawned = self.spawned
        for pending in spawned[self.settled:]:
            pending.wait()
        for pending in spawned[self.settled:]:
            if pending is call:
                return
            failure = pending._exception
            if failure is not None and self._undelivered(failure):
                self.delivered[id(failure)] = failure
                raise failure

    def cancel_unlinked(self) -> None:
        """A loop issued ahead was left early (``break``, with ``speculate=True``):
        calls issued for later items that have not started never will."""
        for group in self.unlinked:
            for pending in group.pendings():
                if pending.group is group:
                    pending.cancel()

    def _drop_unlinked(self) -> None:
        """The invocation is ending: calls issued ahead for items never retired are
        cancelled, or waited for if started (plain Python never made them)."""
        for group in self.unlinked:
            for pending in group.pendings():
                if pending.group is group and not pending.cancel():
                    pending.wait()
                    if pending.site is not None:
                        self.wasted += 1
        self.unlinked.clear()

    # -- containers that may hold Pendings --------------------------------------------

    def _holds_pending(self, x: Any) -> bool:
        return type(x) is Pending or (bool(self.dirty) and id(x) in self.dirty)

    def _stored(self, value: Any) -> bool:
        """`value` is being stored into a container: disown it; True if it is pending."""
        if self.owned:
            self.owned.pop(id(value), None)
        return type(value) is Pending or (bool(self.dirty) and id(value) in self.dirty)

    def new_list(self, items: list[Any]) -> list[Any]:
        """A list display or comprehension: owned; registered dirty if it holds a Pending."""
        self._new_container(items, items)
        return items

    def new_dict(self, items: dict[Any, Any]) -> dict[Any, Any]:
        self._new_container(items, items.values())
        return items

    def _new_container(self, container: Any, values: Any) -> None:
        # Every element is checked (not any()): each one stored is disowned.
        if any([self._stored(e) for e in values]):
            self.dirty[id(container)] = container
        self.owned[id(container)] = container

    def new_tuple(self, *items: Any) -> Any:
        """A tuple display: a tuple, or a Pending for it if an element is pending.

        Tuples are immutable, so one holding Pendings becomes a single Pending whose
        value is built once: every later use sees the same tuple object.
        """
        if self.owned:  # a container in a tuple goes wherever the tuple goes
            for e in items:
                self.owned.pop(id(e), None)
        for e in items:
            if self._holds_pending(e):
                gather = Pending(self, None, _make_tuple, items, {})
                self._spawn(gather)
                deps: list[Pending] = []
                for e2 in items:
                    if type(e2) is Pending:
                        deps.append(e2)
                    elif id(e2) in self.dirty:
                        self._collect_deps(e2, deps)
                gather.deps = deps
                # Building the tuple is instant: run it on the thread that finishes
                # the last dependency instead of queueing it (or at the first wait).
                _when_all_done(deps, gather.run)
                return gather
        return items

    def append(self, method: Any, value: Any) -> None:
        """``target.append(value)``; `method` is the bound method, evaluated first."""
        target = getattr(method, "__self__", None)
        if type(target) is list and id(target) in self.owned and (
            getattr(method, "__name__", "") == "append"
        ) and self._stored(value):
            target.append(value)
            self.dirty[id(target)] = target
            return None
        self.mut(target)
        return method(self.wait(value))  # type: ignore[no-any-return]

    def extend(self, method: Any, values: Any) -> None:
        target = getattr(method, "__self__", None)
        if type(target) is list and id(target) in self.owned and (
            getattr(method, "__name__", "") == "extend"
        ) and type(values) in (list, tuple) and any([self._stored(v) for v in values]):
            target.extend(values)
            self.dirty[id(target)] = target
            return None
        self.mut(target)
        return method(self.wait(values))  # type: ignore[no-any-return]

    def insert(self, method: Any, index: Any, value: Any) -> None:
        target = getattr(method, "__self__", None)
        if type(target) is list and id(target) in self.owned and (
            getattr(method, "__name__", "") == "insert"
        ) and self._stored(value):
            target.insert(index, value)
            self.dirty[id(target)] = target
            return None
        self.mut(target)
        return method(index, self.wait(value))  # type: ignore[no-any-return]

    def setitem(self, value: Any, target: Any, key: Any) -> None:
        """``target[key] = value``, arguments in Python's evaluation order."""
        t = type(target)
        if (t is dict or t is list) and id(target) in self.owned and self._stored(value):
            target[key] = value
            self.dirty[id(target)] = target
            return
        self.mut(target)
        target[key] = self.wait(value)

    # -- blocks and exits -------------------------------------------------------------

    def barrier(self) -> None:
        """Wait for every outstanding deferred call; raise the first failure."""
        spawned = self.spawned
        start = self.settled
        if start == len(spawned):
            return
        blocking = next((p for p in spawned[start:] if p._state < _FINISHED and p.site), None)
        with waiting(self, blocking) if blocking is not None else _NO_NOTE:
            for pending in spawned[start:]:
                pending.wait()
        self.settled = len(spawned)
        self._release_settled()
        for pending in spawned[start:]:
            if self._undelivered(pending._exception):
                reraise(pending._exception)  # type: ignore[arg-type]

    def fail(self, exc: BaseException) -> BaseException:
        """The body raised `exc`: settle every outstanding call and say what to raise.

        Calls spawned before the failing point run (plain Python ran them first); if
        `exc` came from a deferred call, the ones spawned after it are cancelled or
        waited for. The earliest failure in program order is returned.
        """
        if isinstance(exc, (KeyboardInterrupt, SystemExit)) or (
            type(exc) is InvocationTimeout and exc.invocation is self
        ):
            return self.abandon(exc)
        if self.unlinked:
            self.issuing = None
            self._drop_unlinked()
        spawned = self.spawned
        start = self.settled
        end = len(spawned)
        failing_at = end
        for i in range(start, end):
            if spawned[i]._exception is exc:
                failing_at = i
                break
        for i in range(start, end):
            if i <= failing_at or _applies(spawned[i], spawned[failing_at]):
                spawned[i].wait()  # (the failing call's writes before it raised count)
            elif not spawned[i].cancel():
                spawned[i].wait()
        self.settled = end
        self._release_settled()
        for i in range(start, min(failing_at + 1, end)):
            earlier = spawned[i]._exception
            if earlier is exc or self._undelivered(earlier):
                return trim(earlier)  # type: ignore[return-value]
        return trim(exc)

    def ret(self, value: Any) -> Any:
        """``return value``: its deep value, after every outstanding call has finished."""
        value = self.wait(value)
        self.barrier()
        self._finish()
        return value

    def abandon(self, exc: BaseException) -> BaseException:
        """`exc` (KeyboardInterrupt, SystemExit) arrived at no point of the program order:
        cancel every call that has not started and wait for none. Calls in flight
        finish in the background (threads cannot be stopped); their results are
        dropped, and a call still waiting for a provider slot does not start
        (`_limits.run` checks ``done``). Returns `exc`, to be raised at once."""
        for pending in self.spawned[self.settled:]:
            pending.cancel()
        for group in self.unlinked:
            for pending in group.pendings():
                pending.cancel()
        self.unlinked.clear()
        self.settled = len(self.spawned)
        self.dirty.clear()  # never resolved: that would wait for calls in flight
        self._release_settled()
        return exc

    def fail_exit(self, exc: BaseException) -> BaseException:
        """The function body raised `exc`: settle everything; what to raise instead."""
        chosen = self.fail(exc)
        # _finish may raise it again internally, inside the function's handler: that
        # would chain the handled exception to it, and extend its traceback.
        traceback, context = chosen.__traceback__, chosen.__context__
        self._finish()
        chosen.__context__ = context
        return chosen.with_traceback(traceback)

    def _finish(self) -> None:
        # Nothing may keep a Pending once the invocation is over.
        if self.done:
            return  # already finished: a finally block raised after `return`
        self.done = True
        if self.unlinked:
            self._drop_unlinked()
        if self.output is not None:
            _end_output(self.output, self._output_token)
        if self.dirty:
            for container in list(self.dirty.values()):
                self._resolve_quietly(container)
        if self.deferred_count:
            _observe_spans(self.spawned)
        self.code.finished(self)


    def _release_settled(self) -> None:
        # Every call spawned so far has finished: nothing holds borrowed objects now.
        if self.borrowed:
            self.borrowed.clear()


# `op_Add` & co.: the rewrite's glue for an operator over two names (`_rewrite.later`).
for _name, _fn in BINARY_OPERATORS.items():
    setattr(Invocation, "op_" + _name, staticmethod(_fn))


def _observe_spans(spawned: list[Pending]) -> None:
    """Per site and callee: total CPU time of its deferred calls over the span they took.

    Concurrent CPU-bound calls take turns on the GIL, so each one's wall time looks
    mostly idle; together, though, their CPU time fills their span. That density,
    not per-call ratios, tells a mis-hinted CPU-bound callee from an I/O-bound one.
    """
    spans: dict[tuple[Any, Any], list[float]] = {}
    for p in spawned:
        if not p.measure or not p.finished or p._exception is not None:
            continue
        key = (p.site, callee_key(p.args[1]))
        entry = spans.get(key)
        if entry is None:
            spans[key] = [p.started, p.finished, p.cpu]
        else:
            entry[0] = min(entry[0], p.started)
            entry[1] = max(entry[1], p.finished)
            entry[2] += p.cpu
    for (site, key), (start, end, cpu) in spans.items():
        site.observe_span(key, end - start, cpu)


@functools.cache
def unpacker_of(count: int) -> Callable[[Any], tuple[Any, ...]]:
    """A function doing ``v0, ..., vN = value`` (Python's own unpacking, errors and
    all) and returning the tuple."""
    names = ", ".join(f"v{i}" for i in range(count))
    namespace: dict[str, Any] = {}
    exec(f"def unpack(value):\n    {names}, = value\n    return ({names},)\n", namespace)
    return namespace["unpack"]  # type: ignore[no-any-return]


def _apply_journal(receiver: Any, holder: list[Pending]) -> None:
    """An applier's body: replay the call's recorded writes on `receiver` (also those
    it made before it raised, as plain Python did; none if it never ran). (The call is
    held in a list: a Pending argument would be resolved to its value.)"""
    call = holder[0]
    call.wait()
    if call._state != _CANCELLED and call.journal:
        _apply_journal_entries(receiver, call.journal)


def _independent(a: Pending, b: Pending) -> bool:
    """A journaled call and the applier of another's journal, the call reading nothing
    the applier writes: they may overlap (each object stays consistent for both)."""
    pa, pb = a.jplan, b.jplan
    if pa is None or pb is None or (a.journal is None) == (b.journal is None):
        return False
    reader, writer = (pa, pb) if a.journal is not None else (pb, pa)
    return not (reader.read_attrs & writer.writes)


def _applies(pending: Pending, call: Pending) -> bool:
    return pending.jplan is not None and pending.journal is None and (
        pending.args[2][1][0] is call)


def _when_all_done(deps: list[Pending], then: Callable[[], object]) -> None:
    """Call `then()` once every task in `deps` has finished (at once if they have)."""
    waiting = [d for d in deps if not d.done()]
    if not waiting:
        then()
        return
    lock = threading.Lock()
    left = [len(waiting)]

    def one_done(_: Task[Any]) -> None:
        with lock:
            left[0] -= 1
            ready = left[0] == 0
        if ready:
            then()

    for d in waiting:
        d.add_done_callback(one_done)


def _passes_io_client(args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
    for a in args:
        if type(a) not in _IMMUTABLE and is_io_client_type(type(a)):
            return True
    return any(type(a) not in _IMMUTABLE and is_io_client_type(type(a))
               for a in kwargs.values())
