"""``jitted.map(*iterables, ...)``: one invocation per item, concurrently, in order.

The result is what ``[fn(*args) for args in zip(*iterables)]`` returns, or the
exception it raises: that of the earliest failing item in input order (the same
object on threads; on a cluster a copy of the same type and args, with the worker's
traceback as a note). Each invocation's own deferred calls overlap inside it.

Algorithm: a window over the zipped iterables (`_Window`). Items are pulled lazily,
at most `max_concurrency` in flight: an item starts when one finishes, so a
generator of a million items is never held in memory (only the results are). When
item ``k`` fails, no item after ``k`` is pulled any more, items after ``k`` that have
not started are cancelled, and items before ``k`` still run (one of them may fail
first, and the plain loop would have run them). The call returns only once every
started item has finished: nothing of the map runs after it. An exception from the
iterables themselves counts as a failure at the position where the plain loop would
have hit it, and is raised even with ``return_exceptions=True``.

Where items run (`_backend`):

* ``None`` / ``"threads"`` -- the shared thread pool (`shared_executor`). The waiting
  caller helps: an item no worker has started for `_HELP_AFTER` (the pool is
  saturated, say by this map's own caller) runs on the caller's thread. Under
  ``WAVEJIT_EXECUTOR=sequential`` every local executor runs items inline, in order.
* ``"sequential"`` -- inline, one after another: the plain loop.
* a `DaskExecutor`, a ``distributed.Client``, or a `RayExecutor` -- whole invocations
  on workers (`wavejit._cluster` ships the function and arguments). Items there
  are running as soon as submitted (the window does not exceed the cluster's slots by
  default), so none is cancelled: after a failure, the others are waited for.
* any other object with ``submit`` (a ``concurrent.futures.Executor``).

An ``async def`` jitted function's ``map`` is a coroutine: ``await fn.map(items)``.
Without an executor its invocations are tasks on the running loop (sharing it, as
``asyncio.gather`` would, but bounded and ordered); with one, each invocation runs
to completion on its own loop where the executor runs it.
"""

from __future__ import annotations

import importlib
import inspect
import queue
import sys
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ._cluster import cluster_executor, pack_args, ship, unpack_outcome
from ._errors import add_note
from ._executors import SequentialExecutor, Task, resolve_executor

__all__ = ["map_jitted", "DEFAULT_CONCURRENCY"]

# Invocations in flight by default on threads: each waits on I/O, and each of its
# deferred calls takes a thread of its own.
DEFAULT_CONCURRENCY = 32

# How long a submitted item may wait for a pool worker before the waiting caller runs
# it itself. A healthy pool starts a task within microseconds.
_HELP_AFTER = 0.02

_OK, _FAILED, _CANCELLED = range(3)


class _Backend:
    """Where items run: ``start`` returns a future; ``outcome`` reads a settled one."""

    capacity = DEFAULT_CONCURRENCY
    # Whether started futures may be cancelled (only those that have not started).
    cancels = True

    def __init__(self, fn: Callable[..., Any], executor: Any) -> None:
        self.fn = fn
        self.executor = executor

    def start(self, index: int, args: tuple[Any, ...]) -> Any:
        return self.executor.submit(self.fn, *args)

    def outcome(self, future: Any) -> tuple[int, Any]:
        if future.cancelled():
            return _CANCELLED, None
        exc = future.exception()
        if exc is not None:
            return _FAILED, exc
        return _OK, future.result()


class _Cluster(_Backend):
    cancels = False

    def __init__(self, fn: Callable[..., Any], executor: Any) -> None:
        super().__init__(fn, executor)
        self.blob = ship(fn, "jitted function")
        self.capacity = executor.capacity

    def start(self, index: int, args: tuple[Any, ...]) -> Any:
        return self.executor.submit_item(self.blob, index,
                                         pack_args(args, {}, f"item {index}"))

    def outcome(self, future: Any) -> tuple[int, Any]:
        exc = future.exception()
        if exc is not None:  # the engine failed (a dead worker): a WavejitError
            return _FAILED, exc
        ok, value = unpack_outcome(future.result())
        return (_OK if ok else _FAILED), value


def _backend(fn: Callable[..., Any], executor: object) -> _Backend:
    cluster = cluster_executor(executor)
    if cluster is not None:
        return _Cluster(fn, cluster)
    if executor not in (None, "threads", "sequential") and (
            isinstance(executor, str) or not callable(getattr(executor, "submit", None))):
        raise ValueError(
            f"map(executor={executor!r}): use None (the local thread pool), 'threads', "
            "'sequential', a DaskExecutor or distributed.Client, a RayExecutor, or a "
            "concurrent.futures.Executor"
        )
    # The shared pool, inline, or the user's executor -- or inline for every local
    # one under WAVEJIT_EXECUTOR=sequential ("is it the concurrency?").
    return _Backend(fn, resolve_executor(executor))


