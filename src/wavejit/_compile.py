"""Compile a function: parse its source, rewrite it, rebuild it with its own cells.

The rewritten ``def`` is compiled inside a factory function whose locals are the
original function's free variables plus the runtime hook ``_wj_begin``; the inner code
object is then turned into a function with the *original* globals, closure cells
(so ``nonlocal`` writes reach the enclosing scope), defaults, annotations and line
numbers (tracebacks point at the user's file and lines). A method's factory is
compiled inside a class of the same name, so private names are mangled as in the
original.
"""

from __future__ import annotations

import ast
import copy
import inspect
import sys
import types
from collections.abc import Callable
from typing import Any

from ._astlock import AST_LOCK, gc_paused
from ._rewrite import RewriteResult, Unsupported, position, rewrite
from ._source import NoSource, function_def
from ._withs import transparent

__all__ = ["compile_function", "Unsupported"]

_DEF_NAME = "_wj_def"


def _global_writer(fn: types.FunctionType, local_names: set[str]
                   ) -> Callable[[str], bool]:
    """Does the function a name of `fn` refers to (a global, not a local) write module
    globals, as far as its source shows?"""
    from ._hints import classify_base

    def writes(name: str) -> bool:
        if name in local_names:
            return False
        target = fn.__globals__.get(name)
        target = getattr(target, "__wrapped__", target) if getattr(
            target, "__wavejit_jit__", False) else target
        # (A global it only initializes, `if _client is None: _client = ...`, does not
        # count: while it is unset, the call is gated at run time, see `classify`.)
        return isinstance(target, types.FunctionType) and classify_base(target).writes_globals

    return writes


def compile_function(
    fn: types.FunctionType, begin: Callable[[], Any],
    hooked: set[tuple[int, int]] | None = None, speculate: bool = False,
) -> tuple[types.FunctionType, RewriteResult]:
    """The rewritten twin of `fn`, calling `begin()` on entry for its Invocation.

    `hooked`: if given, the (line, column) positions of the only calls that stay
    candidate sites (tier 1); every other call is a plain call.
    """
    with gc_paused():  # (see there: 5% of a 51-line function's compile)
        return _compile_function(fn, begin, hooked, speculate)


def _compile_function(
    fn: types.FunctionType, begin: Callable[[], Any],
    hooked: set[tuple[int, int]] | None, speculate: bool,
) -> tuple[types.FunctionType, RewriteResult]:
    code = fn.__code__
    if code.co_flags & (inspect.CO_GENERATOR | inspect.CO_ASYNC_GENERATOR):
        raise Unsupported("generator functions are not rewritten")
    try:
        node = function_def(fn)
    except NoSource as exc:
        raise Unsupported(str(exc)) from None
    filename, first = code.co_filename, code.co_firstlineno
    local_names = set(code.co_varnames) | set(code.co_cellvars)
    result = rewrite(node, local_names, set(code.co_freevars), first, hooked,
                     speculate=speculate, global_writer=_global_writer(fn, local_names),
                     transparent_with=transparent(fn.__globals__))

    helpers = ["_wj_begin"]
    names = [*code.co_freevars, *helpers]
    # The def is compiled under a reserved name: under its own name it would be a local
    # of the factory, and a recursive call through the module-level name would find
    # that local (a closure cell) instead of the global. The code object is renamed
    # back below, so tracebacks show the original name.
    tree = copy.copy(result.tree)
    tree.name = _DEF_NAME
    factory = ast.FunctionDef(
        name="_wj_factory",
        args=ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                           kw_defaults=[], kwarg=None, defaults=[]),
        body=[
            ast.Assign([ast.Name(n, ast.Store()) for n in names], ast.Constant(None)),
            tree,
            ast.Return(ast.Name(_DEF_NAME, ast.Load())),
        ],
        decorator_list=[], returns=None, type_comment=None,
    )
    if hasattr(factory, "type_params"):
        factory.type_params = []
    module_body: list[ast.stmt] = [factory]
    owner = _owning_class(fn.__qualname__)
    if owner is not None:
        cls = ast.ClassDef(name=owner, bases=[], keywords=[], body=[factory],
                           decorator_list=[])
        if hasattr(cls, "type_params"):
            cls.type_params = []
        module_body = [cls]
    module = ast.Module(body=[position(module_body[0], first, 0, first, 0)], type_ignores=[])
    try:
        try:
            with AST_LOCK:
                module_code = compile(module, filename, "exec", dont_inherit=True)
        except TypeError:  # pragma: no cover - a node the rewrite left unpositioned
            ast.fix_missing_locations(module)  # (tests/test_rewrite.py checks it does not)
            with AST_LOCK:
                module_code = compile(module, filename, "exec", dont_inherit=True)
    except (SyntaxError, ValueError, TypeError) as exc:  # pragma: no cover - a rewrite bug
        raise Unsupported(f"the rewritten code does not compile ({exc})") from None
    inner = _find_code(module_code, _DEF_NAME)
    if inner is None:  # pragma: no cover - a rewrite bug
        raise Unsupported("the rewritten code object was not found")
    if sys.version_info >= (3, 11):
        inner = inner.replace(co_name=code.co_name, co_qualname=code.co_qualname)
    else:  # pragma: no cover - 3.10
        inner = inner.replace(co_name=code.co_name)
    cells = []
    for name in inner.co_freevars:
        if name in code.co_freevars:
            assert fn.__closure__ is not None
            cells.append(fn.__closure__[code.co_freevars.index(name)])
        elif name == "_wj_begin":
            cells.append(types.CellType(begin))
        else:  # pragma: no cover - a rewrite bug
            raise Unsupported(f"unexpected free variable {name!r} in the rewritten code")
    new = types.FunctionType(inner, fn.__globals__, fn.__name__, fn.__defaults__,
                             tuple(cells))
    new.__kwdefaults__ = fn.__kwdefaults__
    new.__annotations__ = fn.__annotations__
    new.__qualname__ = fn.__qualname__
    new.__doc__ = fn.__doc__
    new.__module__ = fn.__module__
    return new, result


def _owning_class(qualname: str) -> str | None:
    parts = qualname.split(".")
    if len(parts) >= 2 and parts[-2] != "<locals>":
        return parts[-2]
    return None


def _find_code(code: types.CodeType, name: str) -> types.CodeType | None:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == name and "_wj_begin" in const.co_freevars:
                return const
            found = _find_code(const, name)
            if found is not None:
                return found
    return None
