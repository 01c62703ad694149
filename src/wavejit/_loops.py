"""Loop distribution: which calls of a ``for`` loop may be issued ahead of its body.

Real code uses each result right away::

    for t in tickets:
        r = classify(t)            # the call
        print(f"{t}: {r}")         # uses it before the next iteration's call
        out.append(r)

Waiting at ``print`` would run the calls one after another. Like an out-of-order
processor, the rewrite *issues* every iteration's calls first and *retires* the rest
of each iteration's body in program order as the results arrive (`_rewrite` emits the
two loops, `_runtime` keeps the effects in order). This module only decides, from the
AST, what may be issued ahead:

* the **prefix**: the leading statements of the body that only bind local names
  (``prompt = f"..."``, ``r = classify(t)``, ``a, b = f(t), g(t)``) or are a bare call;
* **hoisted calls**: after the prefix, calls inside later simple statements that are
  evaluated whenever the statement runs (``out.append(json.loads(ask(t)))`` hoists
  ``json.loads(ask(t))``; ``if judge(t) == "yes":`` hoists ``judge(t)``), up to the
  first statement that may skip the rest of the iteration (``continue``) or that
  runs its parts conditionally (``if`` bodies, ``with``, ``try``, loops).

What is issued ahead must not depend on anything the rest of the body changes:

* it reads only the loop target, names the prefix bound, and *invariant* names (bound
  nowhere in the loop), never a name bound by the remainder (a loop-carried value:
  ``result = llm(result)`` stays in order);
* no invariant it reads is mutated by the remainder: attribute / subscript stores,
  mutating methods (``.append``), or passing the object to an unknown function all
  count, compared by attribute path (``self.log.append(r)`` does not conflict with
  reading ``self.client``; it does with calling a method of ``self``);
* the body has no ``break`` or ``return`` (later iterations' calls would be calls
  plain Python never makes; ``speculate=True`` lifts this), no ``yield`` / ``await``.

The run-time rules (only materialized iterables; calls with effects run in order; a
hook that would block stops issuing) are in `_runtime`.
"""

from __future__ import annotations

import ast
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

from ._hints import _MUTATING_METHODS, _READ_ONLY_BUILTINS
from ._rewrite import _GLUE_METHODS, child_fields

__all__ = ["LoopPlan", "plan_loop", "plan_tail"]

# Statements whose parts all run when the statement runs (calls may be hoisted).
_SIMPLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr)
_CONTAINER_METHODS = frozenset({"append", "extend", "insert"})
# Builtins that are glue: never hoisted (nothing to gain), never mutate arguments.
_GLUE_BUILTINS = _READ_ONLY_BUILTINS | {"print", "open", "input"}
# Builtins that may be evaluated ahead: no output, no effects, no iterator state.
_PURE_BUILTINS = _READ_ONLY_BUILTINS - {"print", "iter", "next", "getattr", "hasattr"}


@dataclass
class LoopPlan:
    """How to split one ``for`` loop: issue `prefix` and `hoisted` ahead, retire the rest.

    `hoisted` maps id(call node) -> the temporary name its value is carried in; the
    calls stay where they are in the body, which the rewrite emits twice (issue: the
    prefix and the hoisted calls; retire: the rest, each hoisted call replaced by its
    temporary). `order` lists the hoisted calls in program order.
    """

    prefix: list[ast.stmt]
    rest: list[ast.stmt]
    hoisted: dict[int, str] = field(default_factory=dict)
    order: list[ast.expr] = field(default_factory=list)
    target_names: list[str] = field(default_factory=list)
    prefix_names: list[str] = field(default_factory=list)
    distinct_items: bool = False  # the remainder mutates the items: they must differ
    exits: bool = False  # the body may break or return (issued ahead only to speculate)
    reason: str = ""


