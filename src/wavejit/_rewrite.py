"""The source rewrite: route candidate calls through the runtime, wait at strict uses.

Input: a function's ``def`` (AST). Output: the same ``def`` in which

* every call whose value is used *lazily* becomes a candidate site,
  ``_wj_inv.call(SITE, f, *args, **kwargs)``: it may return a Pending;
* every *strict* use of a name that may hold a Pending (or an object a deferred call
  borrowed) becomes ``_wj_inv.wait(name)``;
* the few places a Pending may be stored go through the runtime: list and dict
  displays and comprehensions (``_wj_inv.new_list``/``new_dict``), tuple displays
  (``_wj_inv.new_tuple``), ``x.append/extend/insert(...)`` and ``x[k] = v``;
* ``try`` and ``with`` bodies are guarded: a barrier on entry, on normal exit, and a
  `fail` check when they raise, so handlers and ``__exit__`` see exactly what plain
  Python shows them; the whole body is guarded the same way, and ``return`` resolves
  its value and waits for everything still outstanding.

Lazy positions (a Pending may be produced or passed on there): the value of an
assignment to plain local names, of an expression statement, an argument of a call
(resolved before a non-deferred callee runs), an element of a list / tuple / dict
display or comprehension in a lazy position, a branch of a conditional expression in
a lazy position, the iterable of a ``for`` over a plain name (iterating yields the
Pendings). Everything else is strict.

Names: only local variables can hold Pendings (never globals, closure cells, or names
captured by nested functions, lambdas, generator expressions or classes, whose code
is not rewritten). Which locals *may* hold one is a fixpoint over their bindings.
"""

from __future__ import annotations

import ast
import builtins
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

from ._hints import _MUTATING_METHODS

__all__ = ["rewrite", "Unsupported", "RewriteResult", "SiteSpec"]

INV = "_wj_inv"
_PREFIX = "_wj_"
_NOT_CANDIDATES = frozenset(
    name for name in dir(builtins) if name not in ("open", "input", "__import__")
) | {"super"}
_CONTAINER_METHODS = {"append": 1, "extend": 1, "insert": 2}
_UNSUPPORTED_NAMES = {"locals", "vars", "eval", "exec", "exit", "quit"}


class Unsupported(Exception):
    """The rewrite cannot handle this function; the plain function will run."""


@dataclass
class SiteSpec:
    lineno: int
    node: ast.Call
    in_loop: bool = False
    ensemble: bool = False  # its callee is a loop variable

    @property
    def text(self) -> str:
        return _short(ast.unparse(self.node))

    def describe(self) -> str:
        return self.text


@dataclass
class RewriteResult:
    tree: ast.FunctionDef | ast.AsyncFunctionDef
    sites: list[SiteSpec]
    may_pend: set[str]
    guarded_names: set[str] = field(default_factory=set)
    loops: dict[int, str] = field(default_factory=dict)  # line -> how the loop runs


_LOAD = ast.Load()  # one instance serves every node (as in `ast.parse`'s trees)
# (The hot paths build nodes with positional arguments, in the order of their
# ``_fields``: keyword arguments make a node's construction two to three times slower.)


def _call(method: str, *args: ast.expr, keywords: list[ast.keyword] | None = None) -> ast.Call:
    return ast.Call(ast.Attribute(ast.Name(INV, _LOAD), method, _LOAD), list(args),
                    keywords or [])


_OPERANDS = (ast.Name, ast.Constant)


def _copy_operand(node: ast.expr) -> ast.expr:
    if isinstance(node, ast.Name):
        return ast.Name(node.id, _LOAD)
    return ast.Constant(node.value)  # type: ignore[attr-defined]


def _is_hook_call(node: ast.expr, method: str) -> bool:
    """Is `node` the hook call ``_wj_inv.<method>(...)``?"""
    return isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and (
        node.func.attr == method and isinstance(node.func.value, ast.Name)
        and node.func.value.id == INV)


def _method_call(node: ast.Call, site: ast.expr) -> ast.expr | None:
    """``_wj_inv.method_call(i, r, "strip", x)`` for a method call on a local that may
    be pending, when its site is ``_wj_inv.call(i, _wj_inv.method(r, "strip"), x)``
    with the call's own names and constants as arguments: the runtime makes the
    continuation or the call (`Invocation.method_call`). Else None: the rewrite keeps
    ``later(lambda r, x: r.strip(x), r, x) if pending(r) else <site>``."""
    attr = node.func.attr  # type: ignore[attr-defined]
    if node.keywords or (attr.startswith("__") and not attr.endswith("__")) or not (
        _is_hook_call(site, "call") and not site.keywords  # type: ignore[attr-defined]
    ):
        return None  # (a private name is mangled by the compiler; getattr would not)
    index, method, *args = site.args  # type: ignore[attr-defined]
    if not _is_hook_call(method, "method") or len(args) != len(node.args):
        return None
    for given, passed in zip(node.args, args, strict=True):
        if isinstance(given, ast.Name):
            if not (isinstance(passed, ast.Name) and passed.id == given.id):
                return None
        elif not (isinstance(given, ast.Constant) and isinstance(passed, ast.Constant)):
            return None
    return _at(_call("method_call", index, *method.args, *args), node)


def _stmt(method: str, *args: ast.expr) -> ast.Expr:
    return ast.Expr(_call(method, *args))


@dataclass
class _Prescan:
    """What one walk over the whole ``def`` learns before the rewrite passes."""

    captured: set[str]  # used in nested scopes the rewrite leaves alone
    builtin_typed: set[str]  # locals only ever bound to literal displays
    comprehension_targets: set[str]  # locals of comprehensions (not in co_varnames)
    filled: set[str]  # receivers of x.append/extend/insert(...) and x[k] = ...
    shared: set[str] = field(default_factory=set)  # declared global / nonlocal here


_NESTED_SCOPES = (ast.Lambda, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)
# The node kinds `_prescan` has a case for (besides names).
_PRESCAN_KINDS = frozenset({ast.Call, ast.Assign, ast.AnnAssign, ast.comprehension, ast.Import,
                            ast.ImportFrom, ast.ExceptHandler, ast.Global, ast.Nonlocal,
                            *_NESTED_SCOPES, ast.GeneratorExp})
_LITERALS = (ast.Constant, ast.JoinedStr, ast.List, ast.Dict, ast.Set, ast.ListComp,
             ast.DictComp, ast.SetComp)


