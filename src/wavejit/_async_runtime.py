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
import time
from typing import Any

from ._errors import add_note
from ._runtime import _IMMUTABLE, BINARY_OPERATORS, is_shareable
from ._sites import has_effects
from ._traceback import trim

__all__ = ["AsyncPending", "AsyncInvocation"]


class AsyncPending:
    """A deferred awaited call: an asyncio task plus where it came from."""

    __slots__ = ("task", "site", "name", "started", "finished", "thread", "deps")

    def __init__(self, site: Any) -> None:
        self.site = site
        self.name = site.label if site is not None else "gather"
        self.started = 0.0
        self.finished = 0.0
        self.thread = "event loop"
        self.deps: list[AsyncPending] = []
        self.task: asyncio.Future[Any]

    def cancelled(self) -> bool:
        return self.task.cancelled()

    @property
    def _exception(self) -> BaseException | None:
        if not self.task.done() or self.task.cancelled():
            return None
        return self.task.exception()

    async def value(self) -> Any:
        return await asyncio.shield(self.task)


async def _run_deferred(pending: AsyncPending, inv: AsyncInvocation, fn: Any,
                        args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    for dep in pending.deps:
        await asyncio.wait([dep.task])
        if dep._exception is not None:
            raise dep._exception
    # Resolve, but do not wait for the borrowers of the arguments: this very task is
    # one of them (a list or dict display passed to it), so waiting would never end.
    args = tuple([await inv.resolve(a) for a in args])
    kwargs = {k: await inv.resolve(v) for k, v in kwargs.items()}
    pending.started = time.perf_counter()
    try:
        return await fn(*args, **kwargs)
    except BaseException as exc:
        if pending.site is not None:
            add_note(exc, f"wavejit: raised by the deferred call at {pending.site.label}")
        raise
    finally:
        pending.finished = time.perf_counter()


async def _gather_tuple(inv: AsyncInvocation, items: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple([await inv.wait(e) for e in items])


class AsyncInvocation:
    """One call of a jitted ``async def``: its tasks and their bookkeeping."""

    def __init__(self, code: Any) -> None:
        self.code = code
        self.spawned: list[AsyncPending] = []
        self.settled = 0
        self.dirty: dict[int, Any] = {}
        self.owned: dict[int, Any] = {}
        self.borrowed: dict[int, tuple[Any, list[tuple[AsyncPending, bool]]]] = {}
        self.deferred_count = 0
        self.started = time.perf_counter()
        self.done = False
        self.last_commit = 0
        self.delivered: dict[int, BaseException] = {}

    # -- deferral ----------------------------------------------------------------------

    def acall(self, site_index: int, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        """``await fn(...)`` used lazily: start it as a task, return its AsyncPending."""
        site = self.code.sites[site_index]
        decision = site.decide(fn, awaited=True)
        pending = AsyncPending(site)
        if not decision.defer:
            # Stays in program order: it starts only after every earlier task.
            pending.deps = self.spawned[self.settled:]
        touched: list[tuple[Any, bool]] = []
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
            entry = self.borrowed.setdefault(id(obj), (obj, []))
            pending.deps += [p for p, m in entry[1] if m or may_mutate]
            entry[1].append((pending, may_mutate))
        if any(may_mutate for _, may_mutate in touched):
            # Mutates what the caller sees: only after every earlier call succeeded.
            pending.deps += self.spawned[max(self.settled, self.last_commit):]
            self.last_commit = len(self.spawned)
        pending.task = asyncio.ensure_future(_run_deferred(pending, self, fn, args, kwargs))
        self.spawned.append(pending)
        self.deferred_count += 1
        return pending

    # -- resolution ------------------------------------------------------------------

    async def wait(self, x: Any) -> Any:
        try:
            if type(x) is AsyncPending:
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
        self.spawned.append(gather)
        return gather

    # -- glue with effects -------------------------------------------------------------

    async def binop(self, op: str, left: Any, right: Any) -> Any:
        return BINARY_OPERATORS[op](await self.wait(left), await self.wait(right))

    async def mut(self, x: Any) -> Any:
        if self.settled < len(self.spawned) and id(x) not in self.owned:
            await self.barrier()
        if self.borrowed:
            await self._wait_borrowers(x)
        return x

    async def now(self, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        if self.settled < len(self.spawned) and has_effects(fn):
            receiver = getattr(fn, "__self__", None)
            if receiver is None or id(receiver) not in self.owned:
                await self.barrier()
        args = tuple([await self.wait(a) for a in args])
        kwargs = {k: await self.wait(v) for k, v in kwargs.items()}
        return fn(*args, **kwargs)

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
        await self._settle(self.spawned[start:end])
        self.settled = end
        self.borrowed.clear()
        for pending in self.spawned[start:end]:
            if self._undelivered(pending._exception):
                raise pending._exception  # type: ignore[misc]

    async def fail(self, exc: BaseException) -> BaseException:
        start, end = self.settled, len(self.spawned)
        if isinstance(exc, (KeyboardInterrupt, SystemExit, asyncio.CancelledError)):
            return self.abandon(exc, start, end)
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
        traceback = chosen.__traceback__  # _finish may raise it again, internally
        await self._finish()
        return chosen.with_traceback(traceback)

    async def _finish(self) -> None:
        if self.done:
            return
        self.done = True
        for container in list(self.dirty.values()):
            try:
                await self._resolve(container)
            except BaseException:  # noqa: BLE001 - already raised or superseded
                pass
        self.code.finished(self)
