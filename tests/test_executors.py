"""Executors: the claimable Task, the lazily grown pool, the inline and bounded ones."""

from __future__ import annotations

import contextvars
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

import wavejit
from wavejit import (
    BoundedExecutor,
    CancelledError,
    SequentialExecutor,
    Task,
    ThreadExecutor,
    shared_executor,
)
from wavejit._executors import resolve_executor

pytestmark = pytest.mark.usefixtures("no_leaked_threads")

Pool = Callable[[int], ThreadExecutor]


def test_task_runs_once_on_the_thread_that_claims_it() -> None:
    calls: list[str] = []

    def work() -> int:
        calls.append(threading.current_thread().name)
        return 7

    task = Task(work, name="t")
    assert not task.done() and "pending" in repr(task)
    assert task.run() is True
    assert task.run() is False
    assert calls == [threading.current_thread().name] and task.result() == 7
    assert task.thread == threading.current_thread().name
    assert 0 < task.started <= task.finished and "finished" in repr(task)


def test_waiting_on_an_unstarted_task_runs_it_here() -> None:
    task = Task(threading.current_thread)
    assert task.result() is threading.current_thread()  # help-while-waiting


def test_cancel_before_start() -> None:
    seen: list[Task[Any]] = []
    task = Task(lambda: pytest.fail("a cancelled task must not run"))
    task.add_done_callback(seen.append)
    assert task.cancel() and task.cancel() and task.cancelled() and task.done()
    assert task.run() is False and seen == [task]
    with pytest.raises(CancelledError, match="cancelled before it started"):
        task.result()


def test_cancel_after_start_fails() -> None:
    task = Task(int)
    task.run()
    assert task.cancel() is False and not task.cancelled() and task.result() == 0


def test_callbacks_before_and_after_finishing() -> None:
    seen: list[str] = []
    task = Task(int)
    task.add_done_callback(lambda t: seen.append("before"))
    task.run()
    task.add_done_callback(lambda t: seen.append("after"))
    assert seen == ["before", "after"]


def test_the_same_exception_object() -> None:
    error = ValueError("x")

    def boom() -> None:
        raise error

    task = Task(boom)
    task.run()
    assert task.exception() is error
    with pytest.raises(ValueError) as info:
        task.result()
    assert info.value is error
    assert any(entry.name == "boom" for entry in info.traceback)


def test_task_runs_in_its_context() -> None:
    var: contextvars.ContextVar[int] = contextvars.ContextVar("var", default=0)
    var.set(1)
    context = contextvars.copy_context()
    var.set(2)
    assert Task(var.get, context=context).result() == 1
    assert Task(var.get).result() == 2  # captured at creation


def test_pool_starts_threads_lazily_and_reuses_them(private_pool: Pool) -> None:
    pool = private_pool(4)
    assert pool.threads == []
    for i in range(20):
        task = pool.submit(lambda i=i: i)
        deadline = time.monotonic() + 5
        while not task.done() and time.monotonic() < deadline:  # let a worker take it
            time.sleep(0.001)
        assert task.result() == i
    assert 1 <= len(pool.threads) <= 2  # one task at a time needs one worker (+ a race)


def test_pool_never_exceeds_max_workers(private_pool: Pool) -> None:
    pool = private_pool(2)
    release = threading.Event()
    tasks = [pool.submit(release.wait) for _ in range(6)]
    time.sleep(0.05)
    assert len(pool.threads) == 2 and sum(t.running() for t in tasks) == 2
    release.set()
    assert all(t.result() for t in tasks)


def test_pool_of_one_cannot_deadlock_on_nested_waits(private_pool: Pool) -> None:
    pool = private_pool(1)

    def outer() -> int:
        inner = pool.submit(lambda: 41)  # queued behind us on the only worker...
        return inner.result() + 1  # ...so waiting on it runs it here

    assert pool.submit(outer).result() == 42


def test_pool_works_after_shutdown(private_pool: Pool) -> None:
    pool = private_pool(2)
    for _ in range(3):
        assert pool.submit(int).result() == 0
    task = pool.submit(time.sleep, 0.01)
    task.wait()
    pool.shutdown()
    assert pool.threads == []
    done = threading.Event()
    pool.submit(done.set)  # must start a worker again, not count a stopped one as idle
    assert done.wait(5)


def test_max_workers_must_be_positive() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        ThreadExecutor(0)
    with pytest.raises(ValueError, match="at least 1"):
        BoundedExecutor(shared_executor(), 0)


def test_sequential_executor_runs_at_submission() -> None:
    ran: list[int] = []
    task = SequentialExecutor().submit(ran.append, 1)
    assert task.done() and ran == [1]


def test_bounded_executor_limits_tasks_in_flight() -> None:
    lock = threading.Lock()
    running = [0, 0]  # now, peak

    def work(i: int) -> int:
        with lock:
            running[0] += 1
            running[1] = max(running)
        time.sleep(0.01)
        with lock:
            running[0] -= 1
        return i

    bounded = BoundedExecutor(shared_executor(), 3)
    tasks = [bounded.submit(work, i) for i in range(15)]
    deadline = time.monotonic() + 5
    while not all(t.done() for t in tasks) and time.monotonic() < deadline:
        time.sleep(0.005)  # wait without helping, so only pool workers run them
    assert [t.result() for t in tasks] == list(range(15))
    assert running[1] <= 3


def test_bounded_executor_held_tasks_can_be_claimed() -> None:
    release = threading.Event()
    bounded = BoundedExecutor(shared_executor(), 1)
    blocker = bounded.submit(release.wait)
    held = bounded.submit(threading.current_thread)
    assert held.result() is threading.current_thread()  # not stuck behind the blocker
    release.set()
    assert blocker.result() is True


def test_resolve_executor(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("WAVEJIT_EXECUTOR", raising=False)
    assert resolve_executor() is shared_executor() is resolve_executor("threads")
    bounded = resolve_executor(None, 4)
    assert isinstance(bounded, BoundedExecutor) and bounded.limit == 4
    assert isinstance(resolve_executor("sequential"), SequentialExecutor)
    mine = SequentialExecutor()
    assert resolve_executor(mine) is mine
    with pytest.raises(ValueError, match="'threads', 'sequential'"):
        resolve_executor("process")
    with pytest.raises(TypeError, match="no submit"):
        resolve_executor(42)


def two_sleeps() -> list[str]:
    return [sleeper(i) for i in range(2)]


def sleeper(i: int) -> str:
    time.sleep(0.02)
    return str(i)


def test_the_sequential_switch_keeps_the_rewrite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WAVEJIT_EXECUTOR", "sequential")
    mine = SequentialExecutor()
    for executor in (None, "threads", "sequential", mine):
        assert type(resolve_executor(executor, 4)) is SequentialExecutor
    with pytest.raises(ValueError, match="unknown executor"):
        resolve_executor("process")  # the argument is still validated
    jitted = wavejit.jit(two_sleeps)
    assert jitted() == ["0", "1"]
    record = jitted.last_run
    assert record is not None and len(record.calls) == 2  # still deferred...
    first, second = record.calls
    assert second.started >= first.finished  # ...but run inline, in program order
    assert {c.thread for c in record.calls} == {threading.current_thread().name}
    monkeypatch.setenv("WAVEJIT_EXECUTOR", "threads")  # the default: no override
    assert resolve_executor() is shared_executor()
    monkeypatch.setenv("WAVEJIT_EXECUTOR", "inline")
    with pytest.raises(ValueError, match="WAVEJIT_EXECUTOR must be"):
        resolve_executor()