def plan_loop(node: ast.For, loop_id: int, can_hold: set[str], *,
              speculate: bool = False,
              global_writer: Callable[[str], bool] | None = None,
              ) -> tuple[LoopPlan | None, str]:
    """The split of `node` (None if nothing can be issued ahead: it runs in order),
    and what explain() says of the loop.

    `can_hold`: the locals that may be bound to pending values (not captured by a
    nested scope).
    """
    target_names = _target_names(node.target)
    if target_names is None:
        return None, "in order: its target is not a name or a tuple of names"
    if node.orelse and _exits(node.orelse, loop_level=True):
        return None, "in order: its else block leaves the enclosing loop"
    if not speculate and _exits(node.body, loop_level=True):
        line = _first_exit(node.body)
        return None, (f"in order: the body may break or return (line {line}), so a later "
                      "item's call could be one plain Python never makes; "
                      "jit(speculate=True) issues them anyway")
    unsupported = _has_unsupported(node.body)
    if unsupported:
        return None, f"in order: the body uses {unsupported}"
    bound_in_body = _bound_names(node.body)
    invariant_ok = _Invariants(bound_in_body, target_names)
    prefix: list[ast.stmt] = []
    prefix_bound: set[str] = set()
    body = node.body
    i = 0
    # 1. The prefix: statements that only bind names from what may be read ahead.
    while i < len(body):
        stmt = body[i]
        if not _prefix_statement(stmt, can_hold):
            break
        reads = _reads(stmt)
        if not all(invariant_ok.readable(n, prefix_bound) for n in reads):
            break
        if not _only_hoistable_calls(_value(stmt), prefix_bound, invariant_ok, top=True):
            break
        prefix.append(stmt)
        prefix_bound |= _stmt_targets(stmt)
        i += 1
    rest = body[i:]
    plan = LoopPlan(prefix, rest, target_names=sorted(target_names),
                    prefix_names=sorted(prefix_bound),
                    exits=_exits(node.body, loop_level=True))
    # 2. Hoisted calls: from the simple statements after the prefix, in order.
    written: set[str] = set()
    for stmt in rest:
        for part in _unconditional_parts(stmt):
            for call in _hoistable_calls(part, prefix_bound, invariant_ok, written):
                plan.hoisted[id(call)] = f"_wj_h{loop_id}_{len(plan.order)}"
                plan.order.append(call)
        if not isinstance(stmt, _SIMPLE) and not (
            isinstance(stmt, ast.If) and not _exits(stmt.body + stmt.orelse, loop_level=True,
                                                   skips=True)
        ):
            break
        written |= _bound_names([stmt])
        if isinstance(stmt, ast.If):
            break  # what runs after an if-body may depend on it: stop here
    if not plan.order and not any(_has_call(s) for s in prefix):
        why = _why_nothing_issued(body, target_names, invariant_ok)
        return None, f"in order: {why}" if why else ""
    # A function of the program that writes module globals, called by the remainder
    # (at its place, in order): a later item's call, issued before, may read them.
    writer = _global_writer_call(rest, {id(c) for c in plan.order}, global_writer)
    if writer is not None:
        return None, (f"in order: line {writer.lineno}: `{_short(ast.unparse(writer))}` "
                      "writes module globals, which a later item's call may read")
    # 3. The items are taken before the body runs: the body must not change the
    # iterable (``for n in queue: ... queue.append(m)`` sees the new items plainly).
    for root, path in _mutated_paths(body, skip=set()):
        for r_root, r_path in _read_paths(node.iter):
            if r_root == root and (_prefix_of(path, r_path) or _prefix_of(r_path, path)):
                return None, (f"in order: the body changes `{'.'.join((root, *path))}`, "
                              "which it iterates over")
    # 4. Nothing read ahead may be changed by the remainder.
    # (A hoisted call is not part of the remainder: it runs ahead if it has no effects,
    # or at its place, in order, if it has.)
    mutated = _mutated_paths(rest, skip={id(c) for c in plan.order})
    read_paths = set()
    for stmt in prefix:
        read_paths |= _read_paths(stmt)
    for call in plan.order:
        read_paths |= _read_paths(call)
    for root, path in mutated:
        if root in target_names:
            plan.distinct_items = True
            continue
        if root in prefix_bound:
            continue  # a fresh value of this iteration
        for r_root, r_path in read_paths:
            if r_root == root and (_prefix_of(path, r_path) or _prefix_of(r_path, path)):
                changed = ".".join((root, *path))
                read = ".".join((r_root, *r_path))
                return None, (f"in order: the body changes `{changed}`, and the calls "
                              f"issued ahead would read `{read}` before that change")
    calls = sorted({c.lineno for c in plan.order} | {
        n.lineno for s in prefix for n in _walk_scope([s]) if isinstance(n, ast.Call)})
    return plan, (f"issued ahead (the calls at line{'s' if len(calls) > 1 else ''} "
                  f"{', '.join(map(str, calls))}), the rest of each item retired in order")