class _Progress:
    """A tqdm bar when tqdm is installed; else a counter line on stderr."""

    def __init__(self, enabled: bool, total: int | None, label: str) -> None:
        self.bar: Any = None
        self.count = 0
        self.total = total
        self.label = label
        self.enabled = enabled
        if enabled:
            try:
                tqdm = importlib.import_module("tqdm.auto").tqdm
            except ImportError:
                return
            self.bar = tqdm(total=total, desc=label, unit="item")

    def update(self) -> None:
        self.count += 1
        if self.bar is not None:
            self.bar.update(1)
        elif self.enabled:
            of = f"/{self.total}" if self.total is not None else ""
            sys.stderr.write(f"\r{self.label}: {self.count}{of}")

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
        elif self.enabled and self.count:
            sys.stderr.write("\n")


class _Window:
    """The ordered window over the items (see the module docstring).

    ``results[i]`` fills as items settle; ``in_flight`` maps index -> future;
    ``stop`` is the index of the earliest failure seen (items at or after it are not
    pulled, and their results are not needed), ``error`` its exception.
    """

    def __init__(self, iterables: tuple[Iterable[Any], ...], limit: int,
                 return_exceptions: bool, progress: _Progress) -> None:
        self.source: Iterator[tuple[Any, ...]] = zip(*iterables, strict=False)  # lazy, like map()
        self.limit = limit
        self.return_exceptions = return_exceptions
        self.progress = progress
        self.results: list[Any] = []
        self.in_flight: dict[int, Any] = {}
        self.exhausted = False
        self.stop = sys.maxsize
        self.error: BaseException | None = None

    def pull(self) -> tuple[int, tuple[Any, ...]] | None:
        """The next item to start, or None (window full, no more items, a failure)."""
        index = len(self.results)
        if self.exhausted or len(self.in_flight) >= self.limit or index >= self.stop:
            return None
        try:
            args = next(self.source)
        except StopIteration:
            self.exhausted = True
            return None
        except BaseException as exc:  # noqa: BLE001 - the plain loop raises it here
            self.exhausted = True
            self._fail(index, exc)
            return None
        self.results.append(None)
        return index, args

    def _fail(self, index: int, exc: BaseException) -> list[int]:
        if index >= self.stop:
            return []
        self.stop, self.error = index, exc
        return [j for j in self.in_flight if j > index]

    def settle(self, index: int, state: int, value: Any) -> list[int]:
        """Record item `index`'s outcome; the in-flight items to cancel now."""
        self.in_flight.pop(index, None)
        if state == _CANCELLED:
            return []
        self.progress.update()
        if index > self.stop:
            return []  # after the earliest failure: the plain loop never got here
        if state == _OK:
            self.results[index] = value
            return []
        add_note(value, f"wavejit: raised by item {index} of map()")
        if self.return_exceptions:
            self.results[index] = value
            return []
        return self._fail(index, value)

    def finish(self) -> list[Any]:
        if self.error is not None:
            raise self.error
        return self.results


def _total(iterables: tuple[Iterable[Any], ...]) -> int | None:
    try:
        return min(len(it) for it in iterables)  # type: ignore[arg-type]
    except TypeError:
        return None


def map_jitted(fn: Any, iterables: tuple[Iterable[Any], ...], *, executor: object,
               max_concurrency: int | None, return_exceptions: bool,
               progress: bool) -> Any:
    """See ``JitFunction.map``."""
    if not iterables:
        raise TypeError("map() needs at least one iterable of arguments")
    if max_concurrency is not None and max_concurrency < 1:
        raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
    label = getattr(fn, "__qualname__", "map")
    is_async = inspect.iscoroutinefunction(getattr(fn, "__wrapped__", fn))
    backend: _Backend | None = None
    if is_async and (executor is None or _inline(executor)):
        # On the caller's loop (an inline executor would nest asyncio.run in it).
        limit = max_concurrency or DEFAULT_CONCURRENCY
        if _inline(executor):
            limit = 1  # "sequential", or WAVEJIT_EXECUTOR=sequential: one at a time
    else:
        local_async = is_async and cluster_executor(executor) is None
        backend = _backend(_run_coroutine(fn) if local_async else fn, executor)
        limit = max_concurrency or backend.capacity
    window = _Window(iterables, limit, return_exceptions,
                     _Progress(progress, _total(iterables), label))
    if is_async:
        return _map_async(fn, backend, window)
    assert backend is not None
    try:
        _drive(backend, window)
    finally:
        window.progress.close()
    return window.finish()


def _inline(executor: object) -> bool:
    """Whether a local `executor` runs items inline (a sequential one, or forced)."""
    if cluster_executor(executor) is not None:
        return False
    return isinstance(resolve_executor(executor), SequentialExecutor)


