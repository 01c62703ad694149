"""Schedulers: run a `Graph`'s nodes, reaching executors only through ``submit``.

* **sequential** -- the reference: the graph's run order (insertion order when every
  dependency was added first), inline on the calling thread. Ignores `executor`.
* **wave** -- the nodes of a wave run concurrently; the next wave starts when the whole
  wave is done (a barrier per topological level).
* **dataflow** (the default) -- a node is submitted the moment its last input is ready.
* **async** -- on an event loop: coroutine functions run as asyncio tasks, plain
  functions on the executor's threads (the shared pool by default). From synchronous
  code ``run(scheduler="async")`` runs its own loop; from a thread whose event loop is
  running it runs a private loop on a helper thread and blocks until done, like any
  synchronous call (use ``await graph.run_async()`` there instead, so coroutine nodes
  share your loop and it is not blocked). Help-while-waiting: a thread task that no
  worker has started within `_HELP_AFTER` is run inline on the loop, so a saturated
  pool (say one worker, busy with the node that runs this graph) cannot deadlock.

With a cluster executor (a ``wavejit.executors`` one or a ``distributed.Client``) every
scheduler but ``sequential`` hands the graph to the engine instead (`_cluster_graph`).

Under the thread schedulers a coroutine-function node runs to completion on a private
event loop in the thread that runs it, so every scheduler gives the same results.

**Dataflow and wave** share one engine, `_Run`. It is driven by completion callbacks,
not by a loop on the caller's thread: whichever thread finishes a node (a worker, or
the caller) updates the counters and submits the dependents that became ready. The
caller is then free to *help while waiting*: it claims and runs, inline, tasks of its
own run that no worker has started (newest first; workers take the oldest). So a graph
run inside a node finishes even on a one-thread pool whose only worker is that node,
and a long node the caller runs delays nothing else. A thread that finishes a node and
readies dependents submits all but one and runs that one itself (``_continue``, a
trampoline per thread): no submit, wake-up or thread handoff, so a chain runs on one
thread -- only with executors that run calls on local threads anyway (wavejit's own,
``concurrent.futures.ThreadPoolExecutor``). State, guarded by ``lock``:

* ``waiting[i]`` -- inputs of node i not yet finished (dataflow only);
* ``values[i]``, ``ok[i]`` -- its result and whether it succeeded;
* ``futures[i]`` -- its future while submitted and not finished, else None;
* ``active`` -- nodes ready or in flight; the run (or wave) is over when it is 0;
* ``ready``, ``dispatching`` -- a trampoline: one thread at a time submits the ready
  nodes, others just append, so an executor that runs calls inline at submission
  never recurses;
* ``unclaimed`` -- submitted `Task` s the caller may claim; ``sleeping`` / ``wake`` --
  the caller blocks on ``wake`` only when there is nothing to claim;
* ``errors``, ``cutoff`` -- failures, and the run-order position of the earliest;
* ``continuing`` -- per thread, the stash of its `_continue` trampoline.

**Errors** are deterministic: `run()` raises exactly what the sequential scheduler
raises. After a failure at position p, nodes after p that have not started are
cancelled and never start; nodes before p still run (sequential would have run them,
and one may fail first); running nodes are waited for. Then the earliest failure is
raised -- the same object, its traceback intact, with a note naming the node.
Dependents of a failed node never run. Each node runs in its own copy of the caller's
``contextvars`` context.
"""

from __future__ import annotations

import collections
import concurrent.futures
import contextvars
import functools
import queue
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ._cluster import cluster_executor
from ._errors import add_note
from ._executors import Task, resolve_executor
from ._graph import Graph, Results, _Structure

if TYPE_CHECKING:
    import asyncio

__all__ = ["SCHEDULERS", "run_graph", "run_async"]

SCHEDULERS = ("dataflow", "wave", "sequential", "async")

# How long the async scheduler lets a thread task wait for a pool worker before its
# loop runs it inline (help-while-waiting). Short enough that a saturated pool costs
# little; long enough that a healthy pool, which starts tasks in microseconds, is
# never pre-empted.
_HELP_AFTER = 0.005


