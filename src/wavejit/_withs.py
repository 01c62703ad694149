"""Which ``with`` blocks may hold results that have not arrived (transparent blocks).

A ``with`` body was rewritten without lazy bindings: if a call in it failed and the
context manager's ``__exit__`` *suppressed* the exception, plain Python would carry
on after the block without the bindings the rest of the body made, and the jit could
not undo them. So every call in ``with Timer(): ...`` or ``async with
httpx.AsyncClient() as c: ...`` waited at once, and loops in such blocks ran in order.

Most context managers never suppress: files, locks, clients, timers, progress bars.
For those, a failure propagates out of the block exactly as in plain Python (the
block's exit barrier raises it inside the block, so ``__exit__`` sees it), and a
binding made after the failing call can only be seen by code that runs after the
exception -- a handler or ``finally`` of an enclosing ``try`` in the same function,
which the rewriter rules out (`_Rewriter.guard_depth`). Such a block is *transparent*:
its body is rewritten like the function's own body, with the barrier at its exit.

`transparent(globals)` judges a ``with`` item's context expression at compile time,
resolving its names in the function's globals:

- ``open(...)``, ``Name(...)`` / ``module.Name(...)`` of a class whose ``__exit__`` /
  ``__aexit__`` never returns a true value (its source: every ``return`` returns
  nothing, ``None`` or ``False``), or of a C type known not to suppress (files, locks);
- a ``@contextlib.contextmanager`` / ``asynccontextmanager`` function whose generator
  does not ``yield`` inside a ``try`` or a ``with`` (only a handler, or a manager
  around the yield, can swallow);
- a global object (``with lock:``) of such a type.

Anything else (a method's result, a name bound at run time) is not transparent.
"""

from __future__ import annotations

import ast
import builtins
import inspect
import io
import threading
import types
from collections.abc import Callable
from typing import Any

from ._source import NoSource, function_def

__all__ = ["transparent"]

_C_TYPES_THAT_DO_NOT_SUPPRESS: tuple[type, ...] = (
    io.IOBase, type(threading.Lock()), type(threading.RLock()), threading.Semaphore,
    threading.Condition, types.SimpleNamespace,
)
_verdicts: dict[Any, bool] = {}


def transparent(glob: dict[str, Any]) -> Callable[[ast.expr], bool]:
    """A judge of context expressions for a function with globals `glob`."""

    def judge(node: ast.expr) -> bool:
        target = _resolve(node.func if isinstance(node, ast.Call) else node, glob)
        if target is None:
            return False
        if not isinstance(node, ast.Call):  # `with lock:` -- an object
            return _never_suppresses(type(target))
        if target is builtins.open or target is io.open:
            return True
        if isinstance(target, type):
            return _never_suppresses(target)
        return _generator_manager(target)

    return judge


def _resolve(node: ast.expr, glob: dict[str, Any]) -> Any:
    if isinstance(node, ast.Name):
        if node.id in glob:
            return glob[node.id]
        return getattr(builtins, node.id, None)
    if isinstance(node, ast.Attribute):
        owner = _resolve(node.value, glob)
        if isinstance(owner, (types.ModuleType, type)):
            return getattr(owner, node.attr, None)
    return None


def _never_suppresses(cls: type) -> bool:
    try:
        verdict = _verdicts.get(cls)
    except TypeError:
        return False
    if verdict is None:
        verdict = _judge_class(cls)
        _verdicts[cls] = verdict
    return verdict


def _judge_class(cls: type) -> bool:
    if issubclass(cls, _C_TYPES_THAT_DO_NOT_SUPPRESS):
        return True
    found = False
    for name in ("__exit__", "__aexit__"):
        try:
            method = inspect.getattr_static(cls, name)
        except AttributeError:
            continue
        found = True
        if not isinstance(method, types.FunctionType) or not _returns_nothing_true(method):
            return False
    return found


def _returns_nothing_true(fn: types.FunctionType) -> bool:
    try:
        node = function_def(fn, name=fn.__code__.co_name)
    except (NoSource, OSError, SyntaxError):
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Return) and sub.value is not None and not (
            isinstance(sub.value, ast.Constant) and sub.value.value in (None, False)
        ):
            return False
    return True


def _generator_manager(fn: Any) -> bool:
    """A ``@contextmanager`` function that cannot swallow the body's exception."""
    wrapped = getattr(fn, "__wrapped__", None)
    if not isinstance(wrapped, types.FunctionType) or not (
        wrapped.__code__.co_flags & (inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR)
    ):
        return False
    try:
        verdict = _verdicts.get(wrapped.__code__)
    except TypeError:  # pragma: no cover - code objects hash
        return False
    if verdict is None:
        try:
            node = function_def(wrapped, name=wrapped.__code__.co_name)
        except (NoSource, OSError, SyntaxError):
            node = None
        # Only a handler, or a context manager around the yield (`with suppress(...)`,
        # an ExitStack), can swallow the body's exception: any of them, and it is not
        # transparent.
        verdict = node is not None and not any(
            isinstance(sub, (ast.Try, ast.With, ast.AsyncWith)) and any(
                isinstance(y, (ast.Yield, ast.YieldFrom)) for b in sub.body for y in ast.walk(b))
            for sub in ast.walk(node))
        _verdicts[wrapped.__code__] = verdict
    return verdict