def _prescan(func: ast.FunctionDef | ast.AsyncFunctionDef) -> _Prescan:
    """One recursive walk (`ast.walk` is several times slower) that

    * rejects what the rewrite does not support (`Unsupported`): ``async for`` /
      ``async with`` in the function's own scope, names that could observe pending
      values (``locals()``, ``eval``...), names reserved by wavejit;
    * collects the *captured* names: every name inside a lambda, nested function or
      class, or a generator expression except its first iterable (evaluated at once,
      here): their code is not rewritten, so such names must never hold a Pending;
    * collects the *builtin-typed* locals: names every binding of which is a literal
      display, so ``counts.get`` with ``counts = {}`` is a dict method. A name also
      bound any other way (a parameter, a call's result, a loop target, ``with ... as``,
      ``except ... as``, an import, a walrus, in any scope) is left out;
    * collects comprehension targets, locals of their own code objects;
    * collects the names of containers filled in place, ``x.append(v)``, ``x[k] = v``.
    """
    captured: set[str] = set()
    literal: set[str] = set()
    other: set[str] = {a.arg for a in [*func.args.posonlyargs, *func.args.args,
                                        *func.args.kwonlyargs]}
    other |= {a.arg for a in (func.args.vararg, func.args.kwarg) if a is not None}
    comprehension_targets: set[str] = set()
    filled: set[str] = set()
    shared: set[str] = set()
    handled: set[int] = set()  # Name targets of the assignments judged whole
    name_type, ast_type = ast.Name, ast.AST

    def visit(node: ast.AST, nested: bool) -> None:  # noqa: C901 - one case per kind
        kind = type(node)
        if kind is name_type:
            name_node: ast.Name = node  # type: ignore[assignment] # (cast() is a call)
            name = name_node.id
            if name in _UNSUPPORTED_NAMES:
                raise Unsupported(f"uses {name}(), which could observe pending values")
            if name.startswith(_PREFIX):
                raise Unsupported(f"uses the name {name!r}, reserved by wavejit")
            if nested:
                captured.add(name)
            if type(name_node.ctx) is not ast.Load and id(node) not in handled:
                other.add(name)  # any other binding: targets, augmented, del
            return
        # `kind is X` then a cast, not isinstance: this runs for every node.
        if kind not in _PRESCAN_KINDS:
            pass  # most nodes: none of the cases below (one test instead of a dozen)
        elif kind is ast.Call:
            func = cast(ast.Call, node).func
            if isinstance(func, ast.Attribute) and func.attr in _CONTAINER_METHODS and (
                isinstance(func.value, ast.Name)
            ):
                filled.add(func.value.id)  # x.append(v)
        elif kind is ast.Assign:
            assign = cast(ast.Assign, node)
            targets = assign.targets
            if len(targets) == 1 and isinstance(targets[0], ast.Subscript) and isinstance(
                targets[0].value, ast.Name
            ):
                filled.add(targets[0].value.id)  # x[k] = v
            if len(targets) == 1 and type(targets[0]) is name_type:
                names = {targets[0].id}  # (the usual case: no generators)
                (literal if isinstance(assign.value, _LITERALS) else other).update(names)
                handled.add(id(targets[0]))
            elif all(type(t) is name_type for t in targets):
                names = {cast(ast.Name, t).id for t in targets}
                (literal if isinstance(assign.value, _LITERALS) else other).update(names)
                handled.update(id(t) for t in targets)
        elif kind is ast.AnnAssign:
            annotated = cast(ast.AnnAssign, node)
            if isinstance(annotated.target, ast.Name):
                is_literal = isinstance(annotated.value, _LITERALS)
                (literal if is_literal else other).add(annotated.target.id)
                handled.add(id(annotated.target))
        elif kind is ast.comprehension:
            comprehension_targets.update(_names_in(cast(ast.comprehension, node).target))
        elif kind in (ast.Import, ast.ImportFrom):
            imported = cast("ast.Import | ast.ImportFrom", node).names
            other.update((a.asname or a.name).split(".")[0] for a in imported)
        elif kind is ast.ExceptHandler:
            handler_name = cast(ast.ExceptHandler, node).name
            if handler_name:
                other.add(handler_name)
        elif kind in (ast.Global, ast.Nonlocal):
            other.update(cast("ast.Global | ast.Nonlocal", node).names)
            if not nested:
                shared.update(cast("ast.Global | ast.Nonlocal", node).names)
        elif kind in _NESTED_SCOPES:
            if kind is not ast.Lambda:
                other.add(cast("ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef",
                               node).name)
            nested = True
        elif kind is ast.GeneratorExp and not nested:
            genexp = cast(ast.GeneratorExp, node)
            first, *rest = genexp.generators
            visit(first.iter, False)
            comprehension_targets.update(_names_in(first.target))
            for part in [genexp.elt, first.target, *first.ifs, *rest]:
                visit(part, True)
            return
        fields = _CHILD_FIELDS.get(kind)
        for field_name in child_fields(kind) if fields is None else fields:
            value = getattr(node, field_name, None)
            if type(value) is list:
                for item in value:
                    if isinstance(item, ast_type):
                        visit(item, nested)
            elif isinstance(value, ast_type):
                visit(value, nested)

    for stmt in func.body:
        visit(stmt, False)
    return _Prescan(captured, literal - other, comprehension_targets, filled, shared)


class _Watched(set[str]):
    """A set of names that remembers which names were asked about and absent.

    A rewrite pass asks whether names may hold Pendings while it is still adding to
    that set. If no name it was told "no" about was added later, every answer was
    final, and the pass's output is what a pass over the final sets would produce.
    """

    def __init__(self, names: set[str]) -> None:
        super().__init__(names)
        self.misses: set[str] = set()

    def __contains__(self, name: object) -> bool:
        if set.__contains__(self, name):
            return True
        self.misses.add(name)  # type: ignore[arg-type]
        return False

    def answered_finally(self) -> bool:
        """Was every "absent" answer still true at the end?"""
        return self.misses.isdisjoint(self)


