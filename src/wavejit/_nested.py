"""Nested loops issued ahead as one loop over pairs: a transform pass, and its run time.

Real code nests its fan-out (G-Eval scores every metric x every summary)::

    for metric, (criteria, steps) in metrics.items():
        for name, summary in summaries.items():
            scores.append(judge(criteria, steps, summary))

Issued ahead one outer item at a time, such a loop waits for each row before it issues
the next. When the outer body is just the inner loop, it is the loop over the pairs in
the same order::

    def _wj_nN(_wj_a, summaries):         # the inner iterable, as a function of the
        metric, (criteria, steps) = _wj_a  # outer item (locals it reads are passed in)
        return summaries.items()
    _wj_pN, _wj_sN = _wj_inv.nested(metrics.items(), _wj_nN, (summaries,))
    for (metric, (criteria, steps)), (name, summary) in _wj_pN:
        scores.append(judge(criteria, steps, summary))     # issued ahead by _distribute
    if _wj_sN:
        metric, (criteria, steps) = _wj_sN[-1]   # plain leaves the last outer item bound

which `_distribute` issues ahead like any loop. Evaluating every inner iterable before
the body runs is what plain Python does later, so it is done only where that cannot
differ:

* statically, the inner iterable is a pure expression (names, attributes, subscripts,
  read-only builtins such as ``range`` / ``sorted``, and methods such as ``.items()``
  or ``.split()``) that reads nothing the body binds or may change, the outer body is
  the inner loop alone, neither loop has an ``else`` block, and the inner body has no
  ``break`` (it would leave only the inner loop);
* at run time (`nested_items`), the outer items and every inner iterable are
  containers; otherwise, or if evaluating an inner iterable raises, the pairs from
  that outer item on are produced lazily, in plain order (the exception is then raised
  where plain Python raises it), and the loop runs in order.

The transform is used only when the loop over the pairs is issued ahead: otherwise the
nested loops are rewritten as they are (the inner one may still be issued ahead per
outer item).
"""

from __future__ import annotations

import ast
import copy
import sys
from collections.abc import Callable, Iterable, Iterator
from itertools import chain
from typing import TYPE_CHECKING, Any

from ._issue import materialized_items
from ._loops import (
    _PURE_BUILTINS,
    _bound_names,
    _mutated_paths,
    _prefix_of,
    _read_paths,
    _reads,
    _target_names,
    plan_loop,
)
from ._rewrite import _GLUE_METHODS

if TYPE_CHECKING:
    from ._rewrite import _Rewriter

__all__ = ["flatten_nested", "nested_items", "tail_items"]


def flatten_nested(rw: _Rewriter, node: ast.For) -> list[ast.stmt] | None:
    """The statements replacing the nested loops `node`, or None to leave them be."""
    from ._rewrite import _at, _call

    if not rw.lazy_bindings or node.orelse or len(node.body) != 1:
        return None
    inner = node.body[0]
    if not isinstance(inner, ast.For) or inner.orelse:
        return None
    outer_names, inner_names = _target_names(node.target), _target_names(inner.target)
    if outer_names is None or inner_names is None or outer_names & inner_names:
        return None
    if rw.iterates_pending(node.iter) or _breaks(inner.body):
        return None
    if not _pure_iterable(inner.iter, rw.locals):
        return None
    bound = _bound_names(inner.body)
    reads = _reads(inner.iter)
    if reads & (bound | inner_names) or outer_names & bound:
        return None
    read = _read_paths(inner.iter) | _read_paths(node.iter)
    for root, path in _mutated_paths(inner.body, skip=set()):
        if any(r == root and (_prefix_of(path, p) or _prefix_of(p, path)) for r, p in read):
            return None

    n = rw.nests
    pairs, seen, fn = f"_wj_p{n}", f"_wj_s{n}", f"_wj_n{n}"
    flat = _at(ast.For(
        target=ast.Tuple([copy.deepcopy(node.target), copy.deepcopy(inner.target)],
                         ast.Store()),
        iter=ast.Name(pairs, ast.Load()), body=inner.body, orelse=[], type_comment=None),
        node)
    can_hold = {name for name in rw.locals if rw.can_hold_pending(name)}
    plan, _ = plan_loop(flat, rw.loops, can_hold, speculate=rw.speculate,
                        global_writer=rw.global_writer)
    if plan is None:
        return None
    rw.nests += 1

    # The inner iterable as a function of the outer item; the locals it reads are
    # passed in (read once, strictly: the body never rebinds them).
    params = sorted(reads & rw.locals - outer_names)
    args = ast.arguments(posonlyargs=[], args=[ast.arg("_wj_a"), *map(ast.arg, params)],
                         vararg=None, kwonlyargs=[], kw_defaults=[], kwarg=None,
                         defaults=[])
    inner_fn = ast.FunctionDef(
        name=fn, args=args,
        body=[ast.Assign([copy.deepcopy(node.target)], ast.Name("_wj_a", ast.Load())),
              ast.Return(copy.deepcopy(inner.iter))],
        decorator_list=[], returns=None, type_comment=None)
    if sys.version_info >= (3, 12):
        inner_fn.type_params = []
    head = ast.Assign(
        [ast.Tuple([ast.Name(pairs, ast.Store()), ast.Name(seen, ast.Store())], ast.Store())],
        _call("nested", rw.expr(node.iter, False), ast.Name(fn, ast.Load()),
              ast.Tuple([rw.expr(ast.copy_location(ast.Name(p, ast.Load()), inner.iter),
                                 False) for p in params],  # (positioned: may be wrapped)
                        ast.Load())))
    last = ast.If(test=ast.Name(seen, ast.Load()), body=[ast.Assign(
        [copy.deepcopy(node.target)],
        ast.Subscript(ast.Name(seen, ast.Load()), ast.Constant(-1), ast.Load()))],
        orelse=[])
    rw.following = []  # the last outer item is bound after the loop, before what follows
    loop = rw.stmt(flat)
    if rw.loop_notes.get(node.lineno):
        rw.loop_notes[node.lineno] = "nested loops, as one loop over pairs: " + (
            rw.loop_notes[node.lineno])
    rw.loop_notes.pop(inner.lineno, None)
    return [_at(inner_fn, node), _at(head, node), *loop, _at(last, node)]


