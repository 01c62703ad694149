"""Deep jit: the program's own helpers that do I/O are jitted too.

Real programs keep their fan-out in helpers: the decorated ``main`` calls
``orchestrator.process(task)``, whose loop makes the LLM calls. Jitting only ``main``
would run that loop in order. So when a jitted function calls a Python function or
method *of the program* (its code is not in the standard library or an installed
package) whose source scan found I/O and that has something to overlap (a loop or a
comprehension that calls, or I/O only through another helper it calls), the call goes
to the helper's *twin*: the same
function wrapped in `wavejit.jit`, made once per function object and kept while the
function lives. The twin has the jit's own guarantees (same results, effects in order;
unsupported code runs plain), so calling it instead changes only how long it takes.
The call to the helper can still be deferred as a whole; its twin then runs on a pool
thread and overlaps its own calls there.
"""

from __future__ import annotations

import ast
import sys
import sysconfig
import threading
import types
import weakref
from typing import Any

from ._source import NoSource, function_def

__all__ = ["twin_of", "bind_twin", "is_program_code", "is_program_file"]

_twins: weakref.WeakKeyDictionary[types.FunctionType, Any] = weakref.WeakKeyDictionary()
_lock = threading.Lock()
_NONE = object()


def _library_dirs() -> tuple[str, ...]:
    paths = sysconfig.get_paths()
    dirs = {paths.get(k, "") for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    dirs |= {p for p in sys.path if p.endswith(("site-packages", "dist-packages"))}
    return tuple(sorted(d for d in dirs if d))


_LIBRARY_DIRS = _library_dirs()


def is_program_code(func: types.FunctionType) -> bool:
    """Is `func` the program's own (not the standard library's, not a package's)?"""
    return is_program_file(func.__code__.co_filename)


def is_program_file(filename: str) -> bool:
    """Is the source file `filename` the program's own?"""
    if filename.startswith("<") or "site-packages" in filename or (
        "dist-packages" in filename
    ):
        return False
    return not filename.startswith(_LIBRARY_DIRS)


def has_something_to_overlap(func: types.FunctionType) -> bool:
    try:
        node = function_def(func, name=func.__code__.co_name)
    except (NoSource, OSError):
        return False
    # A loop or comprehension that calls something: what a twin can overlap. (Calls
    # one after another in a helper that does its own I/O rarely overlap, and a twin
    # would cost each call a second thread.)
    for sub in ast.walk(node):
        if isinstance(sub, (ast.For, ast.While, ast.ListComp, ast.DictComp, ast.SetComp,
                            ast.GeneratorExp)):
            if any(isinstance(n, (ast.Call, ast.Await)) for n in ast.walk(sub)):
                return True
    return False


def awaits_a_helper(fn: Any) -> bool:
    """Does coroutine function `fn` await a coroutine function of the program (by a
    global name)? Its twin may then reach that helper's overlap (``top -> mid -> leaf``)."""
    func = getattr(fn, "__func__", fn)
    if type(func) is not types.FunctionType or not func.__code__.co_flags & 0x80:
        return False  # not a coroutine function (CO_COROUTINE)
    try:
        node = function_def(func, name=func.__code__.co_name)
    except (NoSource, OSError):
        return False
    for sub in ast.walk(node):
        if isinstance(sub, ast.Await) and isinstance(sub.value, ast.Call) and isinstance(
            sub.value.func, ast.Name
        ):
            callee = func.__globals__.get(sub.value.func.id)
            if type(callee) is types.FunctionType and callee.__code__.co_flags & 0x80 and (
                is_program_code(callee)
            ):
                return True
    return False


def twin_of(fn: Any, indirect: bool = False) -> Any:
    """The jitted twin of helper `fn` (a function or bound method), or None.

    `indirect`: its I/O is in a function it calls (whose own twin may overlap calls)."""
    func = getattr(fn, "__func__", fn)
    if type(func) is not types.FunctionType or getattr(func, "__wavejit_jit__", False):
        return None
    twin = _twins.get(func, _NONE)
    if twin is _NONE:
        with _lock:
            twin = _twins.get(func, _NONE)
            if twin is _NONE:
                twin = None
                if is_program_code(func) and not (
                    func.__code__.co_flags & 0x20  # CO_GENERATOR: run as written
                ) and (indirect or has_something_to_overlap(func)):
                    from ._jit import JitFunction

                    twin = JitFunction(func)
                _twins[func] = twin
    return twin


def bind_twin(twin: Any, fn: Any) -> Any:
    """Call `twin` the way `fn` would be called (bound to the same receiver)."""
    receiver = getattr(fn, "__self__", None)
    if receiver is None or isinstance(receiver, types.ModuleType):
        return twin
    return types.MethodType(twin, receiver)