class _Rewriter:
    """One pass over a function body. Run until `may_pend` stops growing."""

    def __init__(self, local_names: set[str], scan: _Prescan, may_pend: set[str],
                 guarded: set[str], first_lineno: int, is_async: bool = False,
                 hooked: set[tuple[int, int]] | None = None, speculate: bool = False,
                 global_writer: Callable[[str], bool] | None = None,
                 transparent_with: Callable[[ast.expr], bool] | None = None) -> None:
        self.is_async = is_async
        # Does the global this name refers to (a function of the program) write module
        # globals? (Loops do not issue ahead of such a call: `_loops`.)
        self.global_writer = global_writer
        self.transparent_with = transparent_with  # see `_withs`
        self.func_node: ast.AST | None = None  # the def (read by `_distribute`)
        self.strict_takes = False  # a loop issued ahead in a try body: takes wait
        self.locals = local_names
        self.builtin_typed = scan.builtin_typed
        self.filled = scan.filled
        self.captured = scan.captured
        self.shared = scan.shared
        self.hooked = hooked  # tier 1: the only candidate sites
        self.may_pend = _Watched(may_pend)
        self.guarded = _Watched(guarded)  # names passed to candidate calls (borrow checks)
        self.sites: list[SiteSpec] = []
        self.first_lineno = first_lineno
        self.guard_depth = 0  # inside try/with bodies
        self.finally_depth = 0  # inside finally blocks: may run after `return`
        self.loop_depth_in_guard: list[int] = []
        self.loop_depth = 0
        self.loop_vars: list[set[str]] = []  # targets of the enclosing loops / comprehensions
        # id(node) -> the names of a glue candidate (empty: not glue); read many times
        self._glue_names: dict[int, tuple[list[str], list[str]]] = {}
        self._site_of: dict[int, int] = {}  # id(call node) -> its site index
        self.loops = 0  # loops issued ahead so far (names their temporaries)
        self.nests = 0  # nested loops run as one loop over pairs (see _nested)
        self.following: list[ast.stmt] = []  # the statements after the loop being rewritten
        self.consumed = 0  # how many of them its rewrite took
        self.loop_notes: dict[int, str] = {}  # line of a for loop -> how it runs
        # While rewriting the retired part of a loop issued ahead: id(hoisted call) ->
        # (its temporary, the item's group variable, its part index).
        self.hoisted: dict[int, tuple[str, str, int]] = {}
        self.speculate = speculate

    # -- names -------------------------------------------------------------------------

    def can_hold_pending(self, name: str) -> bool:
        return name in self.locals and name not in self.captured

    def bind(self, name: str) -> None:
        if self.can_hold_pending(name):
            self.may_pend.add(name)

    @property
    def lazy_bindings(self) -> bool:
        """May a Pending be bound to a name or stored into a container here?

        Not inside try / with bodies: if the call fails and a handler (or a
        suppressing ``__exit__``) carries on, plain Python never made that binding
        or store, and it cannot be undone. Calls there still overlap with the other
        calls of the same statement.
        """
        return self.guard_depth == 0 and self.finally_depth == 0

    def needs_wait(self, name: str) -> bool:
        return name in self.may_pend or name in self.guarded

    # -- may an expression produce a Pending? -------------------------------------------

    def may_pend_expr(self, node: ast.expr) -> bool:
        if type(node) is ast.Constant:
            return False  # (the most common argument: no test below applies)
        if isinstance(node, ast.Name):
            return node.id in self.may_pend
        if isinstance(node, ast.Await):
            return id(node) in self.hoisted or self.is_async and isinstance(
                node.value, ast.Call) and self.is_callable_candidate(node.value)
        if isinstance(node, _GLUE_ROOTS) and self.lazy_bindings and (
            self.is_glue(node) or self.fresh_chain(node) is not None
        ):
            return True
        if isinstance(node, ast.Call):
            return id(node) in self.hoisted or self.is_candidate(node) or any(
                self.may_pend_expr(a) for a in node.args
            )
        if isinstance(node, (ast.List, ast.Tuple)):
            return any(self.may_pend_expr(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return any(self.may_pend_expr(v) for v in node.values)
        if isinstance(node, (ast.ListComp,)):
            return self.may_pend_expr(node.elt) or self._comp_targets_pend(node)
        if isinstance(node, ast.DictComp):
            return self.may_pend_expr(node.value) or self._comp_targets_pend(node)
        if isinstance(node, ast.IfExp):
            return self.may_pend_expr(node.body) or self.may_pend_expr(node.orelse)
        if isinstance(node, ast.NamedExpr):
            return self.may_pend_expr(node.value)
        if isinstance(node, ast.Starred):
            return self.may_pend_expr(node.value)
        return False

    def _comp_targets_pend(self, node: ast.ListComp | ast.DictComp) -> bool:
        return any(isinstance(g.target, ast.Name) and g.target.id in self.may_pend
                   for g in node.generators)

    def iterates_pending(self, node: ast.expr) -> bool:
        """May iterating `node` yield Pendings? Only a container this function filled.

        A call's result, once resolved, holds no Pending of ours: its elements are
        plain values, and the loop variable need not be tracked.
        """
        if isinstance(node, ast.Name):
            return node.id in self.may_pend
        if isinstance(node, (ast.List, ast.ListComp, ast.Tuple)):
            return self.may_pend_expr(node)
        return False

    def may_have_effects(self, node: ast.Call) -> bool:
        """Could this call change state the caller sees? Routed through `now` if so."""
        func = node.func
        if isinstance(func, ast.Name) and func.id in _NOT_CANDIDATES and (
            func.id not in self.locals
        ):
            return False
        if isinstance(func, ast.Attribute) and func.attr in _MUTATING_METHODS:
            return False  # its receiver goes through `mut` instead
        return not self.is_builtin_method(func)

    def is_builtin_method(self, func: ast.expr) -> bool:
        """A method of a value known to be a builtin: a literal, or a local only ever
        bound to literals (``counts = {}`` makes ``counts.get`` a dict method)."""
        if not isinstance(func, ast.Attribute):
            return False
        receiver = func.value
        if isinstance(receiver, (ast.Constant, ast.JoinedStr, ast.List, ast.Dict, ast.Set,
                                 ast.Tuple, ast.ListComp, ast.DictComp, ast.SetComp)):
            return True
        return isinstance(receiver, ast.Name) and receiver.id in self.builtin_typed

    def is_candidate(self, node: ast.Call) -> bool:
        """A plain call that may be deferred (to a thread). None in an async def."""
        if self.hooked is not None and (node.lineno, node.col_offset) not in self.hooked:
            return False
        return not self.is_async and self.is_callable_candidate(node)

    def is_callable_candidate(self, node: ast.Call) -> bool:
        func = node.func
        if isinstance(func, ast.Name):
            if func.id in _NOT_CANDIDATES and func.id not in self.locals:
                return False
        if isinstance(func, ast.Attribute) and func.attr in _CONTAINER_METHODS:
            return False
        if self.is_builtin_method(func):
            return False  # "-".join(...), counts.get(...) with counts = {}
        return not isinstance(func, ast.Lambda)

    # -- expressions -----------------------------------------------------------------

    def expr(self, node: ast.expr, lazy: bool) -> ast.expr:
        """Rewrite `node`; if not `lazy`, its value is guaranteed not to be a Pending."""
        kind = type(node)
        if kind is ast.Constant:
            return node
        if kind is ast.Name and (lazy or type(node.ctx) is not ast.Load):  # type: ignore[attr-defined]
            return node  # (the most common case of `_expr`, without the call)
        if kind not in _SPECIAL_EXPRESSIONS:
            return self.generic(node, strict=True)  # what `_expr` comes to for them
        if isinstance(node, (ast.ListComp, ast.DictComp, ast.SetComp)):
            self.loop_vars.append(set().union(*(_names_in(g.target) for g in node.generators)))
            try:
                return self._expr(node, lazy)
            finally:
                self.loop_vars.pop()
        return self._expr(node, lazy)

    def _expr(self, node: ast.expr, lazy: bool) -> ast.expr:
        if isinstance(node, ast.Name):
            if isinstance(node.ctx, ast.Load) and not lazy and self.needs_wait(node.id):
                return _at(_call("wait", node), node)
            return node
        if isinstance(node, ast.Call):
            return self.call(node, lazy)
        if isinstance(node, ast.Await):
            return self.await_(node, lazy)
        if isinstance(node, ast.NamedExpr):
            if not self.lazy_bindings:
                return self.generic(node, strict=True)
            value = self.expr(node.value, lazy=True)
            if self.may_pend_expr(node.value):
                self.bind(node.target.id)
            new = ast.NamedExpr(node.target, value)
            if not lazy and self.may_pend_expr(node.value):
                return _at(_call("wait", new), node)
            return _at(new, node)
        if lazy and isinstance(node, ast.List) and isinstance(node.ctx, ast.Load):
            elts = [self.starred(e) if isinstance(e, ast.Starred) else self.expr(e, True)
                    for e in node.elts]
            return _at(_call("new_list", ast.List(elts, ast.Load())), node)
        if lazy and isinstance(node, ast.Tuple) and isinstance(node.ctx, ast.Load) and not any(
            isinstance(e, ast.Starred) for e in node.elts
        ) and self.may_pend_expr(node):
            elts = [self.expr(e, True) for e in node.elts]
            return _at(_call("new_tuple", *elts), node)
        if lazy and isinstance(node, ast.Dict):
            keys = [self.expr(k, False) if k is not None else None for k in node.keys]
            values = [self.expr(v, k is not None) if k is not None else self.shallow(v)
                      for k, v in zip(node.keys, node.values, strict=True)]
            return _at(_call("new_dict", ast.Dict(keys, values)), node)
        if lazy and isinstance(node, ast.ListComp):
            gens = self.generators(node.generators)
            new_comp = ast.ListComp(self.expr(node.elt, True), gens)
            return _at(_call("new_list", new_comp), node)
        if lazy and isinstance(node, ast.DictComp):
            gens = self.generators(node.generators)
            new_dcomp = ast.DictComp(self.expr(node.key, False), self.expr(node.value, True),
                                     gens)
            return _at(_call("new_dict", new_dcomp), node)
        if lazy and self.lazy_bindings and self.is_glue(node):
            return self.later(node)
        if lazy and self.lazy_bindings and isinstance(node, (ast.Attribute, ast.Subscript)):
            root = self.fresh_chain(node)
            if root is not None:
                return self.later_chain(node, root)
        if isinstance(node, ast.BinOp) and (
            self.may_pend_expr(node.left) or self.may_pend_expr(node.right)
        ):
            # `io(a) + io(b)`: both operands start before either is waited for; the
            # operator then applies to the values (operator.add & co. are `+` itself).
            return _at(_call(
                "binop", ast.Constant(type(node.op).__name__), self.expr(node.left, True),
                self.expr(node.right, True)), node)
        if isinstance(node, ast.IfExp):
            return _at(ast.IfExp(
                self.expr(node.test, False),  # test
                self.expr(node.body, lazy),
                self.expr(node.orelse, lazy),
            ), node)
        if isinstance(node, (ast.Lambda, ast.GeneratorExp)):
            if isinstance(node, ast.GeneratorExp):
                # Only the first iterable is evaluated here, at once; the rest later.
                first = node.generators[0]
                new_first = ast.comprehension(
                    target=first.target, iter=self.expr(first.iter, False),
                    ifs=first.ifs, is_async=first.is_async)
                return _at(ast.GeneratorExp(
                    elt=node.elt, generators=[new_first, *node.generators[1:]]), node)
            return node
        if isinstance(node, (ast.ListComp, ast.SetComp, ast.DictComp)):
            # Strict comprehension: candidates inside still start concurrently; the
            # whole result is resolved at once.
            lazy_version = self.expr(node, True) if not isinstance(node, ast.SetComp) else None
            if lazy_version is not None and self.may_pend_expr(node):
                return _at(_call("wait", lazy_version), node)
            return self.generic(node, strict=True)
        return self.generic(node, strict=True)

    def generic(self, node: ast.expr, strict: bool) -> ast.expr:
        """Rewrite children strictly (comprehension generators with lazy iteration).
        The node itself if that changes none of them (an f-string of plain names)."""
        fields: list[tuple[str, Any]] = []
        same = True
        for field_name in child_fields(type(node)):
            value: Any = getattr(node, field_name, None)
            if field_name == "generators":
                fields.append((field_name, self.generators(value)))
                same = False
            elif isinstance(value, ast.expr):
                new_value = self.expr(value, False)
                fields.append((field_name, new_value))
                same = same and new_value is value
            elif isinstance(value, list):
                new_values = [self.expr(v, False) if isinstance(v, ast.expr) else v
                              for v in value]
                fields.append((field_name, new_values))
                same = same and all(map(operator.is_, new_values, value))
        if same:
            return node
        new = _clone(node)
        for field_name, new_value in fields:
            setattr(new, field_name, new_value)
        return new

    def starred(self, node: ast.Starred) -> ast.Starred:
        return _at(ast.Starred(self.shallow(node.value), node.ctx), node)

    def shallow(self, node: ast.expr) -> ast.expr:
        """The object itself (not its contents) resolved: for ``*x``, receivers."""
        if isinstance(node, ast.Name) and self.needs_wait(node.id):
            return _at(_call("shallow", node), node)
        return self.expr(node, False)

    def generators(self, gens: list[ast.comprehension]) -> list[ast.comprehension]:
        out = []
        for g in gens:
            if isinstance(g.target, ast.Name) and self.iterates_pending(g.iter) and (
                self.can_hold_pending(g.target.id)
            ):
                self.bind(g.target.id)
                it = self.shallow(g.iter) if isinstance(g.iter, ast.Name) else (
                    _at(_call("shallow", self.expr(g.iter, True)), g.iter))
            else:
                it = self.expr(g.iter, False)
            ifs = [self.expr(i, False) for i in g.ifs]
            out.append(ast.comprehension(g.target, it, ifs, g.is_async))
        return out

    def call(self, node: ast.Call, lazy: bool) -> ast.expr:
        hoisted = self.hoisted.get(id(node))
        if hoisted is not None:  # issued ahead: its value, taken at its place
            temp, group, index = hoisted
            take = _at(_call("take", ast.Name(group, ast.Load()), ast.Constant(index),
                             ast.Name(temp, ast.Load())), node)
            return take if lazy and not self.strict_takes else _at(_call("wait", take), node)
        if lazy and self.lazy_bindings:
            if self.is_glue(node):
                glue = self.later(node)  # a pending result's own method: r.strip()
                func = node.func
                if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (
                    self.is_candidate(node)
                ):  # `db = DB(); db.load(1)`: if `db` has arrived, a call like any other
                    site = self.call_site(node, lazy)
                    compact = _method_call(node, site)
                    if compact is not None:
                        return compact
                    test = _call("pending", ast.Name(func.value.id, ast.Load()))
                    return _at(ast.IfExp(test, glue, site), node)
                return glue
            fresh = self.fresh_chain(node)
            if fresh is not None:
                return self.later_chain(node, fresh)
        return self.call_site(node, lazy)

    def call_site(self, node: ast.Call, lazy: bool) -> ast.expr:
        """A call that is not glue: a candidate site, or a call made now."""
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _CONTAINER_METHODS and (
            self.lazy_bindings
            and len(node.args) == _CONTAINER_METHODS[func.attr] and not node.keywords
            and not any(isinstance(a, ast.Starred) for a in node.args)
            and (self.may_pend_expr(node.args[-1]) or (
                # appending to a list that holds Pendings must not wait for them
                isinstance(func.value, ast.Name) and func.value.id in self.may_pend))
        ):
            if isinstance(func.value, ast.Name):
                self.bind(func.value.id)  # first: the next pass would see it bound here
            receiver = self.shallow(func.value)
            method = ast.Attribute(receiver, func.attr, _LOAD)
            args = [self.expr(a, False) for a in node.args[:-1]]
            args.append(self.expr(node.args[-1], True))
            return _at(_call(func.attr, method, *args), node)
        if isinstance(func, ast.Attribute) and func.attr in _MUTATING_METHODS:
            new_func: ast.expr = _at(ast.Attribute(
                value=_call("mut", self.expr(func.value, False)), attr=func.attr,
                ctx=ast.Load()), func)
        else:
            new_func = self.expr(func, False)
        any_pending_arg = any(map(self.may_pend_expr, node.args)) or bool(node.keywords) and any(
            self.may_pend_expr(k.value) for k in node.keywords)
        candidate = lazy and self.is_candidate(node)
        if not candidate and not any_pending_arg and not self.may_have_effects(node):
            args = [self.starred_strict(a) if isinstance(a, ast.Starred) else
                    self.expr(a, False) for a in node.args]
            keywords = [ast.keyword(k.arg, self.expr(k.value, False)) for k in node.keywords]
            return _at(ast.Call(new_func, args, keywords), node)
        args = [self.starred_strict(a) if isinstance(a, ast.Starred) else
                self.expr(a, True) for a in node.args]
        keywords = [ast.keyword(k.arg, self.expr(k.value, k.arg is not None))
                    for k in node.keywords]
        if candidate and isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name) and (
            _is_hook(new_func, "wait")
        ):  # `obj.method(...)`: fetching the method need not wait for journaled calls
            new_func = _at(_call("method", new_func.value.args[0],  # type: ignore[attr-defined]
                                 ast.Constant(func.attr)), func)
        if candidate:
            for a in [*node.args, *(k.value for k in node.keywords)] if node.keywords else (
                node.args
            ):
                if isinstance(a, ast.Name):
                    self.guarded.add(a.id)
            root = func
            while isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            if isinstance(root, ast.Name) and root is not func:
                self.guarded.add(root.id)  # the receiver of a method call
            index = self.add_site(node, node.lineno)
            return _at(
                _call("call", ast.Constant(index), new_func, *args, keywords=keywords), node)
        return _at(_call("now", new_func, *args, keywords=keywords), node)

    def is_glue(self, node: ast.expr) -> bool:
        """An f-string or operator expression over a pending local, and nothing else.

        Such glue (``f"{m}: {r}"``, ``r + "!"``, ``r["text"][:100]``) only formats,
        indexes or combines values: it can run later, once its inputs have arrived,
        as a continuation. Calls, comprehensions and anything else are not glue.
        """
        if not isinstance(node, _GLUE_ROOTS):
            return False
        parts = self._glue_names.get(id(node))
        if parts is None:
            parts = self._glue_names[id(node)] = _glue_parts(node)
        names, receivers = parts
        if not names:
            return False  # (not glue: nothing to ask)
        # A method may be called only on a pending result itself (its own method,
        # ``r.strip()``): a method of anything else may have effects.
        # (map: no generator frames; the same questions, in the same order.)
        return any(map(self.may_pend.__contains__, names)) and all(
            map(self.may_pend.__contains__, receivers))

    def fresh_chain(self, node: ast.expr) -> ast.expr | None:
        """``ask(x).choices[0].message.content``: reads on a candidate call's fresh
        result (nothing else holds it). Returns the root call, if `node` is one."""
        root: ast.expr = node
        while True:
            if isinstance(root, (ast.Attribute, ast.Subscript)):
                root = root.value
            elif isinstance(root, ast.Call) and isinstance(root.func, ast.Attribute) and (
                _glue_method(root.func.attr) and self._is_chain_link(root)
            ) and (
                isinstance(root.func.value, (ast.Call, ast.Attribute, ast.Subscript))
            ) and _chain_root(root.func.value) is not None:
                root = root.func.value
            else:
                break
        if isinstance(root, ast.Await) and root is not node and self.is_async and isinstance(
            root.value, ast.Call
        ) and self.is_callable_candidate(root.value):
            pass  # (await ask(x)).choices[0]: the awaited call's fresh result
        elif root is node or not isinstance(root, ast.Call) or not self.is_candidate(root):
            return None
        if id(root) in self.hoisted:
            return None
        names, receivers = _glue_parts(_replace_root(node, root, ast.Name("_wj_v", ast.Load())))
        if "_wj_v" not in names or any(r != "_wj_v" for r in receivers):
            return None
        return root

    def _is_chain_link(self, call: ast.Call) -> bool:
        return all(isinstance(a, ast.Constant) for a in call.args) and all(
            isinstance(k.value, ast.Constant) for k in call.keywords)

    def later_chain(self, node: ast.expr, root: ast.expr) -> ast.expr:
        """``later(lambda _wj_v: <node with root as _wj_v>, <root call>)``."""
        body = _replace_root(node, root, _at(ast.Name("_wj_v", ast.Load()), root))
        params = ast.arguments([], [ast.arg("_wj_v")], None, [], [], None, [])
        return _at(_call("later", ast.Lambda(params, body),
                         self.expr(root, True)), node)

    def later(self, node: ast.expr) -> ast.expr:
        """``_wj_inv.later(lambda a, b: <node>, a, b)``: the names are bound now.

        An operator over two names or constants (``m + r``) is the operator itself:
        ``_wj_inv.later(_wj_inv.op_Add, m, r)`` (``operator.add`` is ``+``), which
        spares the compile a code object per glue."""
        # (`node` is glue, see `is_glue`: its names were collected already.)
        if isinstance(node, ast.BinOp) and isinstance(node.left, _OPERANDS) and isinstance(
            node.right, _OPERANDS
        ):
            op = ast.Attribute(ast.Name(INV, _LOAD), "op_" + type(node.op).__name__, _LOAD)
            return _at(_call("later", op, _copy_operand(node.left),
                             _copy_operand(node.right)), node)
        names = sorted(set(self._glue_names[id(node)][0]))
        params = ast.arguments([], [ast.arg(n) for n in names], None, [], [], None, [])
        return _at(_call(
            "later", ast.Lambda(params, node), *[ast.Name(n, _LOAD) for n in names]), node)

    def await_(self, node: ast.Await, lazy: bool) -> ast.expr:
        """``await f(...)``: lazily, a task started now and awaited at first use."""
        hoisted = self.hoisted.get(id(node))
        if hoisted is not None:  # issued ahead: its value, taken at its place
            temp, group, index = hoisted
            take = _at(_call("take", ast.Name(group, ast.Load()), ast.Constant(index),
                             ast.Name(temp, ast.Load())), node)
            return take if lazy and not self.strict_takes else _at(_call("wait", take), node)
        call = node.value
        if not (lazy and isinstance(call, ast.Call) and self.is_callable_candidate(call)):
            return _at(ast.Await(self.expr(call, False)), node)
        args = [self.starred_strict(a) if isinstance(a, ast.Starred) else
                self.expr(a, True) for a in call.args]
        keywords = [ast.keyword(k.arg, self.expr(k.value, k.arg is not None))
                    for k in call.keywords]
        for a in [*call.args, *(k.value for k in call.keywords)]:
            if isinstance(a, ast.Name):
                self.guarded.add(a.id)
        root = call.func
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        if isinstance(root, ast.Name) and root is not call.func:
            self.guarded.add(root.id)  # the receiver of a method: its uses wait for it
        index = self.add_site(call, node.lineno)
        return _at(_call("acall", ast.Constant(index), self.expr(call.func, False),
                                       *args, keywords=keywords), node)

    def add_site(self, call: ast.Call, lineno: int) -> int:
        """Register a candidate site, with its shape for the strategies."""
        root = call.func
        while isinstance(root, (ast.Attribute, ast.Subscript)):
            root = root.value
        known = self._site_of.get(id(call))
        if known is not None:
            return known  # a call emitted twice (a loop issued ahead and its fallback)
        self.sites.append(SiteSpec(lineno, call, in_loop=bool(self.loop_vars),
                                   ensemble=isinstance(root, ast.Name) and any(
                                       root.id in names for names in self.loop_vars)))
        self._site_of[id(call)] = len(self.sites) - 1
        return len(self.sites) - 1

    def starred_strict(self, node: ast.Starred) -> ast.Starred:
        return _at(ast.Starred(self.expr(node.value, False), node.ctx), node)

    # -- statements --------------------------------------------------------------------

    def body(self, stmts: list[ast.stmt]) -> list[ast.stmt]:
        out: list[ast.stmt] = []
        i = 0
        while i < len(stmts):
            s = stmts[i]
            # A loop issued ahead may issue the calls of the statements after it too
            # (`_distribute`): it says how many it took.
            self.following = stmts[i + 1:] if isinstance(s, ast.For) else []
            self.consumed = 0
            for emitted in self.stmt(s):
                if getattr(emitted, "lineno", None) is None:  # a barrier before it
                    _at(emitted, s)
                out.append(emitted)
            i += 1 + self.consumed
            self.consumed = 0
        return out

    def stmt(self, node: ast.stmt) -> list[ast.stmt]:  # noqa: C901 - one case per kind
        if self.shared and isinstance(node, (ast.Assign, ast.AugAssign, ast.AnnAssign,
                                             ast.Delete)) and self._stores_shared(node):
            # A store to a global / nonlocal name is seen by the caller: plain Python
            # would not make it after an earlier call failed (a commit point).
            return [_stmt("barrier"), *self.stmt_unshared(node)]
        return self.stmt_unshared(node)

    def _stores_shared(self, node: ast.stmt) -> bool:
        targets = (node.targets if isinstance(node, (ast.Assign, ast.Delete))
                   else [node.target])  # type: ignore[attr-defined]
        return any(isinstance(n, ast.Name) and n.id in self.shared
                   for t in targets for n in ast.walk(t))

    def stmt_unshared(self, node: ast.stmt) -> list[ast.stmt]:  # noqa: C901
        if isinstance(node, ast.Assign):
            return [self.assign(node)]
        if isinstance(node, ast.AnnAssign):
            if node.value is not None and isinstance(node.target, ast.Name) and (
                self.can_hold_pending(node.target.id) and self.lazy_bindings
            ) and (self.may_pend_expr(node.value) or node.target.id in self.may_pend):
                self.bind(node.target.id)
                value: ast.expr | None = self.expr(node.value, True)
            else:
                value = self.expr(node.value, False) if node.value is not None else None
            target = self.target(node.target)
            assert isinstance(target, (ast.Name, ast.Attribute, ast.Subscript))
            return [_at(ast.AnnAssign(target, node.annotation, value,
                                                    node.simple), node)]
        if isinstance(node, ast.AugAssign):
            pre: list[ast.stmt] = []
            if isinstance(node.target, ast.Name) and self.needs_wait(node.target.id):
                # `x += v` reads x first: it must not be a Pending then.
                pre.append(_at(ast.Assign(
                    [ast.Name(node.target.id, ast.Store())],
                    _call("wait", ast.Name(node.target.id, ast.Load()))), node))
            target = self.target(node.target)
            assert isinstance(target, (ast.Name, ast.Attribute, ast.Subscript))
            return [*pre, _at(
                ast.AugAssign(target, node.op, self.expr(node.value, False)), node)]
        if isinstance(node, ast.Expr):
            # A bare call may run concurrently with what follows, except in a finally
            # block, which can run after `return` has settled the invocation.
            lazy = self.finally_depth == 0
            prelude, value = (self._calls_out_of_fstrings(node.value)
                              if lazy and self.lazy_bindings else ([], node.value))
            out = [s for p in prelude for s in self.stmt(p)]  # binds the temporaries
            if lazy and self.lazy_bindings and self._prints_pending(value):
                # print(f"{t}: {r}"): printed when r arrives, in program order.
                assert isinstance(value, ast.Call)
                args = [self.expr(a, True) for a in value.args]
                keywords = [ast.keyword(k.arg, self.expr(k.value, False))
                            for k in value.keywords]
                return [*out, _at(ast.Expr(_call("print_later", self.expr(value.func, False),
                                                 *args, keywords=keywords)), node)]
            return [*out, _at(ast.Expr(self.expr(value, lazy)), node)]
        if isinstance(node, ast.Return):
            value = self.expr(node.value, True) if node.value is not None else ast.Constant(None)
            return [_at(ast.Return(_call("ret", value)), node)]
        if isinstance(node, (ast.If, ast.While)):
            test = self.expr(node.test, False)
            loop = isinstance(node, ast.While)
            self.loop_depth += loop
            body = self.body(node.body)
            self.loop_depth -= loop
            orelse = self.body(node.orelse)
            cls = type(node)
            return [_at(cls(test, body, orelse), node)]
        if isinstance(node, ast.For):
            from ._distribute import issue_ahead
            from ._nested import flatten_nested

            issued = flatten_nested(self, node) or issue_ahead(self, node)
            if issued is not None:
                return issued
            return self.ordinary_for(node)
        if isinstance(node, (ast.Break, ast.Continue)):
            if self.loop_depth_in_guard and self.loop_depth <= self.loop_depth_in_guard[-1]:
                return [_stmt("barrier"), node]  # leaves a guarded block
            return [node]
        if isinstance(node, (ast.With, ast.AsyncWith)):
            # (``async with``: a TaskGroup, asyncio.timeout(), a client session... its
            # body is guarded like any with-block: settled before the block is left.)
            items = [ast.withitem(self.expr(i.context_expr, False),
                                  self.target(i.optional_vars) if i.optional_vars else None)
                     for i in node.items]
            # A context manager that never suppresses, outside any try: its body may
            # hold results that have not arrived, like the function's own (`_withs`).
            transparent = self.lazy_bindings and self.transparent_with is not None and all(
                self.transparent_with(i.context_expr) for i in node.items)
            body = self.guarded_body(node.body, lazy=transparent)
            with_block = ast.With(items=items, body=body, type_comment=None) if isinstance(
                node, ast.With) else ast.AsyncWith(items=items, body=body, type_comment=None)
            return [_stmt("barrier"), _at(with_block, node)]
        if isinstance(node, ast.AsyncFor):
            # Items of an async iterator arrive one by one, each when the iterator says:
            # the loop runs in order (the calls in its body still overlap within it).
            target = self.target(node.target)
            it = self.expr(node.iter, False)
            self.loop_depth += 1
            self.loop_vars.append(_names_in(node.target))
            body = self.body(node.body)
            self.loop_vars.pop()
            self.loop_depth -= 1
            return [_at(ast.AsyncFor(target=target, iter=it, body=body,
                                     orelse=self.body(node.orelse), type_comment=None),
                        node)]
        if isinstance(node, ast.Try) or type(node).__name__ == "TryStar":
            body = self.guarded_body(node.body)  # type: ignore[attr-defined]
            # With a finally block, a failure in the else block must be raised inside
            # it, so the finally block runs before it propagates. A handler's calls are
            # always settled inside the handler: a failure there is raised while the
            # handled exception is current (its __context__), as in plain Python.
            guarded = bool(node.finalbody)  # type: ignore[attr-defined]
            block = self.guarded_body if guarded else self.body
            handlers = []
            for h in node.handlers:  # type: ignore[attr-defined]
                handlers.append(_at(ast.ExceptHandler(
                    type=self.expr(h.type, False) if h.type else None, name=h.name,
                    body=self.guarded_body(h.body)), h))
            new = _clone(node)
            new.body = body  # type: ignore[attr-defined]
            new.handlers = handlers  # type: ignore[attr-defined]
            new.orelse = block(node.orelse) if node.orelse else []  # type: ignore[attr-defined]
            self.finally_depth += 1
            new.finalbody = self.body(node.finalbody)  # type: ignore[attr-defined]
            self.finally_depth -= 1
            return [_stmt("barrier"), new]
        if isinstance(node, ast.Raise):
            return [_at(ast.Raise(
                exc=self.expr(node.exc, False) if node.exc else None,
                cause=self.expr(node.cause, False) if node.cause else None), node)]
        if isinstance(node, ast.Assert):
            return [_at(ast.Assert(
                test=self.expr(node.test, False),
                msg=self.expr(node.msg, False) if node.msg else None), node)]
        if isinstance(node, ast.Delete):
            return [_at(ast.Delete([self.target(t) for t in node.targets]),
                                      node)]
        if isinstance(node, (ast.Pass, ast.Global, ast.Nonlocal, ast.Import, ast.ImportFrom,
                             ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            return [node]
        if isinstance(node, ast.Match):
            subject = self.expr(node.subject, False)
            cases = [ast.match_case(pattern=c.pattern,
                                    guard=self.expr(c.guard, False) if c.guard else None,
                                    body=self.body(c.body)) for c in node.cases]
            return [_at(ast.Match(subject=subject, cases=cases), node)]
        raise Unsupported(f"statement {type(node).__name__} at line {node.lineno}")

    def _calls_out_of_fstrings(self, node: ast.expr) -> tuple[list[ast.stmt], ast.expr]:
        """``print(f"Label: {classify(t)}")``: the candidate calls inside the f-strings
        of a print, bound first to temporaries (``_wj_f<line>_<col> = classify(t)``), so
        the f-string is glue over pending names and the print need not wait. Only when
        every other part of the f-string is a name, attribute, subscript or constant
        (the calls then run before what plain Python evaluates first, which cannot
        have effects). Returns the assignments and the print with the names in place;
        the input tree is not changed."""
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "print" and "print" not in self.locals
                and not self.is_async):
            return [], node
        prelude: list[ast.stmt] = []
        args: list[ast.expr] = []
        for a in node.args:
            if not isinstance(a, ast.JoinedStr) or not any(
                isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Call)
                and self.is_candidate(v.value) for v in a.values
            ) or not all(not isinstance(v, ast.FormattedValue) or _plain_read(v.value) or (
                isinstance(v.value, ast.Call) and self.is_candidate(v.value))
                for v in a.values):
                args.append(a)
                continue
            values: list[ast.expr] = []
            for v in a.values:
                if isinstance(v, ast.FormattedValue) and isinstance(v.value, ast.Call):
                    temp = f"_wj_f{v.value.lineno}_{v.value.col_offset}"
                    self.locals.add(temp)
                    prelude.append(_at(ast.Assign([ast.Name(temp, ast.Store())], v.value),
                                       v.value))
                    v = _at(ast.FormattedValue(ast.Name(temp, ast.Load()), v.conversion,
                                               v.format_spec), v)
                values.append(v)
            args.append(_at(ast.JoinedStr(values), a))
        if not prelude:
            return [], node
        return prelude, _at(ast.Call(node.func, args, node.keywords), node)

    def _prints_pending(self, node: ast.expr) -> bool:
        """``print(...)`` to stdout (no ``file=``, no ``*args``) of a value that may be
        pending: `Invocation.print_later` prints it when it arrives."""
        return (not self.is_async  # (the async runtime prints in order)
                and isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                and node.func.id == "print" and "print" not in self.locals
                and not any(isinstance(a, ast.Starred) for a in node.args)
                and all(k.arg in ("sep", "end", "flush") for k in node.keywords)
                and any(self.may_pend_expr(a) for a in node.args))

    def ordinary_for(self, node: ast.For, items: ast.expr | None = None) -> list[ast.stmt]:
        """A ``for`` loop run in order (over `items`, already evaluated, if given)."""
        if items is not None:
            it = items
        elif isinstance(node.target, ast.Name) and self.iterates_pending(node.iter) and (
            self.lazy_bindings and self.can_hold_pending(node.target.id)
        ):
            self.bind(node.target.id)
            it = self.shallow(node.iter) if isinstance(node.iter, ast.Name) else (
                _at(_call("shallow", self.expr(node.iter, True)), node.iter))
        else:
            it = self.expr(node.iter, False)
        target = self.target(node.target)
        self.loop_depth += 1
        self.loop_vars.append(_names_in(node.target))
        body = self.body(node.body)
        self.loop_vars.pop()
        self.loop_depth -= 1
        orelse = self.body(node.orelse)
        return [_at(ast.For(target, it, body, orelse, None), node)]

    def guarded_body(self, stmts: list[ast.stmt], lazy: bool = False) -> list[ast.stmt]:
        """A try/with body: settled before it is left, its failures raised inside it
        (`lazy`: a transparent with block, see `_withs`)."""
        depth = 0 if lazy else 1
        self.guard_depth += depth
        self.loop_depth_in_guard.append(self.loop_depth)
        body = self.body(stmts)
        self.loop_depth_in_guard.pop()
        self.guard_depth -= depth
        return guard(body, self.first_lineno)

    def assign(self, node: ast.Assign) -> ast.stmt:
        targets = node.targets
        if not self.lazy_bindings:
            value = self.expr(node.value, False)
            return _at(ast.Assign([self.target(t) for t in targets], value),
                                     node)
        if len(targets) == 1 and type(targets[0]) is ast.Name and self.can_hold_pending(
            targets[0].id
        ) or all(isinstance(t, ast.Name) and self.can_hold_pending(t.id) for t in targets):
            if self.may_pend_expr(node.value):
                for t in targets:
                    self.bind(t.id)  # type: ignore[attr-defined]
            elif _is_empty_display(node.value) and any(
                t.id in self.filled for t in targets  # type: ignore[attr-defined]
            ):
                # `out = []` ... `out.append(call())`: treated as if a Pending will be
                # stored, whether or not one is, so this pass need not wait for the
                # next to find out. Bound, so every use of it is tracked (an owned
                # container that escapes untracked would skip commit barriers).
                for t in targets:
                    self.bind(t.id)  # type: ignore[attr-defined]
            elif isinstance(node.value, (ast.List, ast.Dict, ast.ListComp, ast.DictComp)) and (
                any(t.id in self.may_pend for t in targets)  # type: ignore[attr-defined]
            ):
                pass  # a container that later receives Pendings: registered below
            else:
                value = self.expr(node.value, False)
                return _at(ast.Assign(targets, value), node)
            return _at(ast.Assign(targets, self.expr(node.value, True)), node)
        if (
            len(targets) == 1 and isinstance(targets[0], ast.Tuple)
            and isinstance(node.value, ast.Tuple)
            and len(targets[0].elts) == len(node.value.elts)
            and all(isinstance(t, ast.Name) and self.can_hold_pending(t.id)
                    for t in targets[0].elts)
            and not any(isinstance(e, ast.Starred) for e in node.value.elts)
        ):
            for t, v in zip(targets[0].elts, node.value.elts, strict=True):
                if self.may_pend_expr(v):
                    self.bind(t.id)  # type: ignore[attr-defined]
            values = [self.expr(v, True) for v in node.value.elts]
            return _at(
                ast.Assign(targets, ast.Tuple(values, ast.Load())), node)
        elts = targets[0].elts if len(targets) == 1 and isinstance(
            targets[0], (ast.Tuple, ast.List)) else []
        if elts and all(isinstance(t, ast.Name) and self.can_hold_pending(t.id) for t in elts
                        ) and len({t.id for t in elts}) == len(elts) and (  # type: ignore[attr-defined]
            self.may_pend_expr(node.value)
        ):  # `a, b = ask(x)`: unpacked when the result arrives (`Invocation.unpack`)
            for t in elts:
                self.bind(t.id)  # type: ignore[attr-defined]
            return _at(ast.Assign(targets, _call("unpack", self.expr(node.value, True),
                                                 ast.Constant(len(elts)))), node)
        if len(targets) == 1 and isinstance(targets[0], ast.Subscript) and (
            self.may_pend_expr(node.value)
        ):
            sub = targets[0]
            if isinstance(sub.value, ast.Name):
                self.bind(sub.value.id)
            call = _call("setitem", self.expr(node.value, True), self.shallow(sub.value),
                         self.expr(sub.slice, False))
            return _at(ast.Expr(call), node)
        value = self.expr(node.value, False)
        return _at(ast.Assign([self.target(t) for t in targets], value), node)

    def target(self, node: ast.expr) -> ast.expr:
        """An assignment target: the objects stored into are resolved first."""
        if isinstance(node, ast.Name):
            return node
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            new = _clone(node)
            new.value = _at(_call("mut", self.expr(node.value, False)), node.value)
            if isinstance(node, ast.Subscript) and isinstance(new, ast.Subscript):
                new.slice = self.expr(node.slice, False)
            return new
        if isinstance(node, (ast.Tuple, ast.List)):
            new_seq = _clone(node)
            new_seq.elts = [self.target(e) for e in node.elts]
            return new_seq
        if isinstance(node, ast.Starred):
            return _at(ast.Starred(self.target(node.value), node.ctx), node)
        return node


_GLUE_NODES = (ast.JoinedStr, ast.FormattedValue, ast.BinOp, ast.UnaryOp, ast.Constant,
               ast.Subscript, ast.Attribute, ast.Slice, ast.Tuple, ast.Load, ast.operator,
               ast.unaryop)


# The expression kinds `_Rewriter._expr` has a case for; any other is rewritten by
# `generic`, child by child.
_SPECIAL_EXPRESSIONS = frozenset({
    ast.Name, ast.Call, ast.Await, ast.NamedExpr, ast.List, ast.Tuple, ast.Dict,
    ast.ListComp, ast.DictComp, ast.SetComp, ast.JoinedStr, ast.BinOp, ast.IfExp,
    ast.Lambda, ast.GeneratorExp, ast.Attribute, ast.Subscript,
})
# Expressions that may be glue (see `_Rewriter.is_glue`).
_GLUE_ROOTS = (ast.JoinedStr, ast.BinOp, ast.Attribute, ast.Subscript, ast.Call)
_CHILD_FIELDS: dict[type[ast.AST], tuple[str, ...]] = {}
# Fields that never hold a node: names, numbers, strings, the context and operator
# singletons. (A constant's ``value`` neither: `child_fields` knows.)
_SCALAR_FIELDS = frozenset({"ctx", "op", "ops", "id", "attr", "arg", "kind", "conversion",
                            "simple", "is_async", "level", "module", "asname",
                            "type_comment"})


def child_fields(kind: type[ast.AST]) -> tuple[str, ...]:
    """The fields of a node type that may hold expressions or statements: not the
    expression context (``ctx``) or the operator (``op``, ``ops``) singletons, nor
    the fields that only hold names, numbers or strings (`_SCALAR_FIELDS`)."""
    fields = _CHILD_FIELDS.get(kind)
    if fields is None:
        fields = _CHILD_FIELDS[kind] = () if kind is ast.Constant else tuple(
            f for f in kind._fields if f not in _SCALAR_FIELDS)
    return fields


_Node = TypeVar("_Node", bound=ast.AST)


def _at(new: _Node, old: ast.AST) -> _Node:
    """Position `new` (a node the rewrite made) where `old` (a parsed node) was.

    The unpositioned nodes under `new` (the hook call's ``_wj_inv.method``, a display
    it wraps) take the same position; positioned ones are left alone. Every method of
    the rewriter returns a fully positioned tree this way, so `ast.fix_missing_locations`,
    a walk over the whole tree, is not needed before `compile`.
    """
    line, col = old.lineno, old.col_offset  # type: ignore[attr-defined]
    end_line, end_col = old.end_lineno, old.end_col_offset  # type: ignore[attr-defined]
    new.lineno, new.col_offset = line, col  # type: ignore[attr-defined]
    new.end_lineno, new.end_col_offset = end_line, end_col  # type: ignore[attr-defined]
    _position_children(new, line, col, end_line, end_col)
    return new


def position(node: _Node, line: int, col: int, end_line: int | None,
             end_col: int | None) -> _Node:
    """Give `node` and its unpositioned descendants this position, if it has none."""
    if node._attributes and getattr(node, "lineno", None) is None:
        node.lineno, node.col_offset = line, col  # type: ignore[attr-defined]
        node.end_lineno, node.end_col_offset = end_line, end_col  # type: ignore[attr-defined]
        _position_children(node, line, col, end_line, end_col)
    elif not node._attributes:  # arguments, comprehension, withitem: look inside
        _position_children(node, line, col, end_line, end_col)
    return node


def _position_children(node: ast.AST, line: int, col: int, end_line: int | None,
                       end_col: int | None) -> None:
    # (`position` inlined, and not called for names and constants, which hold no
    # nodes: this runs for every node the rewrite makes.)
    fields = _CHILD_FIELDS.get(type(node))
    for field_name in child_fields(type(node)) if fields is None else fields:
        value = getattr(node, field_name, None)
        if value is None:
            continue
        for item in value if type(value) is list else (value,):
            # positioned nodes (and whatever is under them) are done
            if isinstance(item, ast.AST) and getattr(item, "lineno", None) is None:
                if item._attributes:
                    item.lineno, item.col_offset = line, col  # type: ignore[attr-defined]
                    item.end_lineno = end_line  # type: ignore[attr-defined]
                    item.end_col_offset = end_col  # type: ignore[attr-defined]
                kind = type(item)
                inner: Any = item.value if kind is ast.Attribute else None  # type: ignore[attr-defined]
                if type(inner) is ast.Name:
                    # `_wj_inv.<hook>`: its name positioned here, without a call
                    if getattr(inner, "lineno", None) is None:
                        inner.lineno, inner.col_offset = line, col
                        inner.end_lineno, inner.end_col_offset = end_line, end_col
                elif _CHILD_FIELDS.get(kind) != ():
                    _position_children(item, line, col, end_line, end_col)


def _clone(node: _Node) -> _Node:
    """A shallow copy of an AST node; `copy.copy` takes seven times as long."""
    new = type(node).__new__(type(node))
    new.__dict__.update(node.__dict__)
    return new


def _is_hook(node: ast.expr, method: str) -> bool:
    """Is `node` ``<hook call>.attr`` with the hook ``_wj_inv.<method>(...)``?"""
    if not isinstance(node, ast.Attribute) or not isinstance(node.value, ast.Call):
        return False
    func = node.value.func
    return isinstance(func, ast.Attribute) and func.attr == method and isinstance(
        func.value, ast.Name) and func.value.id == "_wj_inv"


def _plain_read(node: ast.expr) -> bool:
    """A name, constant, or attribute / subscript chain of them: no call, no effect."""
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Subscript) and not _plain_read(node.slice):
            return False
        node = node.value
    return isinstance(node, (ast.Name, ast.Constant))


