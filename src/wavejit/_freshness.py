"""Is the source on disk the source of the code the process imported?

The jit rewrites a function from its file, read when it is first called. If the file
was edited after the import (a deploy, a hot reload, an editor), that source is not
the code the process runs, and compiling it would run code the process never
imported. `stale_reason(fn, node)` compiles the parsed ``def`` in the same kind of
scope as the original (inside a class of the same name for a method, so private
names mangle alike and ``super()`` gets its ``__class__`` cell; inside a function
binding its free variables for a closure) and compares the result with
``fn.__code__``: bytecode, constants (nested code objects recursively), names and
local names. Line numbers are not compared: code that only moved runs the same.
Cost: one ``compile()`` of the ``def`` (about 0.1-1 ms), once per function.

That compile is skipped when the file vouches for itself: the lines read (linecache's
entry) are the file as it is now (same size and modification time) and it was last
modified before this process started. Every compile of that file in this process,
the import's included, then read these very lines. This is the assumption Python's
own import makes of a ``.pyc`` (a source with the same size and mtime is the same
source); it fails only for a file replaced with a back-dated mtime while the process
runs, or a ``def`` compiled from other text under this file's name (``exec``), at
the same line and with the same name. The process's start time is read from
``/proc`` (Linux); elsewhere the compile always runs.
"""

from __future__ import annotations

import ast
import copy
import functools
import linecache
import os
import symtable
import types
import warnings
from typing import Any

from ._astlock import AST_LOCK

__all__ = ["stale_reason"]


def stale_reason(fn: types.FunctionType,
                 node: ast.FunctionDef | ast.AsyncFunctionDef) -> str | None:
    """Why `node` is not the source `fn` was compiled from, or None if it is."""
    code = fn.__code__
    if _unchanged_since_start(code.co_filename):
        return None
    try:
        compiled = _compile_like(fn, node)
    except (SyntaxError, ValueError, TypeError) as exc:
        return f"its source on disk does not compile as imported ({exc})"
    if compiled is None:
        return None  # cannot tell: trust the source
    if _same(compiled, code):
        return None
    return (f"the source of {fn.__qualname__} in {code.co_filename} changed after it "
            f"was imported; running the imported code as is")


def _compile_like(fn: types.FunctionType,
                  node: ast.FunctionDef | ast.AsyncFunctionDef) -> types.CodeType | None:
    target = copy.copy(node)
    target.decorator_list = []  # evaluated at import, not part of the function's code
    # The wrapping is built around a placeholder and positioned alone: the def is
    # positioned already, and a walk over all of it costs as much as its compile.
    placeholder = ast.Pass()
    body: list[ast.stmt] = [placeholder]
    parts = fn.__qualname__.split(".")
    if len(parts) >= 2 and parts[-2] != "<locals>":
        cls = ast.ClassDef(name=parts[-2], bases=[], keywords=[], body=body,
                           decorator_list=[])
        if hasattr(ast.ClassDef, "type_params"):
            setattr(cls, "type_params", [])  # noqa: B010 - Python 3.12+ field
        body = [cls]
    free = [v for v in fn.__code__.co_freevars if v != "__class__"]
    if free:
        assign: list[ast.stmt] = [
            ast.Assign(targets=[ast.Name(v, ast.Store())], value=ast.Constant(None))
            for v in free]
        outer = ast.FunctionDef(
            name="_wj_outer", args=ast.arguments(posonlyargs=[], args=[], vararg=None,
                                                 kwonlyargs=[], kw_defaults=[],
                                                 kwarg=None, defaults=[]),
            body=[*assign, *body], decorator_list=[], returns=None)
        if hasattr(ast.FunctionDef, "type_params"):
            setattr(outer, "type_params", [])  # noqa: B010 - Python 3.12+ field
        body = [outer]
    # Python 3.11+ compiles ``mod.f(...)`` differently when ``mod`` was bound by an
    # import at module level: declare the imported names (never executed).
    imported = [ast.Import(names=[ast.alias(name="sys", asname=name)])
                for name in _names(fn.__code__) if _imported(fn, name)]
    module = ast.Module(body=[*imported, *body], type_ignores=[])
    ast.fix_missing_locations(module)
    for holder in ast.walk(module):  # a few wrapper nodes: the def is not there yet
        stmts = getattr(holder, "body", None)
        if isinstance(stmts, list) and placeholder in stmts:
            stmts[stmts.index(placeholder)] = target
    with AST_LOCK:  # (see `_astlock`)
        top = compile(module, fn.__code__.co_filename, "exec", dont_inherit=True,
                      flags=_future_flags(fn))
    return _find(top, fn.__code__.co_name)


