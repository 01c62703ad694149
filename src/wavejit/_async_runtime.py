"""The runtime of a jitted ``async def``: awaited calls become tasks, awaited at first use.

The rewrite of an ``async def`` differs from a plain one in two ways (see `_rewrite`):
an ``await f(...)`` whose value is used lazily becomes ``_wj_inv.acall(SITE, f, ...)``,
which starts ``f(...)`` as an asyncio task and returns an `AsyncPending` at once; and
every hook that may wait (``wait``, ``barrier``, ``ret``, ``fail``, ``mut``, ``now``,
``append``, ``setitem``...) is a coroutine, awaited in place, so waiting yields to the
event loop instead of blocking it.

The rules are the synchronous runtime's (`_runtime`): a task waits for the pending
values among its arguments (data flow); tasks sharing a mutable argument that either
may mutate run in program order; the earliest failure in program order is raised;
every task has finished before the invocation returns or raises. Plain (non-awaited)
calls inside an ``async def`` are never deferred: they run inline, as written.
"""

from __future__ import annotations

import asyncio
import contextlib
import operator
import sys
import time
import types
from typing import Any

from . import _limits
from ._deep import bind_twin
from ._effects import external_effects as _external_effects
from ._effects import external_reads as _external_reads
from ._errors import add_note, chain_to_handled, reraise
from ._issue import IssueGroup, IssueHooks, StopIssue, materialized_items
from ._nested import nested_items, tail_items
from ._output import Slot
from ._output import begin as _begin_output
from ._output import end as _end_output
from ._output import sink as _output_sink
from ._runtime import _IMMUTABLE, BINARY_OPERATORS, is_shareable, unpacker_of
from ._sites import has_effects
from ._stalls import waiting
from ._traceback import trim

__all__ = ["AsyncPending", "AsyncInvocation"]


class AsyncPending:
    """A deferred awaited call: an asyncio task plus where it came from."""

    __slots__ = ("task", "site", "name", "started", "finished", "thread", "deps", "group",
                 "slot", "handled")

    def __init__(self, site: Any) -> None:
        self.site = site
        self.group: IssueGroup | None = None  # issued ahead, not yet retired
        self.slot: Any = None  # where its output goes (see `_output`)
        self.name = site.label if site is not None else "gather"
        self.started = 0.0
        self.finished = 0.0
        self.thread = "event loop"
        self.deps: list[AsyncPending] = []
        self.task: asyncio.Future[Any]
        # The exception the caller was handling when it made the call (a coroutine's
        # own, as `sys.exc_info` sees it): what the call raises is chained to it, as
        # in plain Python (a task starts with none).
        self.handled = sys.exc_info()[1]

    def cancelled(self) -> bool:
        return self.task.cancelled()

    @property
    def _exception(self) -> BaseException | None:
        if not self.task.done() or self.task.cancelled():
            return None
        return self.task.exception()

    async def value(self) -> Any:
        """The task's result, awaited without cancelling it if the caller is cancelled;
        its exception raised with its ``__context__`` as the call left it (`reraise`)."""
        task = self.task
        if not task.done():
            await asyncio.wait([task])
        exc = None if task.cancelled() else task.exception()
        if exc is not None:
            reraise(exc)
        return task.result()