def _is_empty_display(node: ast.expr) -> bool:
    return (isinstance(node, ast.List) and not node.elts) or (
        isinstance(node, ast.Dict) and not node.keys)


_GLUE_METHODS = frozenset({
    "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "lower", "upper",
    "title", "capitalize", "startswith", "endswith", "replace", "format", "join", "find",
    "rfind", "index", "count", "get", "keys", "values", "items", "copy", "encode",
    "decode", "isdigit", "isalpha", "casefold", "partition", "rpartition", "zfill",
    "center", "ljust", "rjust", "expandtabs", "removeprefix", "removesuffix",
    # Reads of a client's result objects (pydantic models, HTTP responses, pandas rows).
    "model_dump", "model_dump_json", "json", "to_dict", "isoformat",
})


def _glue_method(name: str) -> bool:
    """A method glue may call on a pending result: a read of the result's own data
    (``r.strip()``, ``r.model_dump()``), by name. Any other method may change the
    result or state elsewhere (``r.finish()``, ``resp.log(...)``): not glue, it waits
    for the result and runs in program order."""
    return name in _GLUE_METHODS


def _chain_root(node: ast.expr) -> ast.expr | None:
    """The innermost part of an attribute / subscript / method-call chain."""
    while True:
        if isinstance(node, (ast.Attribute, ast.Subscript)):
            node = node.value
        elif isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            node = node.func.value
        else:
            return node