def _global_writer_call(stmts: list[ast.stmt], skip: set[int],
                        global_writer: Callable[[str], bool] | None) -> ast.Call | None:
    """The first call in `stmts` (not under the nodes in `skip`) of a function that
    `global_writer` says writes module globals."""
    if global_writer is None:
        return None
    for n in _walk_scope(list(stmts), skip):
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and global_writer(
            n.func.id
        ):
            return n
    return None


def _first_exit(stmts: list[ast.stmt]) -> int:
    for n in _walk_scope(list(stmts)):
        if isinstance(n, (ast.Return, ast.Break)):
            return n.lineno
    return 0


def _why_nothing_issued(body: list[ast.stmt], target_names: set[str],
                        inv: _Invariants) -> str:
    """Why the loop's first call cannot be issued ahead, for explain()."""
    for stmt in body:
        for n in _walk_scope([stmt]):
            if not isinstance(n, ast.Call) or not _callee_ok(n.func):
                continue
            carried = sorted(name for name in _reads(n)
                             if not inv.readable(name, set()) and name not in target_names)
            text = _short(ast.unparse(n))
            if carried:
                return (f"line {n.lineno}: `{text}` reads `{carried[0]}`, which the body "
                        "binds (a value carried from the previous item)")
            return (f"line {n.lineno}: `{text}` runs only under a condition, or after "
                    "what the body does before it may change its input")
    return ""  # no call at all: nothing to say


def _short(text: str) -> str:
    return text if len(text) <= 50 else text[:47] + "..."


# -- statements --------------------------------------------------------------------


def _target_names(target: ast.expr) -> set[str] | None:
    if isinstance(target, ast.Name):
        return {target.id}
    if isinstance(target, (ast.Tuple, ast.List)):
        names: set[str] = set()
        for e in target.elts:
            sub = _target_names(e)
            if sub is None:
                return None
            names |= sub
        return names
    return None


def _prefix_statement(stmt: ast.stmt, can_hold: set[str]) -> bool:
    if isinstance(stmt, ast.Assign):
        names = [_target_names(t) for t in stmt.targets]
        return all(n is not None and n <= can_hold for n in names)
    if isinstance(stmt, ast.AnnAssign):
        return stmt.value is not None and isinstance(stmt.target, ast.Name) and (
            stmt.target.id in can_hold)
    if isinstance(stmt, ast.Expr):
        value = stmt.value.value if isinstance(stmt.value, ast.Await) else stmt.value
        return isinstance(value, ast.Call) and _callee_ok(value.func)
    return False


def _value(stmt: ast.stmt) -> ast.expr:
    value = getattr(stmt, "value", None)
    assert isinstance(value, ast.expr)
    return value


def _stmt_targets(stmt: ast.stmt) -> set[str]:
    if isinstance(stmt, ast.Assign):
        out: set[str] = set()
        for t in stmt.targets:
            out |= _target_names(t) or set()
        return out
    if isinstance(stmt, ast.AnnAssign) and isinstance(stmt.target, ast.Name):
        return {stmt.target.id}
    return set()


