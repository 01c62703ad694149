"""Journaled methods: a method's writes to its own object, replayed in program order.

Real programs wrap their LLM client in a class that keeps books::

    def chat(self, prompt):
        resp = self.client.chat.completions.create(...)
        self.total_tokens += resp.usage.total_tokens
        self.history.append((prompt, resp))
        return resp.choices[0].message.content

Such a method mutates ``self``, so calls on one object kept program order: a loop of
``bot.chat(q)`` ran one request at a time. But its writes are *blind*: it never reads
what it writes. Such a call runs on a pool thread with those writes *recorded* instead
of done (the journal), and an *applier* replays them on the object once the call has
finished and every deferred call before it (program order) has succeeded -- the same
writes plain Python made, in the same order, with the same operands
(``self.total_tokens += n`` is replayed as ``operator.iadd(obj.total_tokens, n)``
stored back). The caller's next use of the object waits for the applier, as for any
call that mutates an object; the call's output keeps its place as before (`_output`).

A method qualifies when its source shows (`plan`, cached per function and class):

- every write to ``self`` is a statement ``self.a op= e``, ``self.a = e``,
  ``self.a[k] = e`` or ``self.a.m(...)`` with ``m`` a mutating method of a builtin
  container (``append``, ``extend``, ``update``...), outside ``try`` blocks (a handler
  would see a failure plain Python raises there);
- no journaled attribute is read anywhere else in it;
- ``self`` appears otherwise only as ``self.x`` reads, where ``x`` is a method of the
  class that itself only reads ``self`` (the same rules, no writes, no journaled
  attribute), or a plain attribute;
- no nested function, lambda or class uses ``self``; not a generator or coroutine.

At run time, before each call (`JournalPlan.admits`): every plain attribute it reads
holds an immutable or shareable value (a string, a client), the object has no custom
``__setattr__``, and every container a write mutates is a builtin container. Then
concurrent calls cannot see one another's writes, and the replay cannot run code of
the program's own. Otherwise the call keeps program order, as before.
"""

from __future__ import annotations

import ast
import builtins
import copy
import inspect
import logging
import operator
import sys
import threading
import types
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ._astlock import AST_LOCK
from ._source import NoSource, function_def

__all__ = ["JournalPlan", "plan", "apply", "run_journaled"]

# The journal of the call running in this thread (set by the runtime around it).
_local = threading.local()

_AUG_OPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.iadd, ast.Sub: operator.isub, ast.Mult: operator.imul,
    ast.Div: operator.itruediv, ast.FloorDiv: operator.ifloordiv, ast.Mod: operator.imod,
    ast.Pow: operator.ipow, ast.BitOr: operator.ior, ast.BitAnd: operator.iand,
    ast.BitXor: operator.ixor, ast.LShift: operator.ilshift, ast.RShift: operator.irshift,
    ast.MatMult: operator.imatmul,
}
_CONTAINER_METHODS = frozenset({
    "append", "extend", "insert", "add", "update", "appendleft", "extendleft",
    "setdefault", "discard",
})
_CONTAINERS = (list, dict, set, deque)
_HOOK = "_wj_journal"
_MISSING = object()
_DEF_NAME = "_wj_journaled"


@dataclass
class JournalPlan:
    """How calls of one method record their writes to ``self``."""

    function: types.FunctionType  # the journaled twin: writes go to the journal
    writes: frozenset[str]  # attributes of self it writes (never reads)
    reads: frozenset[str]  # plain attributes of self it (or its methods) reads
    containers: frozenset[str]  # written attributes whose container a write mutates
    numbers: frozenset[str] = field(default_factory=frozenset)  # `self.a op= e` targets
    read_attrs: frozenset[str] = field(default_factory=frozenset)  # methods included

    def admits(self, receiver: Any, shareable: Callable[[Any], bool]) -> bool:
        """May this call on `receiver` run journaled (see the module docstring)?"""
        t = type(receiver)
        if t.__setattr__ is not object.__setattr__ or (  # type: ignore[comparison-overlap]
            t.__getattribute__ is not object.__getattribute__  # type: ignore[comparison-overlap]
        ):
            return False
        for name in self.writes:  # a property's setter would run late: code of its own
            try:
                descriptor = inspect.getattr_static(t, name)
            except AttributeError:
                continue
            if hasattr(type(descriptor), "__set__") or hasattr(type(descriptor), "__get__"):
                return False
        try:
            state = receiver.__dict__
        except AttributeError:
            return False
        for name in self.reads:
            value = state[name] if name in state else getattr(t, name, _MISSING)
            if value is _MISSING or not shareable(value):
                return False
        for name in self.containers:
            if type(state.get(name)) not in _CONTAINERS:
                return False
        return all(type(state.get(name)) in (int, float, str, list, tuple)
                   for name in self.numbers)


