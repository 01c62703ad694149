"""Calls that must stay on the caller's thread, in program order.

Some objects work only on the thread that created them: a ``sqlite3`` connection or
cursor raises ``ProgrammingError`` elsewhere (unless made with
``check_same_thread=False``, which Python does not let us read back, so every
connection counts). A call that receives one - as an argument, as its receiver, or
through a module global or closure variable its code names - is *pinned*: it runs
inline on the caller's thread. So is a callee that sets a module-level ``ContextVar``
(a deferred call runs in a copy of the context; inline, the value reaches later code
as in plain Python) or reads a module-level ``threading.local`` (pool threads do not
see the caller's attributes); see `_effects`.

`pinned(fn, args, kwargs)` answers per call. What is fixed per callee (the globals its
code names that hold bound objects; its ContextVar / thread-local scan) is cached by
code object; the arguments are checked on every call: one type lookup each.
`register_thread_bound(type_or_predicate)` extends the registry.
"""

from __future__ import annotations

import dataclasses
import sys
import threading
import types
from collections.abc import Callable
from typing import Any

from ._effects import external_effects, reads_thread_local, sets_context_var

__all__ = ["pinned", "keep_order", "is_thread_bound", "register_thread_bound"]

_bound_types: set[type] = set()
# Resolved once their module is imported (no object of theirs exists before), so
# `import wavejit` does not import sqlite3.
_lazy_types: list[tuple[str, str]] = [("sqlite3", "Connection"), ("sqlite3", "Cursor")]
_predicates: list[Callable[[Any], bool]] = []
_type_cache: dict[type, bool] = {}
_lock = threading.Lock()
_LEAVES = frozenset({int, float, complex, str, bytes, bool, type(None), range})


def register_thread_bound(target: type | Callable[[Any], bool]) -> None:
    """Objects of this type (or for which this predicate is true) work only on the
    thread that made them: calls given one run inline on the caller's thread."""
    with _lock:
        if isinstance(target, type):
            _bound_types.add(target)
        elif callable(target):
            _predicates.append(target)
        else:
            raise TypeError("register_thread_bound() takes a type or a predicate")
        _type_cache.clear()
        _callee_cache.clear()


def is_thread_bound(obj: Any) -> bool:
    """True if `obj` must be used on the thread that created it."""
    t = type(obj)
    if t in _LEAVES:
        return False
    known = _type_cache.get(t)
    if known is None:
        if _lazy_types:
            _resolve_lazy()
        known = any(issubclass(t, b) for b in _bound_types)
        if not _predicates:
            _type_cache[t] = known
    if known:
        return True
    return any(p(obj) for p in _predicates)


def _resolve_lazy() -> None:
    with _lock:
        for entry in list(_lazy_types):
            module = sys.modules.get(entry[0])
            if module is not None:
                _bound_types.add(getattr(module, entry[1]))
                _lazy_types.remove(entry)
                _type_cache.clear()


def _holds_bound(x: Any, depth: int = 0) -> bool:
    if is_thread_bound(x):
        return True
    if depth < 1 and type(x) in (list, tuple, set, frozenset):
        return any(_holds_bound(e, depth + 1) for e in x)
    if depth < 1 and type(x) is dict:
        return any(_holds_bound(e, depth + 1) for e in x.values())
    return False


_callee_cache: dict[Any, tuple[tuple[str, ...], str | None]] = {}


_CODE_VALUES = (types.ModuleType, types.FunctionType, types.BuiltinFunctionType, type)


def _callee_facts(function: types.FunctionType) -> tuple[tuple[str, ...], str | None]:
    """(global names the code uses that may hold data, reason it must run inline
    whatever its arguments). Names bound to modules, functions and classes when first
    seen are left out: checking them on every call would cost more than the call."""
    code = function.__code__
    facts = _callee_cache.get(code)
    if facts is None:
        reason = sets_context_var(function) or reads_thread_local(function)
        glob = function.__globals__
        names = tuple(n for n in code.co_names
                      if not isinstance(glob.get(n), _CODE_VALUES))
        facts = (names, reason)
        _callee_cache[code] = facts
    return facts


def pinned(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> str | None:
    """Why this call must run on the caller's thread, in program order; None if not."""
    for a in args:
        if type(a) not in _LEAVES and _holds_bound(a):
            return f"argument {type(a).__name__} is bound to its thread"
    for a in kwargs.values():
        if type(a) not in _LEAVES and _holds_bound(a):
            return f"argument {type(a).__name__} is bound to its thread"
    receiver = getattr(fn, "__self__", None)
    if receiver is not None and not isinstance(receiver, types.ModuleType) and \
            is_thread_bound(receiver):
        return f"its receiver {type(receiver).__name__} is bound to its thread"
    function = getattr(fn, "__func__", fn)
    if getattr(function, "__wavejit_jit__", False):
        function = function.__wrapped__
    if not isinstance(function, types.FunctionType):
        return None
    names, reason = _callee_facts(function)
    if reason is not None:
        return reason
    glob = function.__globals__
    for name in names:
        value = glob.get(name)
        if value is not None and type(value) not in _LEAVES and is_thread_bound(value):
            return f"global {name!r} is bound to its thread"
    for cell in function.__closure__ or ():
        try:
            value = cell.cell_contents
        except ValueError:
            continue
        if is_thread_bound(value):
            return "a closure variable is bound to its thread"
    return None


def keep_order(decision: Any, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """The site's `decision` for this call, corrected for what must keep program order.

    A pinned call (see `pinned`) runs inline on the caller's thread, as a call with
    effects (after every earlier deferred call succeeded). A deferred callee with
    external effects (`_effects.external_effects`) is marked as having effects: it is
    not issued ahead of earlier loop iterations, and it starts only after every
    earlier deferred call succeeded (``Invocation._defer`` chains it).
    """
    if decision.defer or decision.profile or not decision.effects:
        reason = pinned(fn, args, kwargs)
        if reason is not None:
            return dataclasses.replace(decision, defer=False, profile=False, effects=True,
                                       reason=f"runs on the caller's thread: {reason}")
    if decision.defer and not decision.effects and external_effects(fn) is not None:
        return dataclasses.replace(decision, effects=True)
    return decision