def _glue_parts(node: ast.expr) -> tuple[list[str], list[str]]:
    """If `node` is glue (see `_Rewriter.is_glue`): the names it reads, and the roots
    of the receivers whose methods it calls; else two empty lists."""
    names: list[str] = []
    receivers: list[str] = []
    stack: list[ast.AST] = [node]
    while stack:
        sub = stack.pop()
        if type(sub) is ast.Name:
            if type(sub.ctx) is not ast.Load:
                return [], []
            names.append(sub.id)
            continue
        if type(sub) is ast.Call:
            func = sub.func
            if not isinstance(func, ast.Attribute) or not _glue_method(func.attr):
                return [], []
            root = _chain_root(func.value)
            if not isinstance(root, ast.Name):
                return [], []
            receivers.append(root.id)
            stack.append(func.value)
            stack.extend(sub.args)
            stack.extend(k.value for k in sub.keywords)
            continue
        if not isinstance(sub, _GLUE_NODES):
            return [], []
        for field_name in child_fields(type(sub)):
            value = getattr(sub, field_name, None)
            if type(value) is list:
                stack.extend(value)
            elif isinstance(value, ast.AST):
                stack.append(value)
    return names, receivers


def _replace_root(node: ast.expr, root: ast.expr, new: ast.expr) -> ast.expr:
    """A copy of the chain `node` with its innermost part `root` replaced by `new`."""
    if node is root:
        return new
    copy = _clone(node)
    if isinstance(node, ast.Call):
        func = _clone(node.func)
        assert isinstance(func, ast.Attribute)
        func.value = _replace_root(func.value, root, new)
        copy.func = func  # type: ignore[attr-defined]
    else:
        copy.value = _replace_root(node.value, root, new)  # type: ignore[attr-defined]
    return copy