def _breaks(stmts: list[ast.stmt]) -> bool:
    """Does a ``break`` leave the inner loop (it would leave the pairs' loop instead)?"""
    return any(isinstance(n, ast.Break) for n in _level_nodes(stmts))


def _level_nodes(stmts: list[ast.stmt]) -> Iterator[ast.AST]:
    """The statements at this loop's level (not inside nested loops or scopes)."""
    for stmt in stmts:
        yield stmt
        if isinstance(stmt, (ast.For, ast.While, ast.AsyncFor, ast.FunctionDef,
                             ast.AsyncFunctionDef, ast.ClassDef)):
            continue
        for name in ("body", "orelse", "finalbody"):
            yield from _level_nodes(getattr(stmt, name, None) or [])
        for handler in getattr(stmt, "handlers", None) or []:
            yield from _level_nodes(handler.body)
        for case in getattr(stmt, "cases", None) or []:
            yield from _level_nodes(case.body)


def _pure_iterable(node: ast.expr, local_names: set[str]) -> bool:
    """An expression that may be evaluated early: no effects, no calls but read-only
    builtins (not rebound locally) and read-only methods."""
    if isinstance(node, (ast.Constant, ast.Name)):
        return True
    if isinstance(node, ast.Attribute):
        return _pure_iterable(node.value, local_names)
    if isinstance(node, ast.Subscript):
        return _pure_iterable(node.value, local_names) and _pure_iterable(
            node.slice, local_names)
    if isinstance(node, ast.Slice):
        return all(_pure_iterable(p, local_names) for p in (node.lower, node.upper, node.step)
                   if p is not None)
    if isinstance(node, (ast.Tuple, ast.List)):
        return all(_pure_iterable(e, local_names) for e in node.elts)
    if isinstance(node, ast.BinOp):
        return _pure_iterable(node.left, local_names) and _pure_iterable(
            node.right, local_names)
    if isinstance(node, ast.UnaryOp):
        return _pure_iterable(node.operand, local_names)
    if isinstance(node, ast.Call):
        func = node.func
        if isinstance(func, ast.Name):
            ok = func.id in _PURE_BUILTINS and func.id not in local_names
        elif isinstance(func, ast.Attribute):
            ok = func.attr in _GLUE_METHODS and _pure_iterable(func.value, local_names)
        else:
            ok = False
        return ok and all(
            _pure_iterable(a, local_names) for a in node.args) and all(
            _pure_iterable(k.value, local_names) for k in node.keywords)
    return False


# -- run time ---------------------------------------------------------------------------


def nested_items(outer: Any, inner: Callable[..., Any], args: tuple[Any, ...]
                 ) -> tuple[Iterable[tuple[Any, Any]], list[Any]]:
    """The pairs (outer item, inner item) of nested loops, in their order, and the list
    of outer items taken (filled as they are: its last is what plain Python leaves
    bound). A list when every iterable is a container and evaluating each inner one
    succeeded; from the first outer item where that fails, a lazy iterator that
    evaluates the inner iterables in plain order (raising where plain Python raises)."""
    seen: list[Any] = []
    items = materialized_items(None, (outer,), {}, False)
    if items is None:
        return _lazy(outer, inner, args, seen), seen
    pairs: list[tuple[Any, Any]] = []
    for k, a in enumerate(items):
        try:
            inner_items = materialized_items(None, (inner(a, *args),), {}, False)
        except Exception:  # raised again, at its plain place, by the lazy rest
            inner_items = None
        if inner_items is None:
            seen.extend(items[:k])
            return chain(pairs, _lazy(items[k:], inner, args, seen)), seen
        pairs.extend((a, b) for b in inner_items)
    seen.extend(items)
    return pairs, seen


def _lazy(outer: Iterable[Any], inner: Callable[..., Any], args: tuple[Any, ...],
          seen: list[Any]) -> Iterator[tuple[Any, Any]]:
    for a in outer:
        seen.append(a)
        for b in inner(a, *args):
            yield a, b


def tail_items(items: list[Any], queue: list[tuple[Any, ...]]) -> tuple[None, ...]:
    """One item (the statements after a loop, `_distribute`) if every item of the loop
    was issued and none failed, else none: they then run in order after the loop."""
    if len(queue) == len(items) and (not queue or queue[-1][0].failure is None):
        return (None,)
    return ()