_COPIED = frozenset({"extend", "update", "extendleft"})  # read their operand's contents


def record(*entry: Any) -> None:
    """The journaled twin's replacement for a write to ``self`` (see `_transform`).

    An operand whose contents the write reads (``self.items += buf``,
    ``self.meta.update(m)``) is copied now: the method may change it after the write,
    and plain Python read it at the write."""
    kind = entry[0]
    if kind == "aug" and type(entry[3]) not in _IMMUTABLE:
        entry = (*entry[:3], _snapshot(entry[3]))
    elif kind == "call" and entry[2] in _COPIED and entry[3] and type(
        entry[3][0]) not in _IMMUTABLE:
        entry = (*entry[:3], (_snapshot(entry[3][0]), *entry[3][1:]), entry[4])
    _local.journal.append(entry)


_IMMUTABLE = frozenset({int, float, complex, str, bytes, bool, type(None), tuple, frozenset})


def _snapshot(value: Any) -> Any:
    if type(value) is dict:
        return dict(value)
    try:
        return list(value)
    except TypeError:  # not iterable (an operand of a number): as it is
        return value


def run_journaled(journal: list[tuple[Any, ...]], fn: Callable[..., Any],
                  args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """Call `fn` with its writes to ``self`` recorded into `journal`."""
    previous = getattr(_local, "journal", None)
    _local.journal = journal
    try:
        return fn(*args, **kwargs)
    finally:
        _local.journal = previous


def apply(obj: Any, journal: list[tuple[Any, ...]]) -> None:
    """Replay the recorded writes on `obj`, in the order the call made them."""
    for entry in journal:
        kind = entry[0]
        if kind == "aug":
            _, name, op, value = entry
            setattr(obj, name, op(getattr(obj, name), value))
        elif kind == "set":
            setattr(obj, entry[1], entry[2])
        elif kind == "item":
            _, name, value, key = entry
            getattr(obj, name)[key] = value
        else:  # "call": a container's mutating method
            _, name, method, args, kwargs = entry
            getattr(getattr(obj, name), method)(*args, **kwargs)


_plans: dict[tuple[types.CodeType, type], JournalPlan | None] = {}
_plans_lock = threading.Lock()


def plan(fn: Any) -> JournalPlan | None:
    """The journal plan of bound method `fn`, or None if it does not qualify."""
    func = getattr(fn, "__func__", None)
    receiver = getattr(fn, "__self__", None)
    if type(func) is not types.FunctionType or receiver is None or isinstance(
        receiver, types.ModuleType
    ):
        return None
    key = (func.__code__, type(receiver))
    try:
        return _plans[key]
    except KeyError:
        pass
    with _plans_lock:
        if key not in _plans:
            try:
                _plans[key] = _make_plan(func, type(receiver))
            except (NoSource, OSError, SyntaxError, ValueError, TypeError):
                _plans[key] = None
        return _plans[key]


def _make_plan(func: types.FunctionType, cls: type) -> JournalPlan | None:
    if func.__code__.co_flags & (inspect.CO_GENERATOR | inspect.CO_COROUTINE
                                 | inspect.CO_ASYNC_GENERATOR):
        return None
    node = function_def(func, name=func.__code__.co_name)
    args = node.args.posonlyargs + node.args.args
    if not args or node.decorator_list:
        return None
    me = args[0].arg
    found = _Scan(me, cls)
    if not found.method(node, writes_allowed=True, depth=0):
        return None
    if any(isinstance(n, ast.Name) and isinstance(func.__globals__.get(n.id), cls)
           for n in ast.walk(node)):
        return None  # the object under another name (a module-level instance)
    if _changes_shared_state(node, func, me):
        return None
    if not found.writes or found.writes & found.read_attrs:
        return None
    new = copy.deepcopy(node)
    new.body = [_Transform(me).visit(stmt) for stmt in new.body]
    return JournalPlan(
        function=_build(func, new),
        writes=frozenset(found.writes), reads=frozenset(found.reads),
        containers=frozenset(found.containers), numbers=frozenset(found.numbers),
        read_attrs=frozenset(found.read_attrs),
    )


class _Scan:
    """Checks a method's uses of ``self`` against the rules of the module docstring."""

    def __init__(self, me: str, cls: type) -> None:
        self.me = me
        self.cls = cls
        self.writes: set[str] = set()
        self.containers: set[str] = set()
        self.numbers: set[str] = set()
        self.reads: set[str] = set()  # plain attributes (their values checked per call)
        self.read_attrs: set[str] = set()  # every attribute read, methods included
        self.visited: set[str] = set()

    def method(self, node: ast.FunctionDef | ast.AsyncFunctionDef, writes_allowed: bool,
               depth: int, me: str | None = None) -> bool:
        me = me or self.me
        for stmt in node.body:
            if not self.stmt(stmt, me, writes_allowed, depth, in_try=False):
                return False
        return True

    def stmt(self, stmt: ast.stmt, me: str, writes_allowed: bool, depth: int,
             in_try: bool) -> bool:
        write = _journal_write(stmt, me)
        if write is not None:
            if not writes_allowed or in_try:
                return False
            kind, name, value_nodes = write
            self.writes.add(name)
            if kind in ("call", "item"):
                self.containers.add(name)
            elif kind == "aug":
                self.numbers.add(name)
            return all(self.expr(v, me, depth) for v in value_nodes)
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return not _mentions(stmt, me)
        if isinstance(stmt, (ast.Global, ast.Nonlocal)):
            return True  # the scan of the callee decides about global writes
        inside_try = in_try or isinstance(stmt, (ast.Try, ast.With, ast.AsyncWith)) or (
            sys.version_info >= (3, 11) and isinstance(stmt, ast.TryStar))
        for child in ast.iter_child_nodes(stmt):
            if isinstance(child, ast.stmt):
                if not self.stmt(child, me, writes_allowed, depth, inside_try):
                    return False
            elif isinstance(child, ast.AST) and not self.expr(child, me, depth):
                return False
        return True

    def expr(self, node: ast.AST, me: str, depth: int) -> bool:
        """Every use of `me` under `node` is a read ``me.x`` (a method: checked too)."""
        stack = [node]
        while stack:
            sub = stack.pop()
            if isinstance(sub, (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef,
                                ast.ClassDef)):
                if _mentions(sub, me):
                    return False
                continue
            if isinstance(sub, ast.Attribute) and isinstance(sub.value, ast.Name) and (
                sub.value.id == me
            ):
                if not isinstance(sub.ctx, ast.Load) or not self.read(sub.attr, depth):
                    return False
                continue
            if isinstance(sub, ast.Name) and sub.id == me:
                return False  # `self` itself handed on, stored, compared...
            if isinstance(sub, (ast.Attribute, ast.Subscript)) and not isinstance(
                sub.ctx, ast.Load
            ) and _root(sub) == me:
                return False  # `self.a.b = v`, `del self.a[k]`: a write not journaled
            stack.extend(ast.iter_child_nodes(sub))
        return True

    def read(self, name: str, depth: int) -> bool:
        self.read_attrs.add(name)
        try:
            attr = inspect.getattr_static(self.cls, name)
        except AttributeError:
            self.reads.add(name)  # an instance attribute
            return True
        if type(attr) in (str, int, float, bool, bytes, tuple, type(None)):
            self.reads.add(name)  # a class-level setting (``model = "gpt-4o"``)
            return True
        if type(attr) is not types.FunctionType:
            return False  # a property, classmethod, descriptor: code we did not read
        if name in self.visited:
            return True
        if depth >= 3:
            return False
        self.visited.add(name)
        try:
            node = function_def(attr, name=attr.__code__.co_name)
        except (NoSource, OSError):
            return False
        args = node.args.posonlyargs + node.args.args
        if not args or node.decorator_list:
            return False
        return self.method(node, writes_allowed=False, depth=depth + 1, me=args[0].arg)


def _changes_shared_state(node: ast.AST, func: types.FunctionType, me: str) -> bool:
    """May the method change something other than self, its locals and its arguments
    (those the scan of the callee judges)? A method called on, or a store into, an
    object reached through a global or closure name that is not a module, an I/O
    client or a logger (``Bot.sink.append(r)``, ``STORE.save(r)``, a closure's list):
    journaled calls run concurrently, so such a change would land in completion order."""
    from ._hints import is_io_client_type

    own = set(func.__code__.co_varnames)
    for sub in ast.walk(node):
        target: ast.expr | None = None
        if isinstance(sub, ast.Call) and isinstance(sub.func, ast.Attribute):
            target = sub.func.value
        elif isinstance(sub, (ast.Attribute, ast.Subscript)) and not isinstance(
            sub.ctx, ast.Load
        ):
            target = sub.value
        root = _root(target) if target is not None else None
        if root is None or root == me or root in own:
            continue
        value = _lookup(func, root)
        if isinstance(value, types.ModuleType) or isinstance(value, logging.Logger) or (
            value is not _MISSING and not isinstance(value, type)
            and is_io_client_type(type(value))
        ):
            continue
        if value is _MISSING and hasattr(builtins, root):
            continue  # a builtin's method: str.join and the like
        return True
    return False


def _lookup(func: types.FunctionType, name: str) -> Any:
    if name in func.__code__.co_freevars and func.__closure__ is not None:
        try:
            return func.__closure__[func.__code__.co_freevars.index(name)].cell_contents
        except ValueError:
            return _MISSING
    return func.__globals__.get(name, _MISSING)


def _journal_write(stmt: ast.stmt, me: str) -> tuple[str, str, list[ast.expr]] | None:
    """(kind, attribute, evaluated parts) if `stmt` is a journal-able write to `me`."""
    if isinstance(stmt, ast.AugAssign) and _attr_of(stmt.target, me) and type(
        stmt.op
    ) in _AUG_OPS:
        return "aug", stmt.target.attr, [stmt.value]  # type: ignore[union-attr]
    if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1:
        target = stmt.targets[0]
        if _attr_of(target, me):
            return "set", target.attr, [stmt.value]  # type: ignore[attr-defined]
        if isinstance(target, ast.Subscript) and _attr_of(target.value, me) and not (
            isinstance(target.slice, ast.Slice)
        ):
            return "item", target.value.attr, [stmt.value, target.slice]  # type: ignore[attr-defined]
    if isinstance(stmt, ast.Expr) and isinstance(stmt.value, ast.Call):
        call = stmt.value
        func = call.func
        if isinstance(func, ast.Attribute) and func.attr in _CONTAINER_METHODS and (
            _attr_of(func.value, me)
        ):
            parts: list[ast.expr] = list(call.args) + [k.value for k in call.keywords]
            if any(isinstance(a, ast.Starred) for a in call.args) or any(
                k.arg is None for k in call.keywords
            ):
                return None
            return "call", func.value.attr, parts  # type: ignore[attr-defined]
    return None


def _attr_of(node: ast.expr, me: str) -> bool:
    return isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name) and (
        node.value.id == me) and isinstance(node.ctx, (ast.Load, ast.Store))


