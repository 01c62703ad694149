"""Cluster executors: run whole invocations of a jitted function on Dask or Ray.

``jitted.map(items, executor=DaskExecutor(client))`` (or ``executor=client``) and
``RayExecutor()`` run each *invocation* whole on a worker process; inside it, that
process's jit and thread pool overlap the invocation's I/O calls. Shipping single
deferred calls instead would cost the engine's per-task overhead (hundreds of
microseconds) on every call. ``Graph.run(executor=...)`` runs each node on a worker,
passing results between nodes as engine references, so values stay on the cluster
until the run's results are gathered.

Both keep the engine out of the user's error path: items come back as pickled
outcomes (see `wavejit._cluster`), and an engine error (a worker that died, a lost
object) becomes a `WavejitError` saying so.

* `DaskExecutor` -- a ``distributed.Client``. An invocation mostly waits: one that
  starts on the worker's last free thread leaves the worker's pool
  (``distributed.secede``) so the worker keeps taking tasks. Seceding costs a message
  to the scheduler per task, so for I/O-bound work give workers many threads
  (``LocalCluster(threads_per_worker=64)``, ``dask worker --nthreads 64``).
* `RayExecutor` -- ``num_actors`` threaded actors in the current ``ray.init()``
  session, each running up to ``max_concurrency`` invocations at once on its threads.
  Items go to the actor with the fewest in flight. Ray tasks would not do: with one CPU
  each they serialize I/O-bound work, with none they start a process per task.

**Provider limits across the cluster.** The limits the caller set with
``wavejit.limit(host, max_concurrency=..., rate=...)`` go with every item and node
and hold across all workers (`wavejit._limits`, "cluster-wide slots"): a worker's
call to a limited host takes a slot of its own process's limiter, then one of the
cluster's - a ``distributed.Semaphore`` named after the host on Dask (its leases
expire if the holding worker dies), a counter in one named Ray actor
(``wavejit-limits``, an async actor started by the first `RayExecutor` that ships a
limit; a slot held by a worker process that dies is not given back). A ``rate`` is
split evenly over the worker processes.

Importing this module imports neither Dask nor Ray.
"""

from __future__ import annotations

import concurrent.futures
import importlib
import threading
import time
from collections.abc import Callable, Sequence
from typing import Any

from ._cluster import pack_args, run_item, run_item_dask, run_node, run_node_dask, ship
from ._cluster import unpack_outcome as _unpack
from ._errors import WavejitError
from ._limits import SharedSpec, shared_spec

__all__ = ["DaskExecutor", "RayExecutor"]

# Invocations in flight per Dask worker / per Ray actor by default. Invocations wait
# on I/O, so this is far above the core count; lower it for providers' rate limits.
DEFAULT_CONCURRENCY = 32


def _forward(source: Any, translate: Callable[[BaseException], BaseException],
             result: Callable[[], Any]) -> concurrent.futures.Future[Any]:
    """A ``concurrent.futures.Future`` settled when `source` (an engine future) is."""
    target: concurrent.futures.Future[Any] = concurrent.futures.Future()
    target.set_running_or_notify_cancel()

    def done(_: Any) -> None:
        try:
            value = result()
        except BaseException as exc:  # noqa: BLE001 - delivered to the waiter
            target.set_exception(translate(exc))
        else:
            target.set_result(value)

    source.add_done_callback(done)
    return target


def _refuse_deferred_calls(fn: object, name: str) -> None:
    owner = getattr(fn, "__self__", None)
    if type(owner).__module__.startswith("wavejit."):
        raise WavejitError(
            f"{name} runs whole invocations, not a jitted function's deferred calls "
            "(shipping each call would cost the engine's per-task overhead every time): "
            "use jitted.map(items, executor=...) or Graph.run(executor=...), and keep "
            "jit(executor=...) local"
        )


