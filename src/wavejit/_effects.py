"""Effects a deferred call must not reorder: writes outside the process, context
variables set for later code, thread-local state.

Each predicate reads a callee's source (AST, cached per code object) and follows the
program's own functions it calls through its globals, `DEPTH` levels deep, as the
I/O scan in `_hints` does:

* `external_effects(fn)`: the callee (or a function it calls) writes outside the
  process: ``open(..., "w" | "a" | "x" | "+")``, an ``os`` / ``shutil`` mutation,
  ``pathlib.Path.write_text`` and friends, ``subprocess`` / ``os.system``, a database
  write (``execute`` of ``INSERT`` / ``UPDATE`` / ``DELETE`` / DDL, ``commit``). Such a
  call must start only after every earlier deferred call succeeded (plain Python
  would not have reached it otherwise); it is never re-issued or retried.
* `sets_context_var(fn)`: the callee calls ``.set(...)`` on a module-level
  ``contextvars.ContextVar``. A deferred call runs in a copy of the context, so the
  value would never reach later code: such a callee runs inline, in program order.
* `reads_thread_local(fn)`: the callee names a module-level ``threading.local`` (or a
  re-entrant lock, ``threading.RLock`` / ``Condition``, which the caller may hold).
  Deferred calls run on pool threads, where that object's attributes are unset: such
  a callee runs inline, on the caller's thread (see docs/DESIGN.md, thread-locals).

Each returns a short reason (for ``explain()``) or None.
"""

from __future__ import annotations

import ast
import contextvars
import inspect
import threading
import types
from typing import Any

from ._source import NoSource, function_def

__all__ = ["external_effects", "external_reads", "sets_context_var", "reads_thread_local",
           "DEPTH"]

DEPTH = 2

_OS_WRITES = frozenset({
    "remove", "unlink", "rename", "renames", "replace", "rmdir", "removedirs", "mkdir",
    "makedirs", "write", "truncate", "ftruncate", "chmod", "chown", "link", "symlink",
    "utime", "system", "popen", "spawnl", "spawnv", "execv", "execve", "kill", "putenv",
    "unsetenv",
})
_SHUTIL_WRITES = frozenset({
    "copy", "copy2", "copyfile", "copytree", "move", "rmtree", "copymode", "copystat",
    "chown", "make_archive", "unpack_archive",
})
_PATH_WRITES = frozenset({
    "write_text", "write_bytes", "unlink", "mkdir", "rmdir", "rename", "replace",
    "touch", "symlink_to", "hardlink_to", "chmod", "lchmod",
})
_SQL_WRITES = ("insert", "update", "delete", "create", "drop", "alter", "replace",
               "truncate", "merge", "upsert")
_DB_WRITE_METHODS = frozenset({"commit", "executemany", "executescript"})

_cache: dict[str, dict[Any, str | None]] = {"effects": {}, "reads": {}, "contextvar": {},
                                            "local": {}}


def external_effects(fn: Any) -> str | None:
    """Why `fn` writes outside the process (see module doc), or None."""
    return _cached("effects", fn, _effects_in)


def external_reads(fn: Any) -> str | None:
    """Why `fn` may read state outside the process (a file, a database) or write it,
    or None. A call after a deferred call with external effects that may read what it
    wrote waits for it (plain Python wrote first)."""
    module = getattr(fn, "__module__", None) or ""
    if fn is open or module.split(".")[0] in _STATE_MODULES:  # a file, a database itself
        return f"{module}.{getattr(fn, '__name__', '')}()" if module else "open()"
    return _cached("reads", fn, _reads_in)


_STATE_MODULES = frozenset({"io", "_io", "os", "posix", "pathlib", "json", "pickle",
                            "shelve", "sqlite3", "_sqlite3", "glob", "shutil", "csv"})


def sets_context_var(fn: Any) -> str | None:
    """Why `fn` sets a module-level ContextVar, or None."""
    return _cached("contextvar", fn, _contextvar_in)


def reads_thread_local(fn: Any) -> str | None:
    """Why `fn` uses a module-level ``threading.local``, or None."""
    return _cached("local", fn, _thread_local_in)