def _walk_scope(nodes: list[ast.stmt] | list[ast.AST], skip: set[int] | None = None
                ) -> Iterator[ast.AST]:
    """Every node under `nodes`, not entering nested functions, lambdas or classes
    (nor the nodes whose ids are in `skip`)."""
    stack: list[ast.AST] = list(nodes)[::-1]
    while stack:
        n = stack.pop()
        if skip and id(n) in skip:
            continue
        yield n
        if type(n) in _NEW_SCOPES:
            continue
        # The children in order (`ast.iter_child_nodes`, without the context and
        # operator singletons, and several times faster).
        for field_name in reversed(child_fields(type(n))):
            value = getattr(n, field_name, None)
            if type(value) is list:
                for v in reversed(value):
                    if isinstance(v, ast.AST):
                        stack.append(v)
            elif isinstance(value, ast.AST):
                stack.append(value)


_NEW_SCOPES = frozenset({ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef})


def _exits(stmts: list[ast.stmt], *, loop_level: bool, skips: bool = False) -> bool:
    """Does any statement leave the loop (``break`` at its level, ``return``)?
    With `skips`, ``continue`` at its level counts too."""
    for stmt in stmts:
        if isinstance(stmt, ast.Return):
            return True
        if isinstance(stmt, ast.Break) and loop_level:
            return True
        if isinstance(stmt, ast.Continue) and loop_level and skips:
            return True
        if isinstance(stmt, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        nested_loop = isinstance(stmt, (ast.For, ast.While, ast.AsyncFor))
        for name in ("body", "orelse", "finalbody", "handlers", "cases"):
            children = getattr(stmt, name, None)
            if not children:
                continue
            if name in ("handlers", "cases"):
                children = [s for h in children for s in h.body]
            level = loop_level and not (nested_loop and name == "body")
            if _exits(children, loop_level=level, skips=skips):
                return True
    return False


def _has_unsupported(stmts: list[ast.stmt]) -> str:
    for n in _walk_scope(list(stmts)):
        if isinstance(n, (ast.Yield, ast.YieldFrom, ast.Global, ast.Nonlocal,
                          ast.AsyncFor, ast.AsyncWith)):
            kind = type(n).__name__.lower().replace("async", "async ").replace("from",
                                                                              " from")
            return f"{kind} (line {n.lineno})"
    return ""


def _bound_names(stmts: list[ast.stmt]) -> set[str]:
    out: set[str] = set()
    for n in _walk_scope(list(stmts)):
        if isinstance(n, ast.Name) and not isinstance(n.ctx, ast.Load):
            out.add(n.id)
        elif isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            out.add(n.name)
        elif isinstance(n, ast.ExceptHandler) and n.name:
            out.add(n.name)
        elif isinstance(n, (ast.Import, ast.ImportFrom)):
            out.update((a.asname or a.name).split(".")[0] for a in n.names)
    return out


def _reads(node: ast.AST) -> set[str]:
    return {n.id for n in _walk_scope([node]) if isinstance(n, ast.Name)
            and isinstance(n.ctx, ast.Load)}


def _has_call(node: ast.AST) -> bool:
    return any(isinstance(n, ast.Call) for n in _walk_scope([node]))


class _Invariants:
    """Which names may be read ahead of the remainder of the body."""

    def __init__(self, bound_in_body: set[str], target_names: set[str]) -> None:
        self.bound = bound_in_body
        self.targets = target_names

    def readable(self, name: str, prefix_bound: set[str],
                 written: frozenset[str] | set[str] = frozenset()) -> bool:
        if name in written:
            return False
        return name in self.targets or name in prefix_bound or name not in self.bound


# -- expressions -------------------------------------------------------------------


def _unconditional_parts(stmt: ast.stmt) -> list[ast.expr]:
    """The expressions of `stmt` that run whenever it runs (hoisting candidates)."""
    if isinstance(stmt, (ast.Assign, ast.AnnAssign, ast.Expr)):
        return [stmt.value] if stmt.value is not None else []
    if isinstance(stmt, ast.AugAssign):
        return [stmt.value]
    if isinstance(stmt, ast.If):
        return [stmt.test]
    return []


def _callee_ok(func: ast.expr) -> bool:
    """A callee expression that may be evaluated ahead: a name or attribute chain."""
    node = func
    while isinstance(node, ast.Attribute):
        node = node.value
    if not isinstance(node, ast.Name):
        return False
    if isinstance(func, ast.Name):
        return func.id not in _GLUE_BUILTINS
    assert isinstance(func, ast.Attribute)
    return func.attr not in _MUTATING_METHODS and func.attr not in _CONTAINER_METHODS


def _pure(node: ast.expr, ok_name: Callable[[str], bool], allow_calls: bool) -> bool:
    """Can `node` be evaluated ahead: reads, displays, f-strings, operators, and (if
    `allow_calls`) calls that are themselves hoistable."""
    if isinstance(node, ast.Constant):
        return True
    if isinstance(node, ast.Name):
        return ok_name(node.id)
    if isinstance(node, (ast.Attribute, ast.Starred)):
        return _pure(node.value, ok_name, allow_calls)
    if isinstance(node, ast.Subscript):
        return _pure(node.value, ok_name, allow_calls) and _pure(node.slice, ok_name,
                                                                 allow_calls)
    if isinstance(node, ast.Slice):
        return all(_pure(p, ok_name, allow_calls) for p in (node.lower, node.upper, node.step)
                   if p is not None)
    if isinstance(node, ast.JoinedStr):
        return all(_pure(v, ok_name, allow_calls) for v in node.values)
    if isinstance(node, ast.FormattedValue):
        return _pure(node.value, ok_name, allow_calls) and (
            node.format_spec is None or _pure(node.format_spec, ok_name, allow_calls))
    if isinstance(node, ast.BinOp):
        return _pure(node.left, ok_name, allow_calls) and _pure(node.right, ok_name,
                                                                allow_calls)
    if isinstance(node, ast.UnaryOp):
        return _pure(node.operand, ok_name, allow_calls)
    if isinstance(node, ast.Compare):
        return _pure(node.left, ok_name, allow_calls) and all(
            _pure(c, ok_name, allow_calls) for c in node.comparators)
    if isinstance(node, ast.BoolOp):
        return all(_pure(v, ok_name, allow_calls) for v in node.values)
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return all(_pure(e, ok_name, allow_calls) for e in node.elts)
    if isinstance(node, ast.Dict):
        return all(k is None or _pure(k, ok_name, allow_calls) for k in node.keys) and all(
            _pure(v, ok_name, allow_calls) for v in node.values)
    if isinstance(node, ast.Await):  # an awaited call (async def): issued as a task
        return allow_calls and isinstance(node.value, ast.Call) and _pure(
            node.value, ok_name, allow_calls)
    if isinstance(node, ast.Call):
        if not allow_calls:
            return False
        if isinstance(node.func, ast.Name) and node.func.id in _PURE_BUILTINS:
            pass  # len(x), str(x): glue
        elif isinstance(node.func, ast.Attribute) and node.func.attr in _GLUE_METHODS and (
            isinstance(node.func.value, (ast.Constant, ast.JoinedStr))
        ):
            pass  # ", ".join(xs), "{}".format(x): glue on a literal
        elif not _callee_ok(node.func) or not _pure(node.func, ok_name, False):
            return False
        return all(_pure(a, ok_name, allow_calls) for a in node.args) and all(
            _pure(k.value, ok_name, allow_calls) for k in node.keywords)
    return False


def _only_hoistable_calls(value: ast.expr, prefix_bound: set[str], inv: _Invariants,
                          top: bool = False) -> bool:
    """A prefix statement's value: evaluable ahead, calls included."""
    return _pure(value, lambda n: inv.readable(n, prefix_bound), allow_calls=True)


def _hoistable_calls(expr: ast.expr, prefix_bound: set[str], inv: _Invariants,
                     written: set[str]) -> list[ast.expr]:
    """The maximal calls in `expr`, evaluated whenever it is, that may be issued ahead."""
    def ok(name: str) -> bool:
        return inv.readable(name, prefix_bound, written)

    found: list[ast.expr] = []

    def visit(node: ast.expr) -> None:
        if isinstance(node, ast.Await) and isinstance(node.value, ast.Call) and _callee_ok(
            node.value.func
        ) and _pure(node, ok, True):
            found.append(node)
            return
        if isinstance(node, ast.Call) and _callee_ok(node.func) and _pure(node, ok, True):
            found.append(node)
            return
        for child in _unconditional_children(node):
            visit(child)

    visit(expr)
    return found


def _unconditional_children(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.Call):
        return [node.func, *node.args, *(k.value for k in node.keywords)]
    if isinstance(node, ast.Await):
        return [node.value]
    if isinstance(node, (ast.Attribute, ast.Starred, ast.UnaryOp)):
        return [node.value if not isinstance(node, ast.UnaryOp) else node.operand]
    if isinstance(node, ast.Subscript):
        return [node.value, node.slice]
    if isinstance(node, ast.BinOp):
        return [node.left, node.right]
    if isinstance(node, ast.Compare):
        return [node.left, node.comparators[0]]
    if isinstance(node, ast.BoolOp):
        return [node.values[0]]
    if isinstance(node, (ast.List, ast.Tuple, ast.Set)):
        return list(node.elts)
    if isinstance(node, ast.Dict):
        return [*(k for k in node.keys if k is not None), *node.values]
    if isinstance(node, ast.JoinedStr):
        return list(node.values)
    if isinstance(node, ast.FormattedValue):
        return [node.value]
    return []


# -- what the remainder mutates, what is read ahead ------------------------------------


def _path(node: ast.expr) -> tuple[str, tuple[str, ...]] | None:
    """``self.log[0].x`` -> ("self", ("log",)): the root and its leading attributes."""
    attrs: list[str] = []
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        if isinstance(node, ast.Attribute):
            attrs.append(node.attr)
        else:
            attrs.clear()  # x[k].y: the path is x's (a subscript may alias anything)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    return node.id, tuple(reversed(attrs))


def _mutated_paths(stmts: list[ast.stmt], skip: set[int]) -> set[tuple[str, tuple[str, ...]]]:
    """Roots and attribute paths the statements may mutate (conservatively), not
    looking into the nodes whose ids are in `skip`."""
    out: set[tuple[str, tuple[str, ...]]] = set()

    def add(node: ast.expr) -> None:
        p = _path(node)
        if p is not None:
            out.add(p)

    for n in _walk_scope(list(stmts), skip):
        if isinstance(n, (ast.Attribute, ast.Subscript)) and not isinstance(n.ctx, ast.Load):
            add(n.value)
        elif isinstance(n, ast.AugAssign) and isinstance(n.target, ast.Name):
            out.add((n.target.id, ()))
        elif isinstance(n, ast.Call):
            func = n.func
            if isinstance(func, ast.Attribute):
                if func.attr in _MUTATING_METHODS or func.attr in _CONTAINER_METHODS:
                    add(func.value)
                elif not _is_glue_method(func):
                    add(func.value)  # an unknown method may change its receiver
            # Builtins and container methods store or read what they are given.
            glue = isinstance(func, ast.Name) and func.id in _GLUE_BUILTINS or (
                isinstance(func, ast.Attribute) and (
                    func.attr in _MUTATING_METHODS or func.attr in _CONTAINER_METHODS
                    or _is_glue_method(func)))
            if not glue:
                for a in [*n.args, *(k.value for k in n.keywords)]:
                    a = a.value if isinstance(a, ast.Starred) else a
                    if isinstance(a, (ast.Name, ast.Attribute, ast.Subscript)):
                        add(a)  # handed to code that may change it
    return out




def _is_glue_method(func: ast.Attribute) -> bool:
    return func.attr in _GLUE_METHODS


def _read_paths(node: ast.AST) -> set[tuple[str, tuple[str, ...]]]:
    """What evaluating `node` ahead reads, as (root, attribute path): ``self.client.x``
    reads ``("self", ("client", "x"))``; a method call hands its receiver to the
    callee, which may read anything under it (``self.ask(q)`` reads all of ``self``)."""
    out: set[tuple[str, tuple[str, ...]]] = set()

    def visit(n: ast.AST) -> None:
        if isinstance(n, (ast.Attribute, ast.Subscript)):
            p = _path(n)
            if p is not None:
                out.add(p)
            inner: ast.AST = n
            while isinstance(inner, (ast.Attribute, ast.Subscript)):
                if isinstance(inner, ast.Subscript):
                    visit(inner.slice)
                inner = inner.value
            if not isinstance(inner, ast.Name):
                visit(inner)
            return
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute):
            receiver = _path(n.func.value)
            if receiver is not None:
                out.add(receiver)
            visit(n.func.value)
            for child in [*n.args, *n.keywords]:
                visit(child)
            return
        if isinstance(n, ast.Name):
            out.add((n.id, ()))
            return
        if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda, ast.ClassDef)):
            return
        for child in ast.iter_child_nodes(n):
            visit(child)

    visit(node)
    return out