def _names_in(target: ast.expr) -> set[str]:
    if type(target) is ast.Name:
        return {target.id}  # (the usual target: no walk)
    return {n.id for n in ast.walk(target) if isinstance(n, ast.Name)}


def _short(text: str) -> str:
    return text if len(text) <= 60 else text[:57] + "..."


def guard(body: list[ast.stmt], lineno: int, fail_method: str = "fail") -> list[ast.stmt]:
    """``try: body; barrier() except BaseException as e: x = fail(e) ...; raise x``.

    The replacement exception (an earlier deferred call's) is raised outside the
    ``except`` clause so Python does not chain the discarded one to it.
    """
    fail = ast.Try(
        body=[*body, _stmt("barrier")],
        handlers=[ast.ExceptHandler(
            type=ast.Name("BaseException", ast.Load()), name="_wj_e",
            body=[
                ast.Assign([ast.Name("_wj_x", ast.Store())],
                           _call(fail_method, ast.Name("_wj_e", ast.Load()))),
                ast.If(test=ast.Compare(ast.Name("_wj_x", ast.Load()), [ast.Is()],
                                        [ast.Name("_wj_e", ast.Load())]),
                       body=[ast.Raise(exc=None, cause=None)], orelse=[]),
            ])],
        orelse=[ast.Assign([ast.Name("_wj_x", ast.Store())], ast.Constant(None))],
        finalbody=[],
    )
    reraise = ast.If(
        test=ast.Compare(ast.Name("_wj_x", ast.Load()), [ast.IsNot()], [ast.Constant(None)]),
        body=[ast.Raise(exc=ast.Name("_wj_x", ast.Load()), cause=None)], orelse=[])
    return [position(fail, lineno, 0, lineno, 0), position(reraise, lineno, 0, lineno, 0)]