class _ClusterExecutor:
    """What `DaskExecutor` and `RayExecutor` share: ``submit`` of whole calls."""

    _wavejit_cluster = True
    name = "cluster"

    @property
    def capacity(self) -> int:
        """Default invocations in flight for ``map()``: slots over the cluster."""
        raise NotImplementedError

    def submit(self, fn: Callable[..., Any], /, *args: Any,
               **kwargs: Any) -> concurrent.futures.Future[Any]:
        """Run ``fn(*args, **kwargs)`` whole on a worker; a ``concurrent.futures``
        future of its result (its exception: same type and args, worker traceback in
        a note)."""
        _refuse_deferred_calls(fn, type(self).__name__)
        blob = ship(fn, "function")
        outcome = self.submit_item(blob, 0, pack_args(args, kwargs, "the arguments"))

        def result() -> Any:
            ok, value = _unpack(outcome.result())
            if not ok:
                raise value
            return value

        return _forward(outcome, lambda exc: exc, result)

    def submit_item(self, fn_blob: bytes, index: int,
                    args_blob: bytes) -> concurrent.futures.Future[tuple[bool, bytes]]:
        raise NotImplementedError

    def limits(self) -> SharedSpec | None:
        """The caller's provider limits, for the workers (None when none is set)."""
        raise NotImplementedError

    def _lost(self, exc: BaseException, what: str) -> BaseException:
        return WavejitError(
            f"{what} did not finish on {self.name}: {type(exc).__name__}: {exc} "
            "(a worker died or lost the result; the cluster may have run it more than "
            "once)"
        )

    def __enter__(self) -> Any:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()

    def shutdown(self) -> None:
        """Release what this executor started (not the cluster itself)."""


class DaskExecutor(_ClusterExecutor):
    """Run invocations on a Dask cluster through `client` (a ``distributed.Client``;
    the current default client if None). `max_concurrency`: default invocations in
    flight per worker."""

    name = "Dask"

    def __init__(self, client: Any = None, *, max_concurrency: int = DEFAULT_CONCURRENCY
                 ) -> None:
        if client is None:
            client = importlib.import_module("distributed").get_client()
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency must be at least 1, got {max_concurrency}")
        self.client = client
        self.max_concurrency = max_concurrency
        self._workers = (0.0, 1)  # (when counted, how many): for splitting a rate

    def __repr__(self) -> str:
        return f"<DaskExecutor {self.client!r}>"

    @property
    def capacity(self) -> int:
        return max(1, len(self.client.nthreads())) * self.max_concurrency

    def limits(self) -> SharedSpec | None:
        return shared_spec(DaskSlots, (), self._count_workers)

    def _count_workers(self) -> int:
        """The workers (a scheduler round trip), counted again after 5 s at most."""
        counted, workers = self._workers
        if time.monotonic() - counted > 5.0:
            workers = max(1, len(self.client.nthreads()))
            self._workers = (time.monotonic(), workers)
        return workers

    def submit_item(self, fn_blob: bytes, index: int,
                    args_blob: bytes) -> concurrent.futures.Future[tuple[bool, bytes]]:
        future = self.client.submit(run_item_dask, fn_blob, index, args_blob,
                                    self.limits(), pure=False)
        target: concurrent.futures.Future[tuple[bool, bytes]] = concurrent.futures.Future()
        target.set_running_or_notify_cancel()

        async def fetch() -> None:
            # On the client's event loop: results arrive concurrently. (A done callback
            # calling result() fetches them one at a time on Dask's one callback thread.)
            try:
                value = await self.client.gather(future, asynchronous=True)
            except BaseException as exc:  # noqa: BLE001 - delivered to the waiter
                target.set_exception(self._lost(exc, f"item {index}"))
            else:
                target.set_result(value)

        self.client.loop.add_callback(fetch)
        return target

    # -- graph nodes: handles are Dask futures ------------------------------------------

    def submit_node(self, fn_blob: bytes, name: str, args: tuple[Any, ...],
                    kwargs: dict[str, Any], dep_ids: tuple[int, ...],
                    deps: Sequence[Any]) -> Any:
        return self.client.submit(run_node_dask, fn_blob, name, args, kwargs, dep_ids,
                                  *deps, limits=self.limits(), pure=False,
                                  key=f"{name}-{id(object())}")

    def node_future(self, handle: Any, name: str) -> concurrent.futures.Future[None]:
        def result() -> None:
            if handle.status == "error":
                raise handle.exception()
            if handle.status != "finished":
                raise WavejitError(f"the Dask future is {handle.status}")

        return _forward(handle, lambda exc: self._node_error(exc, name), result)

    def _node_error(self, exc: BaseException, name: str) -> BaseException:
        module = type(exc).__module__
        if module.startswith(("distributed", "tornado")) or isinstance(exc, WavejitError):
            return self._lost(exc, f"graph node {name!r}")
        return exc

    def cancel_nodes(self, handles: Sequence[Any]) -> None:
        if handles:
            self.client.cancel(list(handles))

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        return list(self.client.gather(list(handles)))