def _prefix_of(a: tuple[str, ...], b: tuple[str, ...]) -> bool:
    return b[: len(a)] == a


# -- the statements after a loop issued ahead ------------------------------------------


def plan_tail(loop: ast.For, loop_plan: LoopPlan, following: list[ast.stmt], loop_id: int,
              can_hold: set[str], global_writer: Callable[[str], bool] | None = None,
              ) -> tuple[LoopPlan | None, list[ast.stmt]]:
    """What of the simple statements right after `loop` may be issued before its items
    retire, as one more item (``for ...: print(ask(x))`` then ``summary = ask(y)``: the
    second call need not wait for the first loop's prints).

    Returns the plan of the tail (its prefix and hoisted calls, as for a loop body) and
    the statements it covers, or (None, []). Beyond the rules of a loop body: the loop
    must not leave early or have an ``else`` block (the tail would not be reached, or
    something would run in between); what the tail reads ahead must be bound and
    changed by nothing in the loop's body; and the names its prefix binds ahead may
    appear in the loop's body only as names each retired item binds first (its target,
    its prefix names).
    """
    if loop_plan.exits or loop.orelse or _global_writer_call(
        loop.body, {id(c) for c in loop_plan.order}, global_writer) is not None:
        return None, []
    tail: list[ast.stmt] = []
    for stmt in following:
        if not isinstance(stmt, _SIMPLE):
            break
        tail.append(stmt)
    if not tail:
        return None, []
    synthetic = ast.For(target=ast.Name("_wj_tail", ast.Store()), iter=ast.Tuple([], ast.Load()),
                        body=tail, orelse=[], type_comment=None)
    plan, _ = plan_loop(synthetic, loop_id, can_hold)
    if plan is None:
        return None, []
    in_loop = _bound_names(loop.body) | _reads_all(loop.body) | set(
        _target_names(loop.target) or ())
    rebound_first = set(loop_plan.target_names) | set(loop_plan.prefix_names)
    if any(n in in_loop and n not in rebound_first for n in plan.prefix_names):
        return None, []
    bound_in_loop = _bound_names(loop.body) | set(loop_plan.target_names)
    ahead: list[ast.AST] = [*plan.prefix, *plan.order]
    if any(_reads(n) & (bound_in_loop - set(plan.prefix_names)) for n in ahead):
        return None, []
    read_paths: set[tuple[str, tuple[str, ...]]] = set()
    for n in ahead:
        read_paths |= _read_paths(n)
    for root, path in _mutated_paths(loop.body, skip=set()):
        for r_root, r_path in read_paths:
            if r_root == root and (_prefix_of(path, r_path) or _prefix_of(r_path, path)):
                return None, []
    return plan, tail



def _reads_all(stmts: list[ast.stmt]) -> set[str]:
    out: set[str] = set()
    for s in stmts:
        out |= _reads(s)
    return out
