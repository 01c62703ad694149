"""Candidate call sites and their per-callee decisions.

A `Site` is one call expression of the jitted function's source that the rewrite
routed through `Invocation.call`. At run time it decides, from the callee object
actually called, whether to defer (`Decision.defer`), and, for a callee it knows
nothing of, measures the call (wall time vs thread CPU time) so that a call that
blocks without a known I/O function (a C-level wait, an unknown client) is promoted
on the next invocation. Decisions are cached per callee key (a code object, a C
function, or a type); the last one is kept for an identity check, the cheap guard.
"""

from __future__ import annotations

import dataclasses
import inspect
import sys
import threading
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ._deep import awaits_a_helper, is_program_file, twin_of
from ._hints import _MUTATING_METHODS, CalleeInfo, callee_key, classify, scan_function
from ._strategies import PROFILE_CALLS, STRATEGIES, SiteFeatures, Strategy

__all__ = ["Site", "Decision", "IO_WALL_FLOOR_S", "IO_CPU_FRACTION", "PROFILE_CALLS"]

# A call is I/O-bound when it took at least this long in wall time...
IO_WALL_FLOOR_S = 0.002
# ...of which the calling thread spent at most this fraction on the CPU.
IO_CPU_FRACTION = 0.5

_BUILTIN_TYPES = (str, bytes, list, dict, set, frozenset, tuple, int, float, complex,
                  bool, bytearray)