async def _run_deferred(pending: AsyncPending, inv: AsyncInvocation, fn: Any,
                        args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    slot = pending.slot
    if slot is None:
        return await _run_body(pending, inv, fn, args, kwargs)
    _output_sink.set(slot)  # this task's own context: its output goes to its slot
    try:
        return await _run_body(pending, inv, fn, args, kwargs)
    finally:
        slot.seq.done(slot)


async def _run_body(pending: AsyncPending, inv: AsyncInvocation, fn: Any,
                    args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    for dep in pending.deps:
        await asyncio.wait([dep.task])
        if dep._exception is not None:
            reraise(dep._exception)
    # Resolve, but do not wait for the borrowers of the arguments: this very task is
    # one of them (a list or dict display passed to it), so waiting would never end.
    args = tuple([await inv.resolve(a) for a in args])
    kwargs = {k: await inv.resolve(v) for k, v in kwargs.items()}
    pending.started = time.perf_counter()
    try:
        # Provider limits, re-issue on 429, @wavejit.io options, progress (_limits).
        return await _limits.arun(fn, args, kwargs, pending.site is not None, inv)
    except BaseException as exc:
        chain_to_handled(exc, pending.handled)
        if pending.site is not None:
            add_note(exc, f"wavejit: raised by the deferred call at {pending.site.label}")
        raise
    finally:
        pending.finished = time.perf_counter()


async def _gather_tuple(inv: AsyncInvocation, items: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple([await inv.wait(e) for e in items])


async def _glue(pending: AsyncPending, inv: AsyncInvocation, glue: Any,
                args: tuple[Any, ...]) -> Any:
    values = [await inv.resolve(a) for a in args]
    try:
        return glue(*values)
    except BaseException as exc:
        chain_to_handled(exc, pending.handled)
        raise


class AsyncInvocation(IssueHooks):
    """One call of a jitted ``async def``: its tasks and their bookkeeping."""

    def __init__(self, code: Any, sequential: bool = False) -> None:
        self.code = code
        # jit(executor="sequential") or WAVEJIT_EXECUTOR=sequential: every awaited call
        # is awaited in place, in program order (the rewrite is kept).
        self.sequential = sequential
        self.spawned: list[AsyncPending] = []
        self.settled = 0
        self.dirty: dict[int, Any] = {}
        self.owned: dict[int, Any] = {}
        self.borrowed: dict[int, tuple[Any, list[tuple[AsyncPending, bool]]]] = {}
        self.deferred_count = 0
        self.started = time.perf_counter()
        self.waits: list[tuple[str, AsyncPending, int, float]] = []  # (see `_stalls`)
        self.done = False
        self.last_commit = 0
        self.outside: list[AsyncPending] = []  # tasks writing outside (see _runtime)
        self.delivered: dict[int, BaseException] = {}
        self.issuing: IssueGroup | None = None  # the loop item being issued ahead
        self.unlinked: list[IssueGroup] = []  # items issued ahead, not all retired
        self.wasted = 0
        self.output: Any = None  # the Sequencer ordering output, from the first task
        self._output_token: Any = None

    StopIssue = StopIssue

    # -- deferral ----------------------------------------------------------------------

    async def acall(self, site_index: int, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """``await fn(...)`` used lazily: start it as a task and return its AsyncPending,
        or (a callee that stays in program order) await it here."""
        site = self.code.sites[site_index]
        decision = site.decide(fn, awaited=True)
        if decision.info.assumed and decision.info.passes_assumed(args, kwargs):
            decision = decision.without_assumptions()
        if decision.twin is not None:  # a helper of the program: its jitted twin
            fn = bind_twin(decision.twin, fn)
            site.twin_calls += 1
        if self.issuing is not None and (not decision.defer or decision.effects and not (
            _untouchable(self, fn, args, kwargs)
        ) or _external_effects(fn) is not None):
            raise StopIssue  # it must run in order: the rest of the loop runs in order
        if not decision.defer or self.sequential:
            if _limits.capped:  # a provider limit is set: calls kept in place take slots
                args, kwargs = await self._ready(fn, args, kwargs)
                return await _limits.arun_inline(fn, args, kwargs)
            return await (await self.now(fn, *args, **kwargs))  # the coroutine, awaited
        pending = AsyncPending(site)
        touched: list[tuple[Any, bool]] = []
        receiver = getattr(fn, "__self__", None)
        if receiver is not None and not isinstance(receiver, types.ModuleType) and not (
            decision.safe_receiver or is_shareable(receiver, self.code.is_safe_type)
        ):  # `await bot.chat(x)`: a method that may change its object, in order
            touched.append((receiver, decision.mutates_self))
        position = -1
        for a in (*args, *kwargs.values()):
            position += 1
            if type(a) in _IMMUTABLE or type(a) is AsyncPending:
                continue
            if self.owned:
                self.owned.pop(id(a), None)
            if not is_shareable(a, self.code.is_safe_type):
                touched.append((a, decision.mutates_arg(position, args, kwargs)))
        for obj, may_mutate in touched:
            entry = self.borrowed.get(id(obj))
            if entry is not None:
                pending.deps += [p for p, m in entry[1] if m or may_mutate]
            if self.issuing is not None:  # registered when the item is retired
                self.issuing.borrows.append((obj, pending, may_mutate))
            elif entry is None:
                self.borrowed[id(obj)] = (obj, [(pending, may_mutate)])
            else:
                entry[1].append((pending, may_mutate))
        if self.outside:
            pending.deps += self.writers_before(fn)
        writes_outside = _external_effects(fn) is not None  # a file, a database
        if writes_outside or any(may_mutate for _, may_mutate in touched):
            # Mutates what the caller sees: only after every earlier call succeeded.
            pending.deps += self.spawned[max(self.settled, self.last_commit):]
            self.last_commit = len(self.spawned)
        if writes_outside:
            self.outside.append(pending)
        self._give_slot(pending)
        pending.task = asyncio.ensure_future(_run_deferred(pending, self, fn, args, kwargs))
        self._spawn(pending)
        self.deferred_count += 1
        return pending

    async def later(self, glue: Any, *args: Any) -> Any:
        """Glue over values that may be pending (see `_runtime.Invocation.later`): a task
        computing it once they have arrived, or the value now."""
        waiting = [a for a in args if type(a) is AsyncPending and not a.task.done()]
        if not waiting or not all(type(a) is AsyncPending or type(a) in _IMMUTABLE
                                  for a in args):
            return glue(*[await self.wait(a) for a in args])
        pending = AsyncPending(None)
        pending.name = "glue"
        pending.task = asyncio.ensure_future(_glue(pending, self, glue, args))
        for a in waiting:
            if self.issuing is not None:
                self.issuing.borrows.append((a, pending, False))
            else:
                self.borrowed.setdefault(id(a), (a, []))[1].append((pending, False))
        self._spawn(pending)
        return pending

    async def unpack(self, value: Any, count: int) -> tuple[Any, ...]:
        """As `Invocation.unpack`."""
        unpacker = unpacker_of(count)
        if type(value) is not AsyncPending or value.task.done():
            return unpacker(await self.wait(value) if type(value) is AsyncPending else value)
        whole = await self.later(unpacker, value)
        return tuple([await self.later(operator.itemgetter(i), whole) for i in range(count)])

    def _give_slot(self, pending: AsyncPending) -> None:
        seq = self.output
        if seq is None:
            seq, self._output_token = _begin_output()
            self.output = seq
        pending.slot = Slot(seq)
        if self.issuing is None:
            seq.link(pending.slot)

    def _spawn(self, pending: AsyncPending) -> None:
        group = self.issuing
        if group is None:
            self.spawned.append(pending)
        else:
            pending.group = group
            group.add(pending)

    # -- loops issued ahead (see `_issue`, `_runtime`) --------------------------------
    nested = staticmethod(nested_items)  # nested loops as one loop over pairs
    tail_items = staticmethod(tail_items)  # the statements after a loop issued ahead

    async def loop_items(self, wrapper: Any, args: tuple[Any, ...], kwargs: dict[str, Any],
                         distinct: bool) -> tuple[list[Any] | None, Any]:
        items = materialized_items(wrapper, args, kwargs, distinct)
        if items is not None:
            return items, None
        if wrapper is None:
            return None, args[0]
        iterable = await self.now(wrapper, *args, **kwargs)
        items = materialized_items(None, (iterable,), {}, distinct)
        return (items, None) if items is not None else (None, iterable)

    def issue_begin(self) -> IssueGroup:
        group = IssueGroup()
        self.issuing = group
        self.unlinked.append(group)
        return group

    def issue_part(self, group: IssueGroup, index: int) -> None:
        group.start_part(index)

    def issue_commit(self, group: IssueGroup) -> None:
        self.issuing = None
        group.commit()

    def issue_stop(self, group: IssueGroup) -> None:
        """Drop the item: its tasks have not run (the loop has not been yielded to)."""
        self.issuing = None
        group.commit()
        for pending in group.pendings():
            pending.task.cancel()
        self.unlinked.remove(group)

    def issue_end(self, items: list[Any], issued: list[Any], progress: Any) -> Any:
        self.issuing = None
        if issued and issued[-1][0].failure is not None:
            return []
        return items[len(issued):]

    def retire(self, group: IssueGroup, progress: Any = None) -> IssueGroup:
        self._link(group, 0)
        if group.failure is not None and not group.hoist_failure:
            raise group.failure
        return group

    async def settle_row(self, group: IssueGroup, values: tuple[Any, ...], count: int
                         ) -> tuple[Any, ...]:
        """As `Invocation.settle_row`."""
        for pending in group.parts[0] if group.parts else ():
            if type(pending) is AsyncPending:
                await self.wait(pending)
        return tuple([await self.wait(v) if i < count and type(v) is AsyncPending else v
                      for i, v in enumerate(values)])

    def _link(self, group: IssueGroup, index: int) -> None:
        if index >= len(group.parts):
            return
        part = group.parts[index]
        ids = {id(p) for p in part} if group.borrows else ()
        for obj, pending, may_mutate in group.borrows:
            if id(pending) in ids:
                self.borrowed.setdefault(id(obj), (obj, []))[1].append((pending, may_mutate))
        for pending in part:
            pending.group = None
            self.spawned.append(pending)
            if pending.slot is not None:
                pending.slot.seq.link(pending.slot)

    def cancel_unlinked(self) -> None:
        for group in self.unlinked:
            for pending in group.pendings():
                if pending.group is group:
                    pending.task.cancel()

    async def _drop_unlinked(self, wait: bool = True) -> None:
        """Tasks issued ahead for items never retired: cancelled (plain Python never made
        those calls); their failures are not reported."""
        tasks = [p.task for g in self.unlinked for p in g.pendings() if p.group is g]
        self.unlinked.clear()
        for task in tasks:
            if not task.done():
                task.cancel()
        if tasks and wait:
            await asyncio.wait(tasks)
            for task in tasks:
                if not task.cancelled():
                    task.exception()  # retrieved: not logged
                    self.wasted += 1

    # -- resolution ------------------------------------------------------------------

    def _ready_or_stop(self, x: Any) -> None:
        if type(x) is AsyncPending:
            if not x.task.done():
                raise StopIssue
            if x.task.cancelled() or x.task.exception() is not None:
                return
            x = x.task.result()
        entry = self.borrowed.get(id(x)) if self.borrowed else None
        if entry is not None and not all(p.task.done() for p, _ in entry[1]):
            raise StopIssue
        if self.dirty and id(x) in self.dirty:
            for e in (x.values() if type(x) is dict else x):
                self._ready_or_stop(e)

    async def wait(self, x: Any) -> Any:
        if self.issuing is not None:
            self._ready_or_stop(x)
        try:
            if type(x) is AsyncPending:
                if not x.task.done():  # it blocks: note where (see `_stalls`)
                    with waiting(self, x):
                        x = await x.value()
                else:
                    x = await x.value()
            if self.owned:
                self.owned.pop(id(x), None)
            if self.borrowed:
                await self._wait_borrowers(x)
            if self.dirty and id(x) in self.dirty:
                await self._resolve(x)
            return x
        except Exception as exc:
            self.delivered[id(exc)] = exc  # raised once; barriers do not raise it again
            raise

    async def resolve(self, x: Any) -> Any:
        """The deep value of `x` (its Pendings awaited), without waiting for borrowers."""
        if type(x) is AsyncPending:
            return await x.value()
        if self.dirty and id(x) in self.dirty:
            await self._resolve(x)
        return x

    async def shallow(self, x: Any) -> Any:
        if self.issuing is not None:
            self._ready_or_stop(x)
        try:
            if type(x) is AsyncPending:
                x = await x.value()
            if self.borrowed:
                await self._wait_borrowers(x)
            return x
        except Exception as exc:
            self.delivered[id(exc)] = exc
            raise

    def _undelivered(self, exc: BaseException | None) -> bool:
        return exc is not None and id(exc) not in self.delivered

    async def _wait_borrowers(self, x: Any) -> None:
        entry = self.borrowed.pop(id(x), None)
        if entry is not None:
            await asyncio.wait([p.task for p, _ in entry[1]])

    async def _resolve(self, x: Any) -> None:
        self.dirty.pop(id(x), None)
        items = x.items() if type(x) is dict else enumerate(x)
        for key, e in list(items):
            if type(e) is AsyncPending:
                x[key] = await e.value()
            elif self.dirty and id(e) in self.dirty:
                await self._resolve(e)

    async def _resolve_quietly(self, x: Any) -> None:
        """`_resolve` for `_finish`: a failed or cancelled call's Pending stays where it
        is, its exception not raised (see `Invocation._resolve_quietly`)."""
        if self.dirty.pop(id(x), None) is None:
            return
        for key, e in list(x.items()) if type(x) is dict else list(enumerate(x)):
            if type(e) is AsyncPending:
                if not e.task.done():
                    await asyncio.wait([e.task])  # (returns, never raises)
                if not e.task.cancelled() and e.task.exception() is None:
                    x[key] = e.task.result()
            elif self.dirty and id(e) in self.dirty:
                await self._resolve_quietly(e)

    def _holds_pending(self, x: Any) -> bool:
        if self.owned:
            self.owned.pop(id(x), None)
        return type(x) is AsyncPending or (bool(self.dirty) and id(x) in self.dirty)

    def new_list(self, items: list[Any]) -> list[Any]:
        if any([self._holds_pending(e) for e in items]):
            self.dirty[id(items)] = items
        self.owned[id(items)] = items
        return items

    def new_dict(self, items: dict[Any, Any]) -> dict[Any, Any]:
        if any([self._holds_pending(e) for e in items.values()]):
            self.dirty[id(items)] = items
        self.owned[id(items)] = items
        return items

    def new_tuple(self, *items: Any) -> Any:
        if not any(self._holds_pending(e) for e in items):
            return items
        gather = AsyncPending(None)
        gather.task = asyncio.ensure_future(_gather_tuple(self, items))
        self._spawn(gather)
        return gather

    # -- glue with effects -------------------------------------------------------------

    async def binop(self, op: str, left: Any, right: Any) -> Any:
        return BINARY_OPERATORS[op](await self.wait(left), await self.wait(right))

    async def mut(self, x: Any) -> Any:
        if self.issuing is not None:
            if id(x) not in self.owned:
                raise StopIssue
            self._ready_or_stop(x)
        if self.settled < len(self.spawned) and id(x) not in self.owned:
            await self.barrier()
        if self.borrowed:
            await self._wait_borrowers(x)
        return x

    async def now(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        args, kwargs = await self._ready(fn, args, kwargs)
        return fn(*args, **kwargs)

    async def _ready(self, fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]
                     ) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """Before a call made now: earlier calls committed if it has effects; its
        arguments resolved."""
        if self.issuing is not None and has_effects(fn):
            raise StopIssue
        if self.settled < len(self.spawned) and has_effects(fn):
            receiver = getattr(fn, "__self__", None)
            if receiver is None or id(receiver) not in self.owned:
                await self.barrier()
        if self.outside:
            for writer in self.writers_before(fn):
                await asyncio.wait([writer.task])
        return (tuple([await self.wait(a) for a in args]),
                {k: await self.wait(v) for k, v in kwargs.items()})

    def writers_before(self, fn: Any) -> list[AsyncPending]:
        """As `Invocation.writers_before`: unfinished tasks writing outside the process,
        if `fn` may read what they wrote."""
        writers = [p for p in self.outside if not p.task.done()]
        self.outside = writers
        if not writers or _external_reads(fn) is None:
            return []
        return writers

    async def _store(self, target: Any, value: Any, store: Any, kind: type) -> None:
        if type(target) is kind and id(target) in self.owned and self._holds_pending(value):
            store(value)
            self.dirty[id(target)] = target
            return
        await self.mut(target)
        store(await self.wait(value))

    async def append(self, method: Any, value: Any) -> None:
        target = getattr(method, "__self__", None)
        await self._store(target, value, method, list)

    async def extend(self, method: Any, values: Any) -> None:
        await self.mut(getattr(method, "__self__", None))
        method(await self.wait(values))

    async def insert(self, method: Any, index: Any, value: Any) -> None:
        target = getattr(method, "__self__", None)
        await self._store(target, value, lambda v: method(index, v), list)

    async def setitem(self, value: Any, target: Any, key: Any) -> None:
        def store(v: Any) -> None:
            target[key] = v
        await self._store(target, value, store, type(target) if type(target) in (
            list, dict) else list)

    # -- blocks and exits --------------------------------------------------------------

    async def _settle(self, pendings: list[AsyncPending]) -> None:
        if pendings:
            await asyncio.wait([p.task for p in pendings])
            for p in pendings:
                if not p.task.cancelled():
                    p.task.exception()  # retrieved: superseded failures are not logged

    async def barrier(self) -> None:
        start, end = self.settled, len(self.spawned)
        if start == end:
            return
        blocking = next((p for p in self.spawned[start:end] if p.site and not p.task.done()),
                        None)
        with waiting(self, blocking) if blocking is not None else contextlib.nullcontext():
            await self._settle(self.spawned[start:end])
        self.settled = end
        self.borrowed.clear()
        for pending in self.spawned[start:end]:
            if self._undelivered(pending._exception):
                reraise(pending._exception)  # type: ignore[arg-type]

    async def fail(self, exc: BaseException) -> BaseException:
        start, end = self.settled, len(self.spawned)
        self.issuing = None
        if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
            await self._drop_unlinked(wait=False)
            return self.abandon(exc, start, end)
        if self.unlinked:
            await self._drop_unlinked()
        await self._settle(self.spawned[start:end])  # nothing outlives the block
        self.settled = end
        self.borrowed.clear()
        failing_at = end
        for i in range(start, end):
            if self.spawned[i]._exception is exc:
                failing_at = i
                break
        for i in range(start, min(failing_at + 1, end)):
            earlier = self.spawned[i]._exception
            if earlier is exc or self._undelivered(earlier):
                return trim(earlier)  # type: ignore[return-value]
        return trim(exc)

    async def ret(self, value: Any) -> Any:
        value = await self.wait(value)
        await self.barrier()
        await self._finish()
        return value

    def abandon(self, exc: BaseException, start: int, end: int) -> BaseException:
        """An interrupt, or this task being cancelled (``asyncio.timeout``, ``wait_for``,
        Ctrl-C under ``asyncio.run``): cancel every outstanding deferred task and wait
        for none; `exc` goes on at once. Unlike threads, tasks can be cancelled."""
        for pending in self.spawned[start:end]:
            pending.task.cancel()
        self.settled = end
        self.borrowed.clear()
        self.dirty.clear()  # never resolved: that would await the cancelled tasks
        return exc

    async def fail_exit(self, exc: BaseException) -> BaseException:
        chosen = await self.fail(exc)
        # _finish may raise it again internally, inside the function's handler: that
        # would chain the handled exception to it, and extend its traceback.
        traceback, context = chosen.__traceback__, chosen.__context__
        await self._finish()
        chosen.__context__ = context
        return chosen.with_traceback(traceback)

    async def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        if self.unlinked:
            await self._drop_unlinked()
        for container in list(self.dirty.values()):
            await self._resolve_quietly(container)
        if self.output is not None:
            _end_output(self.output, self._output_token)
        self.code.finished(self)


def _untouchable(inv: AsyncInvocation, fn: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> bool:
    """Are the call's receiver and arguments all immutable or shareable clients?"""
    safe = inv.code.is_safe_type
    receiver = getattr(fn, "__self__", None)
    if receiver is not None and not isinstance(receiver, types.ModuleType) and not (
        is_shareable(receiver, safe)
    ):
        return False
    return all(is_shareable(a, safe) for a in (*args, *kwargs.values()))


# `op_Add` & co.: the rewrite's glue for an operator over two names (`_rewrite.later`).
for _name, _fn in BINARY_OPERATORS.items():
    setattr(AsyncInvocation, "op_" + _name, staticmethod(_fn))