def _target(fn: Any) -> types.FunctionType | None:
    fn = getattr(fn, "__wrapped__", fn) if getattr(fn, "__wavejit_jit__", False) else fn
    fn = getattr(fn, "__func__", fn)
    return fn if isinstance(fn, types.FunctionType) else None


def _cached(kind: str, fn: Any, finder: Any) -> str | None:
    cache = _cache[kind]
    code = getattr(fn, "__code__", None)  # functions and bound methods: the fast path
    if code is not None and code in cache:
        return cache[code]
    function = _target(fn)
    if function is None:
        return None
    code = function.__code__
    if code in cache:
        return cache[code]
    if _is_library(function):
        # Not scanned: a client library's internals are the request itself (an SDK
        # may keep a cache file), and the program's own functions are scanned for
        # the library calls that write, by name.
        result = _library_effect(function) if kind == "effects" else None
        cache[code] = result
        return result
    cache[code] = None  # recursion: nothing found so far
    result = _walk(function, finder, DEPTH, set())
    cache[code] = result
    return result


def _walk(fn: types.FunctionType, finder: Any, depth: int, seen: set[Any]) -> str | None:
    if fn.__code__ in seen:
        return None
    seen.add(fn.__code__)
    try:
        node = function_def(fn, name=fn.__code__.co_name)
    except (NoSource, OSError):
        return None
    glob = fn.__globals__
    for sub in ast.walk(node):
        if not isinstance(sub, (ast.Call, ast.Name, ast.Attribute)):
            continue
        found: str | None = finder(sub, glob)
        if found is not None:
            return f"{fn.__qualname__}: {found}"
        if depth > 0 and isinstance(sub, ast.Call) and isinstance(sub.func, (ast.Name,
                                                                         ast.Attribute)):
            callee = _program_callee(sub.func, glob)
            if callee is not None and not _is_library(callee):
                found = _walk(callee, finder, depth - 1, seen)
                if found is not None:
                    return found
    return None


def _program_callee(func: ast.expr, glob: dict[str, Any]) -> types.FunctionType | None:
    """The function ``f(...)``, ``module.f(...)``, ``Class.f(...)`` (a class used as a
    namespace, a static method) or ``OBJ.f(...)`` (a method of a module-level
    object) calls."""
    if isinstance(func, ast.Name):
        callee = glob.get(func.id)
    elif isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (
        func.value.id in glob
    ):
        owner = glob[func.value.id]
        if isinstance(owner, types.ModuleType):
            callee = getattr(owner, func.attr, None)
        else:
            try:
                callee = inspect.getattr_static(
                    owner if isinstance(owner, type) else type(owner), func.attr)
            except AttributeError:
                return None
            callee = getattr(callee, "__func__", callee)  # staticmethod, classmethod
    else:
        return None
    return _target(callee) if callee is not None else None


_READ_CALLS = frozenset({
    "read_text", "read_bytes", "exists", "is_file", "is_dir", "iterdir", "glob", "rglob",
    "stat", "listdir", "scandir", "fetchone", "fetchall", "fetchmany", "execute",
    "getsize", "getmtime", "isfile", "isdir",
})


def _reads_in(node: ast.AST, glob: dict[str, Any]) -> str | None:
    found = _effects_in(node, glob)
    if found is not None or not isinstance(node, ast.Call):
        return found
    func = node.func
    if isinstance(func, ast.Name) and func.id == "open" and func.id not in glob:
        return "open()"
    if isinstance(func, ast.Attribute) and func.attr in (_READ_CALLS | {"open", "connect"}):
        return f".{func.attr}()"
    dotted = _dotted(func, glob)
    if dotted is not None and dotted[0] in ("json", "pickle", "shelve", "sqlite3", "glob",
                                            "csv") and dotted[1] in (
            "load", "open", "connect", "glob", "reader", "DictReader"):
        return f"{dotted[0]}.{dotted[1]}()"
    return None


def _library_effect(fn: types.FunctionType) -> str | None:
    """A standard-library function deferred itself (``subprocess.run``): by name."""
    module, name = fn.__module__ or "", fn.__name__
    if module == "subprocess" or (module in ("os", "posix") and name in _OS_WRITES) or (
            module == "shutil" and name in _SHUTIL_WRITES) or (
            module == "pathlib" and name in _PATH_WRITES):
        return f"{module}.{name}()"
    return None