def run_graph(
    graph: Graph, *, scheduler: str, executor: object, max_workers: int | None
) -> Results:
    """Run `graph` with the named scheduler (see `Graph.run`)."""
    if scheduler not in SCHEDULERS:
        raise ValueError(
            f"unknown scheduler {scheduler!r}: use 'dataflow' (the default), 'wave', "
            "'sequential' or 'async'"
        )
    s = graph._compiled()
    _prepare(s)
    cluster = cluster_executor(executor)
    if cluster is not None and scheduler != "sequential":
        # Dask / Ray: the engine schedules by data flow (see `_cluster_graph`).
        from ._cluster_graph import run_on_cluster

        return Results(graph, s.nodes, run_on_cluster(s, cluster))
    if scheduler == "async":
        return _run_async_blocking(graph, executor, max_workers)
    resolved = resolve_executor(executor, max_workers)
    if scheduler == "sequential":
        values = _run_sequential(s)
    else:
        values = _Run(s, resolved, follow=scheduler == "dataflow").run()
    return Results(graph, s.nodes, values)


def _prepare(s: _Structure) -> None:
    """Decide once per graph version what each node calls."""
    if s.calls is not None:
        return
    import inspect

    s.is_async = [inspect.iscoroutinefunction(n.fn) for n in s.nodes]
    s.calls = [
        functools.partial(_run_coroutine, n.fn) if is_async else n.fn
        for n, is_async in zip(s.nodes, s.is_async, strict=True)
    ]