def _root(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


class _Transform(ast.NodeTransformer):
    """Each journal-able write becomes ``_wj_journal(kind, attr, ...)`` (values first,
    in the order plain Python evaluates them)."""

    def __init__(self, me: str) -> None:
        self.me = me

    def generic_visit(self, node: ast.AST) -> ast.AST:
        if isinstance(node, ast.stmt):
            write = _journal_write(node, self.me)
            if write is not None:
                return self._record(node, write)
        return super().generic_visit(node)

    def _record(self, node: ast.stmt, write: tuple[str, str, list[ast.expr]]) -> ast.stmt:
        kind, name, _ = write
        if kind == "aug":
            assert isinstance(node, ast.AugAssign)
            op_name = _AUG_OPS[type(node.op)].__name__
            args: list[ast.expr] = [
                ast.Constant("aug"), ast.Constant(name),
                ast.Attribute(ast.Name("_wj_operator", ast.Load()), op_name, ast.Load()),
                node.value]
        elif kind == "set":
            assert isinstance(node, ast.Assign)
            args = [ast.Constant("set"), ast.Constant(name), node.value]
        elif kind == "item":
            assert isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Subscript)
            args = [ast.Constant("item"), ast.Constant(name), node.value,
                    node.targets[0].slice]
        else:
            assert isinstance(node, ast.Expr) and isinstance(node.value, ast.Call)
            call = node.value
            assert isinstance(call.func, ast.Attribute)
            args = [ast.Constant("call"), ast.Constant(name), ast.Constant(call.func.attr),
                    ast.Tuple(list(call.args), ast.Load()),
                    ast.Dict([ast.Constant(k.arg) for k in call.keywords],
                             [k.value for k in call.keywords])]
        new = ast.Expr(ast.Call(ast.Name(_HOOK, ast.Load()), args, []))
        ast.copy_location(new, node)
        return ast.fix_missing_locations(new)


