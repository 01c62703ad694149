"""Executors: where tasks run, behind one small ``submit`` interface.

An executor is anything with ``submit(fn, /, *args, **kwargs)`` returning a future
(an object with ``result()``, ``done()``, ``cancel()`` and ``add_done_callback()``, the
``concurrent.futures.Future`` protocol). So any ``concurrent.futures.Executor`` plugs
in, and so do Dask's and Ray's executor facades.

wavejit's own executors return a `Task`, a future with two extra properties:

* **Claiming.** A task runs at most once, on whichever thread claims it first: a pool
  worker, or a thread that waits for it (``result()``). The claim is a lock acquired
  without blocking and never released, so it is atomic without a global lock.
* **Help-while-waiting.** ``result()`` on a task that has not started runs it on the
  waiting thread. A graph or jitted function run inside a task therefore never waits
  for a worker that is itself waiting: no deadlock at any pool size, even one.

`ThreadExecutor` is one persistent, process-wide pool (see `shared_executor`): worker
threads are started lazily, only when a task is queued and no worker is idle, up to
``max_workers``; they never exit. Tasks go through a ``queue.SimpleQueue``; a worker
that dequeues a task already claimed by a waiter just moves on. Each task runs in its
own copy of the submitter's ``contextvars`` context.

`SequentialExecutor` runs each task inline at submission: the reference executor.
`BoundedExecutor` caps how many of one run's tasks are in flight at once on another
executor, holding the rest back until a slot frees (``max_workers=`` of a run).
"""

from __future__ import annotations

import collections
import contextvars
import os
import queue
import threading
import time
from collections.abc import Callable
from typing import Any, Generic, Protocol, TypeVar

from ._errors import CancelledError, reraise

__all__ = [
    "Executor",
    "Task",
    "ThreadExecutor",
    "SequentialExecutor",
    "BoundedExecutor",
    "shared_executor",
    "resolve_executor",
    "DEFAULT_MAX_WORKERS",
]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

# I/O-bound tasks spend their time blocked, so the pool is sized for concurrency, not
# cores: 1000 independent calls should all be in flight at once. Threads start lazily,
# so an unused capacity costs nothing.
DEFAULT_MAX_WORKERS = 1024

_PENDING, _RUNNING, _FINISHED, _CANCELLED = range(4)

# Guards the hand-over between a task finishing and callbacks being added to it.
_callbacks_lock = threading.Lock()


class Future(Protocol[T_co]):
    """The part of ``concurrent.futures.Future`` that wavejit relies on."""

    def result(self, timeout: float | None = None) -> T_co: ...
    def done(self) -> bool: ...
    def cancel(self) -> bool: ...
    def add_done_callback(self, fn: Callable[[Any], object], /) -> None: ...