class DaskSlots:
    """Cluster-wide slots of one host on Dask: a ``distributed.Semaphore`` (made on
    the worker, in the task that installs the limits: it needs the worker's client).
    The scheduler keeps the count; a lease of a worker that died expires."""

    def __init__(self, host: str, max_concurrency: int) -> None:
        distributed = importlib.import_module("distributed")
        self.semaphore = distributed.Semaphore(max_leases=max_concurrency,
                                               name=f"wavejit-limit:{host}:{max_concurrency}")

    def acquire(self) -> None:
        self.semaphore.acquire()

    def release(self) -> None:
        self.semaphore.release()


def _ray() -> Any:
    return importlib.import_module("ray")


LIMITS_ACTOR = "wavejit-limits"


class _RayLimits:
    """The named async actor counting every host's slots in flight for the cluster."""

    def __init__(self) -> None:
        self.in_flight: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.changed: Any = None  # an asyncio.Condition, made on the actor's loop

    async def acquire(self, host: str, max_concurrency: int) -> None:
        import asyncio

        if self.changed is None:
            self.changed = asyncio.Condition()
        async with self.changed:
            await self.changed.wait_for(
                lambda: self.in_flight.get(host, 0) < max_concurrency)
            self.in_flight[host] = count = self.in_flight.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), count)

    async def release(self, host: str) -> None:
        async with self.changed:
            self.in_flight[host] -= 1
            self.changed.notify_all()  # waiters may wait with different caps

    def state(self) -> dict[str, dict[str, int]]:
        return {"in_flight": dict(self.in_flight), "peak": dict(self.peak)}


class RaySlots:
    """Cluster-wide slots of one host on Ray: a counter in the `_RayLimits` actor.
    ``acquire`` waits for its answer; ``release`` does not (the count drops a moment
    later, which only makes the cap stricter)."""

    def __init__(self, host: str, max_concurrency: int, actor_name: str) -> None:
        self.host = host
        self.max_concurrency = max_concurrency
        self.actor = _ray().get_actor(actor_name)

    def acquire(self) -> None:
        _ray().get(self.actor.acquire.remote(self.host, self.max_concurrency))

    def release(self) -> None:
        self.actor.release.remote(self.host)


class _RayWorker:
    """A threaded Ray actor's body: runs items and graph nodes (see `wavejit._cluster`)."""

    def run_item(self, fn_blob: bytes, index: int, args_blob: bytes,
                 limits: Any = None) -> tuple[bool, bytes]:
        return run_item(fn_blob, index, args_blob, limits)

    def run_node(self, fn_blob: bytes, name: str, args: tuple[Any, ...],
                 kwargs: dict[str, Any], dep_ids: tuple[int, ...], *deps: Any,
                 limits: Any = None) -> Any:
        return run_node(fn_blob, name, args, kwargs, dep_ids, *deps, limits=limits)