def _unchanged_since_start(filename: str) -> bool:
    """Are linecache's lines of `filename` the file as it was before the process began?
    (See the module docstring.)"""
    entry = linecache.cache.get(filename)
    started = _process_start()
    if entry is None or len(entry) != 4 or entry[1] is None or started is None:
        return False  # (a lazily loaded entry, from a loader's get_source, has no mtime)
    size, mtime = entry[0], entry[1]
    try:
        now = os.stat(entry[3])
    except OSError:
        return False
    # One second of margin: /proc/stat's boot time is whole seconds.
    return now.st_size == size and now.st_mtime == mtime and mtime < started - 1.0


@functools.lru_cache(maxsize=1)
def _process_start() -> float | None:
    """When this process started (seconds since the epoch, never later than the true
    start), or None where ``/proc`` does not say (not Linux)."""
    try:
        with open("/proc/self/stat", "rb") as f:
            stat = f.read()
        with open("/proc/stat", "rb") as f:
            boot = next(float(line.split()[1]) for line in f if line.startswith(b"btime"))
        # The command name (field 2) is in parentheses and may hold spaces: the
        # fields after it start after the last ")". Start time is field 22, in ticks.
        ticks = int(stat.rpartition(b")")[2].split()[19])
        return boot + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def _names(code: types.CodeType) -> set[str]:
    found = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            found |= _names(const)
    return found


def _imported(fn: types.FunctionType, name: str) -> bool:
    """Was `name` bound by an import at module level? (What the compiler checks: such a
    name's ``name.f()`` compiles as LOAD_ATTR, another global's as LOAD_METHOD.)"""
    return name in _module_imports(fn.__code__.co_filename)


@functools.lru_cache(maxsize=256)
def _module_imports(filename: str) -> frozenset[str]:
    """The module-level names an import statement binds, by the symbol table."""
    lines = linecache.getlines(filename)
    if not lines:
        return frozenset()
    try:
        with AST_LOCK, warnings.catch_warnings():  # what it warned of at its import
            warnings.simplefilter("ignore", SyntaxWarning)
            warnings.simplefilter("ignore", DeprecationWarning)
            table = symtable.symtable("".join(lines), filename, "exec")
    except (SyntaxError, ValueError):
        return frozenset()
    return frozenset(s.get_name() for s in table.get_symbols() if s.is_imported())


def _future_flags(fn: types.FunctionType) -> int:
    import __future__

    flags = 0
    for name in __future__.all_feature_names:
        feature = fn.__globals__.get(name)
        if isinstance(feature, __future__._Feature):
            flags |= feature.compiler_flag
    return flags & fn.__code__.co_flags


def _find(code: types.CodeType, name: str) -> types.CodeType | None:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == name and const.co_name != "_wj_outer":
                return const
            found = _find(const, name)
            if found is not None:
                return found
    return None


def _same(a: types.CodeType, b: types.CodeType) -> bool:
    if (a.co_code != b.co_code or a.co_names != b.co_names
            or a.co_varnames != b.co_varnames or len(a.co_consts) != len(b.co_consts)):
        return False
    return all(_same_const(x, y) for x, y in zip(a.co_consts, b.co_consts, strict=True))


def _same_const(x: Any, y: Any) -> bool:
    if isinstance(x, types.CodeType) and isinstance(y, types.CodeType):
        return _same(x, y)
    if type(x) is str and type(y) is str and "<locals>" in x and "<locals>" in y:
        # Python 3.10 keeps a nested function's qualified name as a constant: the
        # enclosing scope recompiled here has another name. The code is compared.
        return x.rpartition("<locals>.")[2] == y.rpartition("<locals>.")[2]
    return type(x) is type(y) and x == y