_WAITING_HOOKS = frozenset({"wait", "shallow", "mut", "now", "append", "extend", "insert",
                            "setitem", "barrier", "ret", "fail", "fail_exit", "binop",
                            "acall", "later", "loop_items", "settle_row", "unpack"})


class _AwaitHooks(ast.NodeTransformer):
    """In an ``async def``, the hooks that may wait are coroutines: await each one."""

    def visit_Call(self, node: ast.Call) -> ast.expr:
        self.generic_visit(node)
        func = node.func
        if isinstance(func, ast.Attribute) and func.attr in _WAITING_HOOKS and isinstance(
            func.value, ast.Name
        ) and func.value.id == INV:
            return ast.copy_location(ast.Await(node), node)  # `node` may be unpositioned
        return node


def rewrite(func: ast.FunctionDef | ast.AsyncFunctionDef, local_names: set[str],
            free_names: set[str], first_lineno: int,
            hooked: set[tuple[int, int]] | None = None,
            exhaustive: bool = False, speculate: bool = False,
            global_writer: Callable[[str], bool] | None = None,
            transparent_with: Callable[[ast.expr], bool] | None = None) -> RewriteResult:
    """Rewrite `func` (a parsed ``def``); raises `Unsupported` when it cannot.

    `local_names`: the function's locals (``co_varnames``, ``co_cellvars``);
    `free_names`: its closure variables, which never hold Pendings. `exhaustive`
    (for tests): re-run passes until the sets stop growing, without the shortcut.
    """
    is_async = isinstance(func, ast.AsyncFunctionDef)
    scan = _prescan(func)
    local_names = (local_names | scan.comprehension_targets) - free_names
    may_pend: set[str] = set()
    guarded: set[str] = set()
    for _ in range(20):
        # The rewriter builds new nodes and never mutates the input tree, so each
        # pass reads the original; only the last pass's output is kept.
        rewriter = _Rewriter(local_names, scan, may_pend, guarded, first_lineno, is_async,
                             hooked, speculate, global_writer, transparent_with)
        rewriter.func_node = func
        body = rewriter.body(func.body)
        # Usually one pass suffices: names are bound before they are read, except
        # across loop iterations.
        done = (rewriter.may_pend == may_pend and rewriter.guarded == guarded) or (
            not exhaustive and rewriter.may_pend.answered_finally()
            and rewriter.guarded.answered_finally())
        may_pend, guarded = set(rewriter.may_pend), set(rewriter.guarded)
        if done:
            break
    else:  # pragma: no cover - the sets only grow and are bounded by the names
        raise Unsupported("may-pend analysis did not converge")
    prologue = ast.Assign([ast.Name(INV, ast.Store())],
                          ast.Call(ast.Name("_wj_begin", ast.Load()), [], []))
    body = guard([*body, ast.Return(_call("ret", ast.Constant(None)))], first_lineno,
                 fail_method="fail_exit")
    cls = ast.AsyncFunctionDef if is_async else ast.FunctionDef
    new = cls(
        name=func.name, args=_strip_defaults(func.args), body=[prologue, *body],
        decorator_list=[], returns=None, type_comment=None,
    )
    _at(new, func)
    if is_async:
        new = _AwaitHooks().visit(new)
    if hasattr(func, "type_params"):
        new.type_params = []  # type: ignore[attr-defined,union-attr,unused-ignore]
    return RewriteResult(new, rewriter.sites, may_pend, guarded, rewriter.loop_notes)


def _strip_defaults(args: ast.arguments) -> ast.arguments:
    """Defaults and annotations come from the original function object instead."""
    def plain(a: ast.arg) -> ast.arg:
        return ast.arg(arg=a.arg, annotation=None)

    return ast.arguments(
        posonlyargs=[plain(a) for a in args.posonlyargs],
        args=[plain(a) for a in args.args],
        vararg=plain(args.vararg) if args.vararg else None,
        kwonlyargs=[plain(a) for a in args.kwonlyargs],
        kw_defaults=[None] * len(args.kwonlyargs),
        kwarg=plain(args.kwarg) if args.kwarg else None,
        defaults=[],
    )