def _run_coroutine(fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    import asyncio

    return asyncio.run(fn(*args, **kwargs))


def _raise_earliest(s: _Structure, errors: dict[int, BaseException]) -> None:
    i = min(errors, key=s.pos.__getitem__)
    exc = errors[i]
    add_note(exc, f"wavejit: raised by graph node {s.nodes[i].name!r}")
    raise exc


def _run_sequential(s: _Structure) -> list[Any]:
    nodes, calls = s.nodes, s.calls
    assert calls is not None
    context = contextvars.copy_context()
    values: list[Any] = [None] * len(nodes)
    for i in s.order:
        args, kwargs = nodes[i].bind(values)
        try:
            values[i] = context.copy().run(calls[i], *args, **kwargs)
        except BaseException as exc:
            add_note(exc, f"wavejit: raised by graph node {nodes[i].name!r}")
            raise
    return values


class _Run:
    """One run of the dataflow (``follow=True``) or wave scheduler; see the module
    docstring for the state."""

    def __init__(self, s: _Structure, executor: Any, follow: bool) -> None:
        n = len(s.nodes)
        assert s.calls is not None
        self.s = s
        self.calls = s.calls
        self.pos = s.pos
        self.follow = follow
        self.waiting = list(s.indegree)
        self.values: list[Any] = [None] * n
        self.ok = bytearray(n)
        self.futures: list[Any] = [None] * n
        self.errors: dict[int, BaseException] = {}
        self.cutoff = n
        self.active = 0
        self.ready: list[int] = []
        self.dispatching = False
        self.lock = threading.Lock()
        self.executor = executor
        # wavejit's executors take a prepared Task, which the caller can claim.
        self.submit_task: Callable[[Task[Any]], None] | None = getattr(
            executor, "submit_task", None
        )
        # Ready dependents run on the thread that readied them (see `_continue`) when
        # the executor runs calls on local threads anyway; not, say, on Ray.
        self.inline = follow and (
            self.submit_task is not None
            or isinstance(executor, concurrent.futures.ThreadPoolExecutor)
        )
        self.continuing: dict[int, list[int]] = {}  # thread id -> its trampoline stash
        self.unclaimed: list[Task[Any]] = []
        self.sleeping = False
        self.wake: queue.SimpleQueue[None] = queue.SimpleQueue()
        self.context = contextvars.copy_context()

    def run(self) -> list[Any]:
        s = self.s
        if self.follow:
            self._launch(s.roots)
        else:
            ok, deps = self.ok, s.deps
            for wave in s.waves:
                # Barrier: nothing is in flight here, so plain reads are safe.
                batch = [
                    i for i in wave
                    if self.pos[i] < self.cutoff and all(ok[d] for d in deps[i])
                ]
                if batch:
                    self._launch(batch)
        if self.errors:
            _raise_earliest(s, self.errors)
        return self.values

    def _launch(self, batch: list[int]) -> None:
        self.active = len(batch)
        self._start(batch)
        self._wait()

    def _wait(self) -> None:
        """Help until ``active`` is 0: claim our own unstarted tasks, else sleep."""
        unclaimed, lock = self.unclaimed, self.lock
        while True:
            while unclaimed:
                try:
                    task = unclaimed.pop()  # the newest: workers take the oldest
                except IndexError:
                    break
                task.run()  # a no-op if a worker claimed it first
            with lock:
                if not self.active:
                    return
                if unclaimed:
                    continue
                self.sleeping = True
            self.wake.get()

    def _start(self, batch: list[int]) -> None:
        """Submit `batch` (already counted in ``active``), or leave it to the
        thread that is submitting now."""
        with self.lock:
            self.ready += batch
            if self.dispatching:
                return
            self.dispatching = True
        lock, pos = self.lock, self.pos
        while True:
            with lock:
                batch, self.ready = self.ready, []
                if not batch:
                    self.dispatching = False
                    return
                cutoff = self.cutoff
            skipped = 0
            claimable: list[Task[Any]] = []
            for i in batch:
                if pos[i] > cutoff:  # a failure came first: cancelled, never starts
                    skipped += 1
                    continue
                task = self._submit(i)
                if task is not None:
                    claimable.append(task)
            with lock:
                self.active -= skipped
                self.unclaimed += claimable
                if self.sleeping and (claimable or not self.active):
                    self.sleeping = False
                    self.wake.put(None)

    def _submit(self, i: int) -> Task[Any] | None:
        node = self.s.nodes[i]
        args, kwargs = node.bind(self.values)
        context = self.context.copy()
        done = functools.partial(self._done, i)
        if self.submit_task is not None:
            task: Task[Any] = Task(self.calls[i], args, kwargs, context, node.name)
            self.futures[i] = task
            task.add_done_callback(done)
            self.submit_task(task)
            return None if task.done() else task
        try:
            future = self.executor.submit(context.run, self.calls[i], *args, **kwargs)
        except Exception as exc:  # e.g. the executor was shut down
            add_note(exc, f"wavejit: could not submit graph node {node.name!r}")
            self._settle(i, None, exc, False)
            return None
        self.futures[i] = future
        future.add_done_callback(done)
        return None

    def _done(self, i: int, future: Any) -> None:
        if future.cancelled():
            self._settle(i, None, None, True)
            return
        exc = future.exception()
        self._settle(i, None if exc is not None else future.result(), exc, False)

    def _settle(self, i: int, value: Any, exc: BaseException | None,
                cancelled: bool) -> None:
        newly: list[int] = []
        cancel: list[Any] = []
        with self.lock:
            self.futures[i] = None
            if exc is not None:
                self.errors[i] = exc
                p = self.pos[i]
                if p < self.cutoff:
                    self.cutoff = p
                    pos = self.pos
                    cancel = [f for j, f in enumerate(self.futures)
                              if f is not None and pos[j] > p]
            elif not cancelled:
                self.values[i] = value
                self.ok[i] = 1
                if self.follow:
                    waiting, pos, cutoff = self.waiting, self.pos, self.cutoff
                    for d in self.s.dependents[i]:
                        waiting[d] -= 1
                        if not waiting[d] and pos[d] < cutoff:
                            newly.append(d)
            self.active += len(newly) - 1
            if not self.active and self.sleeping:
                self.sleeping = False
                self.wake.put(None)
        for future in cancel:  # outside the lock: cancelling runs our callback
            future.cancel()
        if newly:
            # This thread is free now: it runs one ready dependent itself, after
            # handing the others to the executor -- no submit, no wake-up, no handoff
            # (a chain runs on one thread). Only where the executor runs calls on this
            # process's threads anyway.
            follow = newly.pop() if self.inline else -1
            if newly:
                self._start(newly)
            if follow >= 0:
                self._continue(follow)

    def _continue(self, i: int) -> None:
        """Run node i on this thread; a trampoline, so a chain does not recurse."""
        me = threading.get_ident()
        stash = self.continuing.get(me)
        if stash is not None:  # this thread is in the loop below: it runs i next
            stash.append(i)
            return
        stash = self.continuing[me] = [i]
        nodes, calls, pos = self.s.nodes, self.calls, self.pos
        try:
            while stash:
                j = stash.pop()
                if pos[j] > self.cutoff:  # a failure came first: cancelled
                    self._settle(j, None, None, True)
                    continue
                args, kwargs = nodes[j].bind(self.values)
                try:
                    value = self.context.copy().run(calls[j], *args, **kwargs)
                except BaseException as exc:  # noqa: BLE001 - raised by run() if earliest
                    self._settle(j, None, exc, False)
                else:
                    self._settle(j, value, None, False)
        finally:
            del self.continuing[me]


# -- async ------------------------------------------------------------------------------


async def run_async(
    graph: Graph, *, executor: object = None, max_workers: int | None = None
) -> Results:
    """Run `graph` on the running event loop (see the module docstring)."""
    s = graph._compiled()
    _prepare(s)
    values = await _AsyncRun(s, resolve_executor(executor, max_workers), max_workers).run()
    return Results(graph, s.nodes, values)


def _run_async_blocking(graph: Graph, executor: object, max_workers: int | None) -> Results:
    import asyncio

    def main() -> Results:
        return asyncio.run(run_async(graph, executor=executor, max_workers=max_workers))

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return main()
    # This thread's loop is running and we must block: run a private loop on a helper
    # thread, in a copy of this context (new threads start with an empty one).
    context = contextvars.copy_context()
    box: list[Any] = []

    def target() -> None:
        try:
            box.append(context.run(main))
        except BaseException as exc:  # noqa: BLE001 - re-raised on the caller's thread
            box.append(exc)

    thread = threading.Thread(target=target, name="wavejit-async-run")
    thread.start()
    thread.join()
    if isinstance(box[0], BaseException):
        raise box[0]
    result: Results = box[0]
    return result


class _AsyncRun:
    """One run of the async scheduler. The same state as `_Run`, but every change
    happens on the loop's thread (thread completions arrive via
    ``call_soon_threadsafe``), so there is no lock; ``started[i]`` says whether a
    coroutine node began (only unstarted ones are cancelled after a failure)."""

    def __init__(self, s: _Structure, executor: Any, max_workers: int | None) -> None:
        import asyncio

        n = len(s.nodes)
        self.s = s
        self.executor = executor
        self.loop = asyncio.get_running_loop()
        self.limit = asyncio.Semaphore(max_workers) if max_workers else None
        self.waiting = list(s.indegree)
        self.values: list[Any] = [None] * n
        self.futures: list[Any] = [None] * n
        self.started = bytearray(n)
        self.errors: dict[int, BaseException] = {}
        self.cutoff = n
        self.active = 0
        self.finished: asyncio.Future[None] = self.loop.create_future()
        self.unclaimed: collections.deque[Task[Any]] = collections.deque()
        self.helper: asyncio.Handle | None = None
        self.context = contextvars.copy_context()

    async def run(self) -> list[Any]:
        import asyncio

        roots = self.s.roots
        self.active = len(roots)
        if not roots:
            self.finished.set_result(None)
        for i in roots:
            self._start(i)
        try:
            await asyncio.shield(self.finished)
        except asyncio.CancelledError:
            for future in self.futures:  # our caller gave up: so do we
                if future is not None:
                    future.cancel()
            raise
        finally:
            if self.helper is not None:
                self.helper.cancel()
        if self.errors:
            _raise_earliest(self.s, self.errors)
        return self.values

    def _start(self, i: int) -> None:
        s = self.s
        assert s.is_async is not None and s.calls is not None
        if s.pos[i] > self.cutoff:  # a failure came first: cancelled, never starts
            self._count_down()
            return
        node = s.nodes[i]
        args, kwargs = node.bind(self.values)
        context = self.context.copy()
        future: Any
        if s.is_async[i]:
            coro = self._coroutine(i, node.fn, args, kwargs)
            future = context.run(self.loop.create_task, coro)
            future.add_done_callback(functools.partial(self._task_done, i))
        else:
            submit_task = getattr(self.executor, "submit_task", None)
            if submit_task is not None:
                future = Task(s.calls[i], args, kwargs, context, node.name)
                self.futures[i] = future
                future.add_done_callback(functools.partial(self._thread_done, i))
                submit_task(future)
                if not future.done():
                    self.unclaimed.append(future)
                    if self.helper is None:
                        self.helper = self.loop.call_later(_HELP_AFTER, self._help)
            else:
                future = self.executor.submit(context.run, s.calls[i], *args, **kwargs)
                future.add_done_callback(functools.partial(self._thread_done, i))
        if not future.done():
            self.futures[i] = future

    async def _coroutine(self, i: int, fn: Callable[..., Any], args: tuple[Any, ...],
                         kwargs: dict[str, Any]) -> Any:
        self.started[i] = 1  # from here on, a failure elsewhere lets it finish
        if self.limit is None:
            return await fn(*args, **kwargs)
        async with self.limit:
            return await fn(*args, **kwargs)

    def _help(self) -> None:
        """Run inline, on the loop, the oldest thread task no worker started within
        `_HELP_AFTER`: the pool is saturated (maybe by this run's own callers), and
        waiting longer could deadlock."""
        self.helper = None
        unclaimed = self.unclaimed
        while unclaimed and (unclaimed[0].started or unclaimed[0].done()):
            unclaimed.popleft()  # a worker has it, or it was cancelled
        if not unclaimed:
            return
        if unclaimed[0].run():
            unclaimed.popleft()
            # The pool is evidently busy: help again as soon as the loop has handled
            # what is ready (this task's completion, for one).
            self.helper = self.loop.call_soon(self._help)
        else:
            self.helper = self.loop.call_later(_HELP_AFTER, self._help)

    def _thread_done(self, i: int, future: Any) -> None:
        self.loop.call_soon_threadsafe(self._task_done, i, future)

    def _task_done(self, i: int, future: asyncio.Future[Any]) -> None:
        value: Any = None
        exc: BaseException | None = None
        # Cancelled by us after a failure, or (an error like any other) by the node itself.
        cancelled = future.cancelled() and self.s.pos[i] > self.cutoff
        if not cancelled:
            try:
                value = future.result()
            except BaseException as e:  # noqa: BLE001 - raised by run() if earliest
                exc = e
        self.futures[i] = None
        pos = self.s.pos
        if exc is not None:
            self.errors[i] = exc
            if pos[i] < self.cutoff:
                self.cutoff = pos[i]
                for j, f in enumerate(self.futures):
                    if f is not None and pos[j] > pos[i] and not self.started[j]:
                        f.cancel()
        elif not cancelled:
            self.values[i] = value
            for d in self.s.dependents[i]:
                self.waiting[d] -= 1
                if not self.waiting[d] and pos[d] < self.cutoff:
                    self.active += 1
                    # Start it on the next turn: completions already queued (a
                    # failure, with an inline executor) are handled first.
                    self.loop.call_soon(self._start, d)
        self._count_down()

    def _count_down(self) -> None:
        self.active -= 1
        if not self.active and not self.finished.done():
            self.finished.set_result(None)