class Executor(Protocol):
    """Anything that can ``submit`` a call and return a `Future`."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Future[T]: ...


class Task(Generic[T]):
    """A call to run once, on a pool worker or on the first thread that waits for it.

    ``started`` and ``finished`` are ``time.perf_counter()`` stamps (0.0 until set);
    ``thread`` is the name of the thread that ran it.
    """

    __slots__ = (
        "fn", "args", "kwargs", "context", "name", "started", "finished", "thread",
        "_claim", "_done", "_state", "_result", "_exception", "_callbacks",
    )

    def __init__(
        self,
        fn: Callable[..., T],
        args: tuple[Any, ...] = (),
        kwargs: dict[str, Any] | None = None,
        context: contextvars.Context | None = None,
        name: str = "",
    ) -> None:
        self.fn = fn
        self.args = args
        self.kwargs = kwargs or {}
        self.context = context if context is not None else contextvars.copy_context()
        self.name = name
        self.started = 0.0
        self.finished = 0.0
        self.thread = ""
        self._claim = threading.Lock()
        self._done = threading.Lock()
        self._done.acquire()  # released once, when the task finishes or is cancelled
        self._state = _PENDING
        self._result: Any = None
        self._exception: BaseException | None = None
        self._callbacks: list[Callable[[Task[T]], object]] | None = None

    def __repr__(self) -> str:
        state = ("pending", "running", "finished", "cancelled")[self._state]
        return f"<Task {self.name or getattr(self.fn, '__name__', '?')} {state}>"

    def run(self) -> bool:
        """Run the call here unless another thread claimed it; True if this one ran it."""
        if not self._claim.acquire(False):
            return False
        self._state = _RUNNING
        self.thread = threading.current_thread().name
        self.started = time.perf_counter()
        try:
            self._result = self.context.run(self.fn, *self.args, **self.kwargs)
        except BaseException as exc:  # noqa: BLE001 - delivered to whoever waits
            self._exception = exc
        self.finished = time.perf_counter()
        self._finish(_FINISHED)
        return True

    def cancel(self) -> bool:
        """Prevent the task from starting; False if it has already started."""
        if not self._claim.acquire(False):
            return self._state == _CANCELLED
        self._finish(_CANCELLED)
        return True

    def _finish(self, state: int) -> None:
        with _callbacks_lock:
            self._state = state
            callbacks, self._callbacks = self._callbacks, None
        self._done.release()
        if callbacks:
            for callback in callbacks:
                callback(self)

    def add_done_callback(self, fn: Callable[[Task[T]], object], /) -> None:
        """Call ``fn(task)`` when the task ends (at once if it has ended)."""
        with _callbacks_lock:
            if self._state < _FINISHED:
                if self._callbacks is None:
                    self._callbacks = []
                self._callbacks.append(fn)
                return
        fn(self)

    def done(self) -> bool:
        return self._state >= _FINISHED

    def running(self) -> bool:
        return self._state == _RUNNING

    def cancelled(self) -> bool:
        return self._state == _CANCELLED

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until the task ends, running it here if it has not started."""
        if self._state >= _FINISHED:
            return True
        if self._state == _PENDING:
            self.run()  # help while waiting; a no-op if a worker got there first
            if self._state >= _FINISHED:
                return True
        if not self._done.acquire(timeout=-1 if timeout is None else timeout):
            return False
        self._done.release()
        return True

    def result(self, timeout: float | None = None) -> T:
        """The call's return value; re-raises its exception (the same object)."""
        if self._state != _FINISHED and not self.wait(timeout):
            raise TimeoutError(f"{self!r} did not finish within {timeout} s")
        if self._exception is not None:
            reraise(self._exception)
        if self._state == _CANCELLED:
            raise CancelledError(f"{self!r} was cancelled before it started")
        return self._result  # type: ignore[no-any-return]

    def exception(self, timeout: float | None = None) -> BaseException | None:
        self.wait(timeout)
        return self._exception


class ThreadExecutor:
    """A pool of threads, started lazily and kept for the life of the process.

    Prefer `shared_executor()`: one pool for the whole process, never one per run.
    """

    def __init__(self, max_workers: int | None = None, name: str = "wavejit") -> None:
        if max_workers is None:
            max_workers = DEFAULT_MAX_WORKERS
        if max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        self.max_workers = max_workers
        self.name = name
        self._queue: queue.SimpleQueue[Task[Any] | None] = queue.SimpleQueue()
        # One token per idle worker: a SimpleQueue, whose put / get_nowait are C calls
        # (a threading.Semaphore takes a Python-level Condition on each call, and the
        # caller issuing 1,000 calls contended for it with the workers going idle).
        self._idle: queue.SimpleQueue[None] = queue.SimpleQueue()
        self._threads: list[threading.Thread] = []
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"<ThreadExecutor {self.name} {len(self._threads)}/{self.max_workers} threads>"

    @property
    def threads(self) -> list[threading.Thread]:
        return list(self._threads)

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Task[T]:
        task: Task[T] = Task(fn, args, kwargs)
        self.submit_task(task)
        return task

    def submit_task(self, task: Task[Any]) -> None:
        """Queue an existing task (its context already captured)."""
        # A new thread first, then the task: `Thread.start` returns once the thread has
        # started, and a thread that found the task already queued would run its
        # first Python (about 2 ms of the deferred call's setup, before it blocks) while
        # the caller waited for the GIL to issue its next call. Started first, it
        # blocks at once in `get`, and the caller issues on.
        try:
            self._idle.get_nowait()
        except queue.Empty:
            self._spawn()
        self._queue.put(task)

    def _spawn(self) -> None:
        with self._lock:
            if len(self._threads) >= self.max_workers:
                return
            thread = threading.Thread(
                target=self._work, name=f"{self.name}-{len(self._threads)}", daemon=True
            )
            thread.start()
            self._threads.append(thread)

    def _work(self) -> None:
        get, idle = self._queue.get, self._idle.put
        while True:
            task = get()
            if task is None:
                return
            task.run()
            del task  # drop the reference before blocking in get() again
            idle(None)

    def shutdown(self) -> None:
        """Stop the workers (after the queued tasks). Only for private pools and tests."""
        with self._lock:
            threads, self._threads = self._threads, []
        for _ in threads:
            self._queue.put(None)
        for thread in threads:
            thread.join()
        # The stopped workers' idle tokens would make the next submit think a worker
        # is waiting and start none: the pool must start afresh.
        self._idle = queue.SimpleQueue()


