"""Emit a ``for`` loop issued ahead: the transform pass of loop distribution.

`_loops.plan_loop` decides what may be issued ahead; this module writes the code, and
`_issue` / `_runtime` run it. For ``for T in ITER: BODY else: ORELSE`` with prefix P,
hoisted calls C1..Cn and remainder R (each Ck replaced by its temporary in R)::

    _wj_lN, _wj_iN = _wj_inv.loop_items(WRAPPER, (ARGS,), {KW}, DISTINCT)
    if _wj_lN is not None:                       # the items are a container
        _wj_qN = []
        for T in _wj_lN:                         # issue: every item's calls start
            _wj_gN = _wj_inv.issue_begin()
            try:
                P
            except _wj_inv.StopIssue:            # would wait, or run an effect: stop
                _wj_inv.issue_stop(_wj_gN); break
            except Exception as _wj_e:           # raised when the item is retired
                _wj_inv.issue_failed(_wj_gN, _wj_e); _wj_qN.append((_wj_gN,)); break
            _wj_inv.issue_part(_wj_gN, 1)
            try:
                _wj_hN_0 = C1
            except ...                           # likewise; raised where C1 is taken
            ...
            _wj_inv.issue_commit(_wj_gN)
            _wj_qN.append((_wj_gN, NAMES..., _wj_hN_0, ...))
        _wj_iN = _wj_inv.issue_end(_wj_lN, _wj_qN)   # the items not issued
        for _wj_rN in _wj_qN:                    # retire, in program order
            _wj_gN = _wj_inv.retire(_wj_rN[0])
            NAMES..., _wj_hN_0, ... = _wj_rN[1:]
            R                                    # Ck is _wj_inv.take(_wj_gN, k, _wj_hN_k)
    for T in _wj_iN:                             # the rest (or everything), in order
        BODY
    else:
        ORELSE

The items that were not issued (iteration stopped, or the iterable is not a container)
run through the ordinary rewritten loop, so the result never depends on how far the
issue got.
"""

from __future__ import annotations

import ast
from typing import TYPE_CHECKING

from ._loops import _PURE_BUILTINS, LoopPlan, plan_loop, plan_tail

if TYPE_CHECKING:
    from ._rewrite import _Rewriter

__all__ = ["issue_ahead"]



def issue_ahead(rw: _Rewriter, node: ast.For) -> list[ast.stmt] | None:
    """The statements replacing `node`, or None to keep it an ordinary loop."""

    following, rw.following = rw.following, []
    guarded = not rw.lazy_bindings  # in a try body (see `_issue_in_try`)
    if guarded and not _issue_in_try(rw, node):
        return None
    depth = rw.guard_depth
    rw.guard_depth = 0  # the issue loop binds lazily
    try:
        return _issue_ahead(rw, node, following, guarded, depth)
    finally:
        rw.guard_depth = depth


def _issue_in_try(rw: _Rewriter, node: ast.For) -> bool:
    """May a loop in a ``try`` body (or a block that may suppress) be issued ahead?

    Its items retire in order, each hoisted call waited for at its place and the
    prefix's results before the item's body, so a failure is raised where plain Python
    raises it and the output before it is the same. What differs is only the names the
    issue loop bound for later items: allowed when no name bound in the loop is read
    anywhere in the function outside it (a handler could see them).
    """
    if rw.finally_depth or rw.func_node is None:
        return False
    bound = {n.id for n in ast.walk(node) if isinstance(n, ast.Name)
             and isinstance(n.ctx, ast.Store)}
    inside = {id(n) for n in ast.walk(node)}
    return not any(isinstance(n, ast.Name) and n.id in bound and id(n) not in inside
                   and not isinstance(n.ctx, ast.Store)  # a read, or a `del`
                   for n in ast.walk(rw.func_node))