class RayExecutor(_ClusterExecutor):
    """Run invocations on `num_actors` threaded Ray actors (default: one per CPU of
    the current ``ray.init()`` session), each running up to `max_concurrency`
    invocations at once. Each actor reserves `num_cpus` (none by default: its work is
    mostly waiting, and actors that reserved every CPU would leave none for a second
    executor's, which would then wait forever to start); the actors are spread over
    the nodes. Actors start on first use; one whose process died is
    replaced (its calls in flight fail with a `WavejitError`: they may have run).
    `shutdown()` (or leaving a ``with`` block) stops them."""

    name = "Ray"

    def __init__(self, num_actors: int | None = None, *,
                 max_concurrency: int = DEFAULT_CONCURRENCY,
                 num_cpus: float = 0.0) -> None:
        ray = _ray()
        if not ray.is_initialized():
            raise WavejitError(
                "RayExecutor uses the current Ray session: call ray.init() first "
                "(ray.init(address='auto') joins a running cluster)"
            )
        cpus = float(ray.cluster_resources().get("CPU", 1))
        if num_actors is None:
            num_actors = max(1, int(cpus))
        if num_actors < 1 or max_concurrency < 1:
            raise ValueError("num_actors and max_concurrency must be at least 1")
        self.num_actors = num_actors
        self.max_concurrency = max_concurrency
        self.num_cpus = num_cpus
        self._actors: list[Any] = []
        self._load: list[int] = []
        self._lock = threading.Lock()
        self._limits_actor: Any = None

    def __repr__(self) -> str:
        return f"<RayExecutor {self.num_actors} actors x {self.max_concurrency}>"

    @property
    def capacity(self) -> int:
        return self.num_actors * self.max_concurrency

    def _new_actor(self) -> Any:
        return _ray().remote(_RayWorker).options(
            num_cpus=self.num_cpus, max_concurrency=self.max_concurrency,
            scheduling_strategy="SPREAD").remote()

    def _pick(self) -> tuple[int, Any]:
        """The actor with the fewest calls in flight (starting the actors if needed)."""
        with self._lock:
            if not self._actors:
                self._actors = [self._new_actor() for _ in range(self.num_actors)]
                self._load = [0] * self.num_actors
            load = self._load
            k = min(range(len(load)), key=load.__getitem__)
            load[k] += 1
            return k, self._actors[k]

    def _unload(self, k: int, actor: Any) -> Callable[[Any], None]:
        def done(future: Any) -> None:
            died = not future.cancelled() and isinstance(
                future.exception(), _ray().exceptions.RayActorError)
            with self._lock:
                if k < len(self._load) and self._actors[k] is actor:
                    self._load[k] -= 1
                    if died:  # its process is gone: later calls go to a fresh actor
                        self._actors[k] = self._new_actor()
                        self._load[k] = 0
        return done

    def limits(self) -> SharedSpec | None:
        spec = shared_spec(RaySlots, (LIMITS_ACTOR,), lambda: self.num_actors)
        if spec is not None and self._limits_actor is None:
            with self._lock:
                if self._limits_actor is None:
                    ray = _ray()
                    actor = ray.remote(_RayLimits).options(
                        name=LIMITS_ACTOR, get_if_exists=True, num_cpus=0,
                        max_concurrency=10_000).remote()
                    ray.get(actor.state.remote())  # registered before a worker looks
                    self._limits_actor = actor
        return spec

    def limits_state(self) -> dict[str, dict[str, int]]:
        """The cluster-wide counts: hosts' slots in flight now, and the most at once."""
        if self._limits_actor is None:
            return {"in_flight": {}, "peak": {}}
        return dict(_ray().get(self._limits_actor.state.remote()))

    def submit_item(self, fn_blob: bytes, index: int,
                    args_blob: bytes) -> concurrent.futures.Future[tuple[bool, bytes]]:
        limits = self.limits()
        k, actor = self._pick()
        future = actor.run_item.remote(fn_blob, index, args_blob, limits).future()
        future.add_done_callback(self._unload(k, actor))
        return _forward(future, lambda exc: self._lost(exc, f"item {index}"),
                        future.result)

    # -- graph nodes: handles are ObjectRefs --------------------------------------------

    def submit_node(self, fn_blob: bytes, name: str, args: tuple[Any, ...],
                    kwargs: dict[str, Any], dep_ids: tuple[int, ...],
                    deps: Sequence[Any]) -> Any:
        limits = self.limits()
        k, actor = self._pick()
        ref = actor.run_node.remote(fn_blob, name, args, kwargs, dep_ids, *deps,
                                    limits=limits)
        ref.future().add_done_callback(self._unload(k, actor))
        return ref

    def node_future(self, handle: Any, name: str) -> concurrent.futures.Future[None]:
        future = handle.future()
        return _forward(future, lambda exc: self._node_error(exc, name),
                        lambda: future.exception() and future.result())

    def _node_error(self, exc: BaseException, name: str) -> BaseException:
        if isinstance(exc, _ray().exceptions.RayTaskError):
            cause = exc.cause
            return cause if cause is not None else self._lost(exc, f"graph node {name!r}")
        return self._lost(exc, f"graph node {name!r}")

    def cancel_nodes(self, handles: Sequence[Any]) -> None:
        ray = _ray()
        for ref in handles:  # queued actor calls are dropped; running ones finish
            ray.cancel(ref)

    def gather(self, handles: Sequence[Any]) -> list[Any]:
        return list(_ray().get(list(handles)))

    def shutdown(self) -> None:
        """Stop this executor's actors (the Ray session stays)."""
        ray = _ray()
        with self._lock:
            actors, self._actors, self._load = self._actors, [], []
            if self._limits_actor is not None:
                actors.append(self._limits_actor)
                self._limits_actor = None
        for actor in actors:
            ray.kill(actor)