class SequentialExecutor:
    """Runs each call inline when it is submitted: the reference executor."""

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Task[T]:
        task: Task[T] = Task(fn, args, kwargs)
        task.run()
        return task

    def submit_task(self, task: Task[Any]) -> None:
        task.run()


class BoundedExecutor:
    """At most `limit` tasks in flight at once on `inner`; the rest wait their turn.

    Held-back tasks still help-while-waiting: a thread that needs one runs it at once.
    """

    def __init__(self, inner: ThreadExecutor, limit: int) -> None:
        if limit < 1:
            raise ValueError(f"max_workers must be at least 1, got {limit}")
        self.inner = inner
        self.limit = limit
        self._in_flight = 0
        self._held: collections.deque[Task[Any]] = collections.deque()
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], /, *args: Any, **kwargs: Any) -> Task[T]:
        task: Task[T] = Task(fn, args, kwargs)
        self.submit_task(task)
        return task

    def submit_task(self, task: Task[Any]) -> None:
        with self._lock:
            if self._in_flight >= self.limit:
                self._held.append(task)
                return
            self._in_flight += 1
        task.add_done_callback(self._release)
        self.inner.submit_task(task)

    def _release(self, _task: Task[Any]) -> None:
        while True:
            with self._lock:
                if not self._held:
                    self._in_flight -= 1
                    return
                task = self._held.popleft()
            if not task.done():
                task.add_done_callback(self._release)
                self.inner.submit_task(task)
                return
            # Already run by a waiter (or cancelled): the slot is still free.


_shared: ThreadExecutor | None = None
_shared_lock = threading.Lock()


def shared_executor() -> ThreadExecutor:
    """The process-wide pool, created on first use.

    Its size is ``WAVEJIT_MAX_WORKERS`` if set, else `DEFAULT_MAX_WORKERS`.
    """
    global _shared
    if _shared is None:
        with _shared_lock:
            if _shared is None:
                env = os.environ.get("WAVEJIT_MAX_WORKERS", "").strip()
                try:
                    size = int(env) if env else DEFAULT_MAX_WORKERS
                except ValueError:
                    raise ValueError(
                        f"WAVEJIT_MAX_WORKERS must be a whole number, got {env!r}"
                    ) from None
                _shared = ThreadExecutor(size)
    return _shared


def resolve_executor(executor: object = None, max_workers: int | None = None) -> Any:
    """Turn a user's ``executor=`` / ``max_workers=`` into an executor object.

    ``None`` or ``"threads"`` is the shared pool (bounded per run by `max_workers`);
    ``"sequential"`` runs inline; any object with ``submit`` is used as it is.

    ``WAVEJIT_EXECUTOR=sequential`` in the environment overrides all of these (after
    validating the argument; ``threads`` or unset: no override): the rewrite is kept, but every deferred call and graph
    node runs inline when submitted, in program order. For debugging ("is it the
    concurrency?"), and for the test suite's mutation check (a test that claims
    overlap must fail under it). Read on every call, so it can be set at run time.
    """
    forced = os.environ.get("WAVEJIT_EXECUTOR", "").strip()
    if forced and forced != "threads":
        if forced != "sequential":
            raise ValueError(
                f"WAVEJIT_EXECUTOR must be 'sequential' or 'threads', got {forced!r}"
            )
        _check_executor(executor)
        return SequentialExecutor()
    if executor is None or executor == "threads":
        pool = shared_executor()
        return pool if max_workers is None else BoundedExecutor(pool, max_workers)
    if executor == "sequential":
        return SequentialExecutor()
    _check_executor(executor)
    return executor


def _check_executor(executor: object) -> None:
    """Raise a teaching error unless `executor` is a name we know or has ``submit``."""
    if executor is None or executor in ("threads", "sequential"):
        return
    if isinstance(executor, str):
        raise ValueError(
            f"unknown executor {executor!r}: use 'threads', 'sequential', or an object "
            "with a submit(fn, *args, **kwargs) method such as a "
            "concurrent.futures.Executor"
        )
    if not callable(getattr(executor, "submit", None)):
        raise TypeError(
            f"executor {executor!r} has no submit() method: pass 'threads', "
            "'sequential', or a concurrent.futures.Executor"
        )