def _run_coroutine(fn: Callable[..., Any]) -> Callable[..., Any]:
    """An async function as a blocking one, for local executors' threads."""
    def run(*args: Any) -> Any:
        import asyncio

        return asyncio.run(fn(*args))

    return run


def _drive(backend: _Backend, window: _Window) -> None:
    """Run the window to the end on this thread (see the module docstring)."""
    done: queue.SimpleQueue[int] = queue.SimpleQueue()
    in_flight = window.in_flight
    try:
        while True:
            while (item := window.pull()) is not None:
                index, args = item
                try:
                    future = backend.start(index, args)
                except Exception as exc:  # noqa: BLE001 - e.g. an argument that won't pickle
                    _cancel(backend, window.settle(index, _FAILED, exc), in_flight)
                    continue
                in_flight[index] = future
                future.add_done_callback(lambda _f, i=index: done.put(i))
                # Settle what has finished before pulling more: an inline executor
                # has run this item already, and if it failed, no more are pulled.
                while not done.empty():
                    _settle(backend, window, done.get())
            if not in_flight:
                return
            _settle(backend, window, _next_done(done, in_flight))
    finally:
        if in_flight:  # leaving early (an interrupt): stop what has not started
            _cancel(backend, list(in_flight), in_flight)
            while in_flight:  # ... and wait for what has
                in_flight.pop(done.get(), None)


def _settle(backend: _Backend, window: _Window, index: int) -> None:
    future = window.in_flight.get(index)
    if future is not None:
        state, value = backend.outcome(future)
        _cancel(backend, window.settle(index, state, value), window.in_flight)


def _cancel(backend: _Backend, indexes: list[int], in_flight: dict[int, Any]) -> None:
    if backend.cancels:
        for j in indexes:
            future = in_flight.get(j)
            if future is not None:
                future.cancel()  # a no-op once started; settles through `done`


def _next_done(done: queue.SimpleQueue[int], in_flight: dict[int, Any]) -> int:
    """The next settled index; meanwhile help with a task no worker has started."""
    while True:
        try:
            return done.get(timeout=_HELP_AFTER)
        except queue.Empty:
            pass
        for future in in_flight.values():
            if isinstance(future, Task) and not future.running() and not future.done():
                future.run()  # the pool is saturated: run it here (no-op if claimed)
                break


async def _map_async(fn: Any, backend: _Backend | None, window: _Window) -> list[Any]:
    """The window on the running event loop: local items are tasks on it, executor
    items are bridged futures."""
    import asyncio

    loop = asyncio.get_running_loop()
    index_of: dict[asyncio.Future[Any], int] = {}
    underlying: dict[int, Any] = {}  # executor items: index -> the executor's future

    def start(index: int, args: tuple[Any, ...]) -> asyncio.Future[Any]:
        if backend is None:
            task: asyncio.Future[Any] = asyncio.ensure_future(fn(*args))
            return task
        future = underlying[index] = backend.start(index, args)
        bridged: asyncio.Future[Any] = loop.create_future()

        def settle(_: Any) -> None:
            def set_outcome() -> None:
                if not bridged.done():
                    bridged.set_result(backend.outcome(future))
            loop.call_soon_threadsafe(set_outcome)

        future.add_done_callback(settle)
        return bridged

    def outcome(future: asyncio.Future[Any]) -> tuple[int, Any]:
        if backend is not None:
            return future.result()  # type: ignore[no-any-return]
        if future.cancelled():
            return _CANCELLED, None
        exc = future.exception()
        return (_FAILED, exc) if exc is not None else (_OK, future.result())

    try:
        while True:
            while (item := window.pull()) is not None:
                index, args = item
                try:
                    future = start(index, args)
                except Exception as exc:  # noqa: BLE001 - e.g. an argument that won't pickle
                    window.settle(index, _FAILED, exc)
                    continue
                window.in_flight[index] = future
                index_of[future] = index
            if not window.in_flight:
                break
            finished, _ = await asyncio.wait(list(window.in_flight.values()),
                                             return_when=asyncio.FIRST_COMPLETED)
            for future in sorted(finished, key=index_of.__getitem__):
                state, value = outcome(future)
                index = index_of.pop(future)
                underlying.pop(index, None)
                cancel = window.settle(index, state, value)
                if backend is not None:
                    _cancel(backend, cancel, underlying)
                # Started tasks are not cancelled after a failure: they run to the
                # end (as on threads), and the loop above starts no more.
    except BaseException:
        # Our caller was cancelled (or interrupted). Tasks on this loop are cancelled;
        # executor items that have not started are cancelled, and the started ones
        # waited for (a thread cannot be interrupted).
        futures = list(window.in_flight.values())
        if backend is None:
            for future in futures:
                future.cancel()
        else:
            _cancel(backend, list(underlying), underlying)
        await asyncio.gather(*futures, return_exceptions=True)
        raise
    finally:
        window.progress.close()
    return window.finish()