def _issue_ahead(rw: _Rewriter, node: ast.For, following: list[ast.stmt], guarded: bool,
                 depth: int) -> list[ast.stmt] | None:
    from ._rewrite import _at, _call

    # Iterating a container this function filled: its items may be pending (then the
    # calls issued ahead depend on them; the loop target is waited for at strict uses).
    lazy_items = isinstance(node.target, ast.Name) and rw.iterates_pending(node.iter) and (
        rw.can_hold_pending(node.target.id))
    can_hold = rw.locals - rw.captured  # (the names `rw.can_hold_pending` accepts)
    n = rw.loops
    plan, note = plan_loop(node, n, can_hold, speculate=rw.speculate,
                           global_writer=rw.global_writer)
    if note:
        rw.loop_notes[node.lineno] = note
    if plan is None or (guarded and plan.exits):
        return None
    rw.loops += 1
    tail_plan, tail = plan_tail(node, plan, following, rw.loops, can_hold, rw.global_writer
                                ) if not guarded else (None, [])
    if tail_plan is not None:
        rw.loops += 1
        lines = sorted({c.lineno for c in tail_plan.order} | {
            c.lineno for s in tail_plan.prefix for c in ast.walk(s) if isinstance(c, ast.Call)
            and not (isinstance(c.func, ast.Name) and c.func.id in _PURE_BUILTINS)})
        rw.loop_notes[node.lineno] = (note or "") + (
            f"; the call{'s' if len(lines) > 1 else ''} after it at line"
            f"{'s' if len(lines) > 1 else ''} {', '.join(map(str, lines))} issued before "
            "its items retire")

    name = _name

    items, rest_iter, queue = f"_wj_l{n}", f"_wj_i{n}", f"_wj_q{n}"
    group, row = f"_wj_g{n}", f"_wj_r{n}"
    temps = [plan.hoisted[id(c)] for c in plan.order]
    for temp in temps:
        rw.locals.add(temp)
    carried = [*plan.target_names, *plan.prefix_names, *temps]

    # The iterable, evaluated once: a builtin wrapper's arguments are checked instead.
    it = node.iter
    if isinstance(it, ast.Call) and isinstance(it.func, (ast.Name, ast.Attribute)) and (
        not any(isinstance(a, ast.Starred) for a in it.args)
        and all(k.arg is not None for k in it.keywords) and not lazy_items
    ):
        wrapper = rw.expr(it.func, False)
        args = [rw.expr(a, False) for a in it.args]
        keywords = ast.Dict([ast.Constant(k.arg) for k in it.keywords],
                            [rw.expr(k.value, False) for k in it.keywords])
    elif lazy_items:
        assert isinstance(node.target, ast.Name)
        rw.bind(node.target.id)
        wrapper, keywords = ast.Constant(None), ast.Dict([], [])
        args = [rw.shallow(it) if isinstance(it, ast.Name) else
                _at(_call("shallow", rw.expr(it, True)), it)]
    else:
        wrapper, args, keywords = ast.Constant(None), [rw.expr(it, False)], ast.Dict([], [])
    head = _at(ast.Assign(
        [ast.Tuple([name(items, True), name(rest_iter, True)], ast.Store())],
        _call("loop_items", wrapper, ast.Tuple(args, ast.Load()), keywords,
              ast.Constant(plan.distinct_items))), node)

    # The issue loop.
    rw.loop_depth += 1
    rw.loop_vars.append(set(plan.target_names))
    issue_body = _issue_body(rw, plan, temps, carried, group, queue)
    issue_loop = ast.For(target=rw.target(node.target), iter=name(items), body=issue_body,
                         orelse=[], type_comment=None)
    tail_issue: list[ast.stmt] = []
    t = rw.loops - 1
    tqueue, tgroup, trow = f"_wj_q{t}", f"_wj_g{t}", f"_wj_r{t}"
    if tail_plan is not None:
        ttemps = [tail_plan.hoisted[id(c)] for c in tail_plan.order]
        for temp in ttemps:
            rw.locals.add(temp)
        tcarried = [*tail_plan.prefix_names, *ttemps]
        # One more item, issued once every item of the loop was: the tail.
        tail_issue = [ast.For(
            target=name(f"_wj_x{t}", True), iter=_call("tail_items", name(items), name(queue)),
            body=_issue_body(rw, tail_plan, ttemps, tcarried, tgroup, tqueue),
            orelse=[], type_comment=None)]

    # The retire loop: the remainder, in program order (in a try body: strictly, each
    # result waited for where plain Python computed it).
    rw.guard_depth, rw.strict_takes = depth, guarded
    try:
        rest = _retired_rest(rw, plan, temps, group)
    finally:
        rw.strict_takes = False
    rw.loop_vars.pop()
    rw.loop_depth -= 1
    carried_values: ast.expr = ast.Subscript(
        name(row), ast.Slice(ast.Constant(1), None, None), ast.Load())
    if guarded:
        carried_values = _call("settle_row", name(group), carried_values,
                               ast.Constant(len(plan.target_names) + len(plan.prefix_names)))
    retire_loop = ast.For(
        target=name(row, True), iter=name(queue),
        body=[
            ast.Assign([name(group, True)], _call(
                "retire", ast.Subscript(name(row), ast.Constant(0), ast.Load()),
                name(rest_iter))),
            ast.Assign([ast.Tuple([name(c, True) for c in carried], ast.Store())],
                       carried_values),
            *(rest or [ast.Pass()]),
        ],
        orelse=[], type_comment=None)
    distributed = ast.If(
        test=ast.Compare(name(items), [ast.IsNot()], [ast.Constant(None)]),
        body=[ast.Assign([name(queue, True)], ast.List([], ast.Load())), issue_loop,
              *tail_issue,
              ast.Assign([name(rest_iter, True)],
                         _call("issue_end", name(items), name(queue), name(rest_iter))),
              retire_loop],
        orelse=[])
    ordinary = rw.ordinary_for(node, name(rest_iter))
    if not plan.exits:
        if tail_plan is None:
            return [head, _at(distributed, node), *ordinary]
        return [_at(ast.Assign([name(tqueue, True)], ast.List([], ast.Load())), node), head,
                _at(distributed, node), *ordinary,
                *_tail_retire(rw, tail_plan, tail, ttemps, tcarried, tgroup, tqueue, trow)]
    # speculate=True and the body may break: a break in the retire loop skips the
    # ordinary loop and its else block, and cancels what was issued past it.
    broke = f"_wj_b{n}"
    retire_loop.orelse = [ast.Assign([name(broke, True)], ast.Constant(False))]
    distributed.body.insert(-1, ast.Assign([name(broke, True)], ast.Constant(True)))
    after = ast.If(test=name(broke), body=[ast.Expr(_call("cancel_unlinked"))],
                   orelse=ordinary)
    start = ast.Assign([name(broke, True)], ast.Constant(False))
    return [_at(start, node), head, _at(distributed, node), _at(after, node)]