def _is_library(fn: types.FunctionType) -> bool:
    # The standard library's and third-party packages' internals are not the program's.
    filename = fn.__code__.co_filename
    return "site-packages" in filename or "/lib/python3" in filename


def _dotted(node: ast.expr, glob: dict[str, Any]) -> tuple[str, str] | None:
    """(module name, attribute) for ``mod.attr`` where ``mod`` is a global module."""
    if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
        module = glob.get(node.value.id)
        if isinstance(module, types.ModuleType):
            return module.__name__, node.attr
    if isinstance(node, ast.Name):
        value = glob.get(node.id)
        module_name = getattr(value, "__module__", None)
        if module_name and callable(value):
            return module_name, getattr(value, "__name__", node.id)
    return None


def _effects_in(node: ast.AST, glob: dict[str, Any]) -> str | None:
    if not isinstance(node, ast.Call):
        return None
    func = node.func
    builtin_open = isinstance(func, ast.Name) and func.id == "open" and func.id not in glob
    if builtin_open or isinstance(func, ast.Attribute) and func.attr == "open":
        # open(path, mode) / Path(...).open(mode): the mode's position differs
        position = 1 if builtin_open else 0
        mode = node.args[position] if len(node.args) > position else next(
            (k.value for k in node.keywords if k.arg == "mode"), None)
        if mode is None:
            return None
        if not isinstance(mode, ast.Constant) or not isinstance(mode.value, str):
            return "open() with a mode computed at run time"
        if any(c in mode.value for c in "wax+"):
            return f"open(..., {mode.value!r})"
        return None
    if isinstance(func, ast.Name) and func.id == "print" and any(
        k.arg == "file" and not (isinstance(k.value, ast.Attribute)
                                 and k.value.attr in ("stdout", "stderr"))
        for k in node.keywords
    ):
        return "print(..., file=...)"
    dotted = _dotted(func, glob)
    if dotted is not None:
        module, attr = dotted
        if module in ("os", "posix") and attr in _OS_WRITES:
            return f"os.{attr}()"
        if module == "shutil" and attr in _SHUTIL_WRITES:
            return f"shutil.{attr}()"
        if module == "subprocess":
            return f"subprocess.{attr}()"
    if isinstance(func, ast.Attribute):
        if func.attr in _PATH_WRITES and func.attr not in ("replace",):
            return f".{func.attr}()"
        if func.attr in ("write", "writelines") and not (
            isinstance(func.value, ast.Attribute) and func.value.attr in ("stdout", "stderr")
        ):  # a file object handed in or global (sys.stdout's writes are output, ordered)
            return f".{func.attr}()"
        if func.attr in _DB_WRITE_METHODS:
            return f".{func.attr}()"
        if func.attr in ("execute", "executemany") and node.args:
            sql = node.args[0]
            if isinstance(sql, ast.Constant) and isinstance(sql.value, str):
                if sql.value.lstrip().lower().startswith(_SQL_WRITES):
                    return f"a database write ({sql.value.split()[0].upper()})"
            elif not isinstance(sql, ast.Constant):
                return ".execute() of a statement computed at run time"
    return None


def _contextvar_in(node: ast.AST, glob: dict[str, Any]) -> str | None:
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and \
            node.func.attr == "set" and isinstance(node.func.value, ast.Name):
        value = glob.get(node.func.value.id)
        if isinstance(value, contextvars.ContextVar):
            return f"sets the ContextVar {value.name!r}"
    return None


_RLOCK = type(threading.RLock())


def _thread_local_in(node: ast.AST, glob: dict[str, Any]) -> str | None:
    if isinstance(node, ast.Name):
        value = glob.get(node.id)
        if isinstance(value, threading.local):
            return f"uses the thread-local {node.id!r}"
        if isinstance(value, (_RLOCK, threading.Condition)):
            # Re-entrant: the caller may hold it (`with LOCK: save(x)`); on another
            # thread the call would wait for the caller, which waits for the call.
            return f"takes the re-entrant lock {node.id!r}, which the caller may hold"
    return None