@dataclass(frozen=True)
class Decision:
    """What to do with one callee at one site, and why.

    ``effects``: run inline, the call may change state the caller can see (globals,
    its arguments, unknown C code), so it must not run while an earlier deferred call
    might still fail.
    """

    defer: bool
    profile: bool
    reason: str
    info: CalleeInfo
    effects: bool = True
    measure: bool = True  # deferred calls still worth timing (the verdict may change)
    twin: Any = None  # the helper's jitted twin, called instead (see `_deep`)
    awaited: bool = False  # an awaited call's verdict (not the strategy's)

    def without_assumptions(self) -> Decision:
        """For a call passing a callable in place of the default its scan judged:
        nothing is known of what it runs, so it runs inline, in program order."""
        info = dataclasses.replace(self.info, io=None, mutated=None, writes_globals=True)
        return Decision(False, False, f"{self.info.reason}; but this call passes its own "
                        f"{', '.join(sorted(self.info.assumed))}: run in order", info)

    @property
    def safe_receiver(self) -> bool:
        return self.info.safe_receiver

    @property
    def mutates_self(self) -> bool:
        return self.info.mutates_self

    def mutates_arg(self, position: int, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> bool:
        return self.info.mutates_arg(position, args, kwargs)


@dataclass
class Measurement:
    """Timings of one callee at one site: per call, and per invocation's span."""

    calls: int = 0
    wall: float = 0.0
    cpu: float = 0.0
    cpu_dense_spans: int = 0  # invocations whose deferred calls were mostly CPU

    @property
    def io_bound(self) -> bool:
        if not self.calls or self.cpu_dense_spans:
            return False
        wall = self.wall / self.calls
        return wall >= IO_WALL_FLOOR_S and self.cpu <= IO_CPU_FRACTION * self.wall

    def describe(self) -> str:
        if self.cpu_dense_spans:
            return (f"measured CPU-bound: its concurrent calls kept a CPU busy "
                    f"({1000 * self.cpu / self.calls:.1f} ms CPU per call)")
        verdict = "I/O-bound" if self.io_bound else "not I/O-bound"
        return (f"measured {verdict}: wall {1000 * self.wall / self.calls:.1f} ms, "
                f"CPU {1000 * self.cpu / self.calls:.1f} ms per call over {self.calls} "
                "call(s)")


# What has been measured of each callee, process-wide: a callee's nature does not
# depend on the call site or the jitted function calling it, so what one site learns
# (an opaque call blocks; a hinted one computes) every site uses. `_epoch` counts the
# changes that may alter a verdict; a site whose cached decisions predate it re-judges.
_measurements: dict[Any, Measurement] = {}
_measure_lock = threading.Lock()
_epoch = [0]

# A site's concurrent calls are CPU-bound when their CPU time fills this much of the
# span they took together (the GIL serialises CPU work, so the span is CPU time).
# (0.75, not 0.9: on a shared 2-core machine other processes take cycles from the
# span without adding CPU time, and computing calls measured 0.8-0.9; waiting ones
# stay far below.)
CPU_DENSITY = 0.75


def measurement_of(key: Any) -> Measurement | None:
    return _measurements.get(key)


def reset_measurements() -> None:
    """Forget every callee's measurements; sites re-judge on their next call.

    For test isolation: what one test measured (a helper promoted, or demoted as
    CPU-bound) must not change what the next test's jitted functions defer.
    """
    with _measure_lock:
        _measurements.clear()
        _epoch[0] += 1


class Site:
    """One candidate call site: where it is, and what was decided for each callee."""

    def __init__(self, index: int, filename: str, lineno: int,
                 describe: Callable[[], str]) -> None:
        self.index = index
        self.filename = filename
        self.lineno = lineno
        self._describe = describe
        self._label: str | None = None
        self._decisions: dict[Any, Decision] = {}
        self._last: tuple[Any, Decision] | None = None
        self._epoch = _epoch[0]
        self.callee_names: dict[Any, str] = {}
        self.deferred_calls = 0
        self.inline_calls = 0
        self.twin_calls = 0  # calls that went to a helper's jitted twin (see `_deep`)
        # Callees (by name) whose calls ran journaled (`_journal`): the attributes of
        # self their writes were replayed to, in program order.
        self.journaled: dict[str | None, frozenset[str]] = {}
        self.strategy: Strategy = STRATEGIES["io_aware"]
        self.features = SiteFeatures()
        self.seen: set[Any] = set()  # every callee key this site has called
        # Tier 1: called with (site, callee name) when a callee never seen turns up.
        self.guard: Callable[[Site, str], None] | None = None

    def __repr__(self) -> str:
        return f"<Site {self.label}>"

    @property
    def label(self) -> str:
        """``file.py:LINE callee(args)`` (the call's source, rendered on first use)."""
        if self._label is None:
            self._label = f"{self.filename}:{self.lineno} {self._describe()}"
        return self._label

    def decide(self, fn: Any, awaited: bool = False) -> Decision:
        """The decision for callee `fn` (``awaited``: an ``await fn(...)`` site)."""
        if self._epoch != _epoch[0]:  # something was measured since: re-judge
            self._epoch = _epoch[0]
            self._decisions = {}
            self._last = None
        last = self._last
        if last is not None and last[0] is fn:
            decision = last[1]
        else:
            key = callee_key(fn)
            decision = self._decisions.get(key)  # type: ignore[assignment]
            if key not in self.seen:
                self.seen.add(key)
                if self.guard is not None:
                    self.guard(self, _name(fn))
            if decision is None:
                decision = self._decide_awaited(fn) if awaited else self._decide(fn, key)
                self.callee_names[key] = _name(fn)
                if not (decision.info.lazy and decision.info.writes_globals):
                    self._decisions[key] = decision  # (not while a lazy global is unset)
            if not (decision.info.lazy and decision.info.writes_globals):
                self._last = (fn, decision)
        if decision.defer:
            self.deferred_calls += 1
        else:
            self.inline_calls += 1
        return decision

    def count_continuation(self) -> None:
        """An inline decision, deferred after all: its input is still pending, or it
        was handed an I/O client."""
        self.inline_calls -= 1
        self.deferred_calls += 1

    def _decide_awaited(self, fn: Any) -> Decision:
        decision = self._judge_awaited(fn)
        # Any coroutine function of the program may overlap its own awaits, or its
        # helpers' (``top -> mid -> leaf``: mid's twin reaches leaf's loop).
        twin = twin_of(fn, indirect=awaits_a_helper(fn)) if (
            not decision.info.declared) else None
        if twin is None:
            return decision
        return dataclasses.replace(decision, twin=twin, reason=decision.reason + _TWIN_NOTE)

    def _judge_awaited(self, fn: Any) -> Decision:
        info = classify(fn)
        if info.sequential or info.writes_globals:
            if "program order" in info.reason:
                reason = info.reason
            elif info.writes_globals:
                reason = f"{info.reason}; {_globals_note(info)}"
            else:
                reason = f"{info.reason}: stays in program order"
            return Decision(False, False, reason, info, awaited=True)
        return Decision(True, False, "awaited call: started as a task, awaited at first "
                        "use", info, has_effects(fn), awaited=True)

    def _decide(self, fn: Any, key: Any) -> Decision:
        decision = self._judge(fn, key)
        twin = twin_of(fn, indirect=", which " in decision.info.reason) if (
            decision.info.io and not decision.info.declared) else None
        if twin is None:
            return decision
        return dataclasses.replace(
            decision, twin=twin,
            reason=decision.reason + _TWIN_NOTE)

    def _judge(self, fn: Any, key: Any) -> Decision:
        info = classify(fn)
        effects = has_effects(fn)
        if info.sequential:
            return Decision(False, False, info.reason, info, effects)
        if info.writes_globals:
            return Decision(False, False, f"{info.reason}; {_globals_note(info)}", info,
                            effects)
        if _is_builtin_glue(fn):
            return Decision(False, False, "builtin: never I/O", info, effects)
        measured = _measurements.get(key)
        verdict = self.strategy.verdict(info, measured, self.features)
        done = measured is not None and measured.calls >= PROFILE_CALLS
        return Decision(verdict.defer, verdict.profile, verdict.reason, info, effects,
                        measure=not done)

    def observe(self, fn: Any, wall: float, cpu: float) -> None:
        """Record one call's timings (inline or deferred); re-judge at milestones.

        Verdicts are recomputed after a callee's first measurement (one that blocks
        is promoted at once) and after `PROFILE_CALLS` (confirmation). Later calls
        are not measured.
        """
        key = callee_key(fn)
        with _measure_lock:
            m = _measurements.setdefault(key, Measurement())
            if m.calls >= PROFILE_CALLS:
                return
            m.calls += 1
            m.wall += wall
            m.cpu += cpu
            if m.calls == 1 or m.calls == PROFILE_CALLS:
                _epoch[0] += 1

    def observe_span(self, key: Any, span: float, cpu: float) -> None:
        """One invocation's deferred calls to `key`: their CPU time over their span.

        When it fills the span, the calls were computing, not waiting: a hinted callee
        that is really CPU-bound is demoted (unless declared with ``@wavejit.io``).
        """
        if span < IO_WALL_FLOOR_S or cpu < CPU_DENSITY * span:
            return
        with _measure_lock:
            m = _measurements.setdefault(key, Measurement())
            if not m.cpu_dense_spans:
                m.cpu_dense_spans += 1
                m.calls = max(m.calls, PROFILE_CALLS)  # the verdict is final
                _epoch[0] += 1

    @property
    def promoted(self) -> bool:
        """Deferred although not statically known I/O (measured, or speculative)."""
        return any(d.defer and not d.info.io for d in self._decisions.values())

    def decisions(self) -> list[tuple[str, Decision, Measurement | None]]:
        """Per callee: its name, the current verdict, and its measurements."""
        out = []
        for key, decision in list(self._decisions.items()):
            if decision.reason != "builtin: never I/O" and not decision.info.sequential and (
                not decision.info.writes_globals and not decision.awaited
            ):
                verdict = self.strategy.verdict(decision.info, _measurements.get(key),
                                                self.features)
                reason = verdict.reason + (_TWIN_NOTE if decision.twin is not None else "")
                decision = Decision(verdict.defer, verdict.profile, reason,
                                    decision.info, decision.effects, twin=decision.twin)
            out.append((self.callee_names.get(key, "?"), decision, _measurements.get(key)))
        return out


_TWIN_NOTE = "; its own calls are jitted too (a helper of the program)"
_effects_cache: dict[Any, bool] = {}
_MUTABLE_BUILTINS = (list, dict, set, bytearray)


def _globals_note(info: CalleeInfo) -> str:
    """Why a callee that writes module state keeps program order, and where it writes."""
    where = f" ({info.global_write})" if info.global_write else ""
    return f"writes module globals{where}, so it stays in program order"


def has_effects(fn: Any) -> bool:
    """May calling `fn` change state outside the invocation (beyond its own I/O)?

    False for builtin glue (``len``, ``str.strip``; a mutating method of a builtin
    container is an effect on that container) and for Python functions whose source
    writes no global and mutates no parameter; True for anything unknown.
    """
    key = callee_key(fn)
    try:
        cached = _effects_cache.get(key)
    except TypeError:
        return True
    if cached is None:
        cached = _has_effects(fn)
        if not (cached and classify(fn).lazy):  # a lazy global unset: judged again
            _effects_cache[key] = cached
    return cached


def _has_effects(fn: Any) -> bool:
    if getattr(getattr(fn, "__func__", fn), "__module__", None) == "logging":
        return False  # output, like print: not a commit point (see docs/DESIGN.md)
    if _is_builtin_glue(fn):
        owner = getattr(fn, "__self__", None)
        return isinstance(owner, _MUTABLE_BUILTINS) and fn.__name__ in _MUTATING_METHODS
    if isinstance(fn, type) and fn.__module__ == "builtins":
        return False
    if isinstance(fn, type) and is_program_code_class(fn):
        return _constructor_effects(fn)
    info = classify(fn)
    if info.io is True and not info.writes_globals and info.mutated == frozenset():
        return False  # registered I/O: its effects are its own, not on our objects
    return info.writes_globals or info.mutated is None or bool(info.mutated)


def is_program_code_class(cls: type) -> bool:
    """Is `cls` defined in a module of the program (not a library's)?"""
    filename = getattr(sys.modules.get(cls.__module__), "__file__", None)
    return isinstance(filename, str) and is_program_file(filename)


def _constructor_effects(cls: type) -> bool:
    """May ``cls(...)`` change anything but the new object? A class of the program:
    only if its ``__init__`` (its source) writes globals or mutates its arguments, or
    construction runs code we did not read (a metaclass ``__call__``, a ``__new__``,
    a generated ``__init__`` with a ``__post_init__``). The new object itself is seen by
    nobody else yet: an ``__init__`` setting ``self.x`` is not an effect."""
    metaclass_call = next(k.__dict__["__call__"] for k in inspect.getmro(type(cls))
                          if "__call__" in k.__dict__)
    if metaclass_call is not type.__dict__["__call__"] or getattr(
        cls, "__new__", None
    ) is not object.__new__:
        return True
    init = getattr(cls, "__init__", None)
    if init is object.__init__:
        return False
    if not isinstance(init, types.FunctionType):
        return True
    if dataclasses.is_dataclass(cls) and not hasattr(cls, "__post_init__") and (
        init.__code__.co_filename.startswith("<")
    ):
        return False  # the generated __init__: it only sets fields
    scan = scan_function(init, cls)
    if scan.writes_globals or scan.mutated is None:
        return True
    me = scan.positional[0] if scan.positional else None
    return bool(scan.mutated - {me})


def _is_builtin_glue(fn: Any) -> bool:
    if isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        owner = getattr(fn, "__self__", None)
        if owner is None or getattr(owner, "__name__", None) == "builtins":
            return fn.__name__ not in ("open", "input")
        return isinstance(owner, _BUILTIN_TYPES)
    return isinstance(fn, type) and fn in _BUILTIN_TYPES


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
               or type(fn).__name__)