def _retired_rest(rw: _Rewriter, plan: LoopPlan, temps: list[str], group: str
                  ) -> list[ast.stmt]:
    """The remainder of an item, rewritten with each hoisted call taken at its place
    (``take(group, k, temp)``) and the prefix names bound as the row carries them."""
    for n_ in plan.prefix_names:
        rw.bind(n_)
    rw.hoisted = {id(c): (t, group, k)
                  for k, (c, t) in enumerate(zip(plan.order, temps, strict=True), start=1)}
    try:
        return rw.body(plan.rest)
    finally:
        rw.hoisted = {}


def _tail_retire(rw: _Rewriter, plan: LoopPlan, tail: list[ast.stmt], temps: list[str],
                 carried: list[str], group: str, queue: str, row: str) -> list[ast.stmt]:
    """After the loop: the tail retired (its rest, each hoisted call taken), or, if it
    was not issued, the tail's statements as they are. Takes them from `rw.body`."""
    from ._rewrite import _at, _call

    name = _name
    rest = _retired_rest(rw, plan, temps, group)
    ordinary = rw.body(tail)
    rw.consumed = len(tail)
    retired: list[ast.stmt] = [
        ast.Assign([name(row, True)], ast.Subscript(name(queue), ast.Constant(0), ast.Load())),
        ast.Assign([name(group, True)], _call(
            "retire", ast.Subscript(name(row), ast.Constant(0), ast.Load()))),
    ]
    if carried:
        retired.append(ast.Assign(
            [ast.Tuple([name(c, True) for c in carried], ast.Store())],
            ast.Subscript(name(row), ast.Slice(ast.Constant(1), None, None), ast.Load())))
    return [_at(ast.If(test=name(queue), body=[*retired, *(rest or [ast.Pass()])],
                       orelse=ordinary or [ast.Pass()]), tail[0])]


def _name(id_: str, store: bool = False) -> ast.Name:
    return ast.Name(id_, _STORE if store else _LOAD)


_LOAD, _STORE = ast.Load(), ast.Store()  # one instance serves every node, as in `ast.parse`


def _issue_body(rw: _Rewriter, plan: LoopPlan, temps: list[str], carried: list[str],
                group: str, queue: str) -> list[ast.stmt]:
    """One item's issue: its prefix, then each hoisted call, each guarded; a row
    (group, carried values...) appended to `queue` unless the item is dropped. Leaves
    the enclosing loop (``break``) where issuing stops."""
    from ._rewrite import INV, _at, _call

    name = _name

    def append_row(values: list[str]) -> ast.stmt:
        return ast.Expr(ast.Call(
            ast.Attribute(name(queue), "append", ast.Load()),
            [ast.Tuple([name(group), *[name(v) for v in values]], ast.Load())], []))

    def stop_handler() -> ast.ExceptHandler:
        return ast.ExceptHandler(
            ast.Attribute(name(INV), "StopIssue", ast.Load()), None,
            [ast.Expr(_call("issue_stop", name(group))), ast.Break()])

    issue_body: list[ast.stmt] = [ast.Assign([name(group, True)], _call("issue_begin"))]
    prefix = rw.body(plan.prefix)
    if prefix:  # (no prefix: nothing can raise there, the try is left out)
        issue_body.append(ast.Try(
            body=prefix,
            handlers=[stop_handler(), ast.ExceptHandler(
                ast.Name("Exception", ast.Load()), "_wj_e",
                [ast.Expr(_call("issue_failed", name(group), name("_wj_e"))),
                 append_row([]), ast.Break()])],
            orelse=[], finalbody=[]))
    for k, (call, temp) in enumerate(zip(plan.order, temps, strict=True), start=1):
        rw.bind(temp)
        value = rw.expr(call, True)
        unset = [ast.Assign([name(t, True)], ast.Constant(None)) for t in temps[k:]]
        issue_body += [
            ast.Expr(_call("issue_part", name(group), ast.Constant(k))),
            ast.Try(
                body=[_at(ast.Assign([name(temp, True)], value), call)],
                handlers=[stop_handler(), ast.ExceptHandler(
                    ast.Name("Exception", ast.Load()), "_wj_e",
                    [ast.Assign([name(temp, True)],
                                _call("hoist_failed", name(group), name("_wj_e"))),
                     *unset, ast.Expr(_call("issue_commit", name(group))),
                     append_row(carried), ast.Break()])],
                orelse=[], finalbody=[]),
        ]
    issue_body += [ast.Expr(_call("issue_commit", name(group))), append_row(carried)]
    return issue_body



__all__ += ["LoopPlan"]