def _build(func: types.FunctionType, node: ast.FunctionDef | ast.AsyncFunctionDef,
           ) -> types.FunctionType:
    """Compile the transformed def with `func`'s globals, closure and defaults."""
    code = func.__code__
    names = [*code.co_freevars, _HOOK, "_wj_operator"]
    node.name = _DEF_NAME
    node.decorator_list = []
    factory = ast.FunctionDef(
        name="_wj_factory",
        args=ast.arguments(posonlyargs=[], args=[], vararg=None, kwonlyargs=[],
                           kw_defaults=[], kwarg=None, defaults=[]),
        body=[ast.Assign([ast.Name(n, ast.Store()) for n in names], ast.Constant(None)),
              node, ast.Return(ast.Name(_DEF_NAME, ast.Load()))],
        decorator_list=[], returns=None, type_comment=None,
    )
    if hasattr(factory, "type_params"):
        factory.type_params = []
    top: ast.stmt = factory
    parts = func.__qualname__.split(".")
    if len(parts) >= 2 and parts[-2] != "<locals>":  # private names mangle as in the class
        top = ast.ClassDef(name=parts[-2], bases=[], keywords=[], body=[factory],
                           decorator_list=[])
        if hasattr(top, "type_params"):
            top.type_params = []
    module = ast.Module(body=[top], type_ignores=[])
    for sub in (top, factory, *factory.body[:1], factory.body[-1]):
        ast.copy_location(sub, node)
    ast.fix_missing_locations(module)
    with AST_LOCK:
        module_code = compile(module, code.co_filename, "exec", dont_inherit=True)
    inner = _find(module_code)
    if sys.version_info >= (3, 11):
        inner = inner.replace(co_name=code.co_name, co_qualname=code.co_qualname)
    else:  # pragma: no cover - 3.10
        inner = inner.replace(co_name=code.co_name)
    values = {_HOOK: record, "_wj_operator": operator}
    cells = []
    for name in inner.co_freevars:
        if name in code.co_freevars:
            assert func.__closure__ is not None
            cells.append(func.__closure__[code.co_freevars.index(name)])
        else:
            cells.append(types.CellType(values[name]))
    new = types.FunctionType(inner, func.__globals__, func.__name__, func.__defaults__,
                             tuple(cells))
    new.__kwdefaults__ = func.__kwdefaults__
    new.__qualname__ = func.__qualname__
    new.__module__ = func.__module__
    return new


def _find(code: types.CodeType) -> types.CodeType:
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            if const.co_name == _DEF_NAME:
                return const
            found = _find_or_none(const)
            if found is not None:
                return found
    raise ValueError("the journaled code object was not found")


def _find_or_none(code: types.CodeType) -> types.CodeType | None:
    try:
        return _find(code)
    except ValueError:
        return None
