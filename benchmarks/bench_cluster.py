"""``jitted.map`` on the local threads, Dask and Ray, side by side in one run.

1. I/O pipeline: N items (default 2,000), each five 50 ms calls -- three independent,
   then two chained on their results -- so one invocation's critical path is 150 ms.
   With C invocations in flight the best possible wall time is N x 150 ms / C;
   efficiency = that / wall. The plain loop would take N x 250 ms (an estimate: it is
   not run).
2. CPU-heavy pipeline: a 50 ms call, about 40 ms of pure-Python work on its result,
   a 50 ms call. On threads the Python work of all items shares one GIL; two worker
   processes (a Dask LocalCluster of two, two Ray actors) run it on both cores.
   "cores used" is the CPU time of the processes running the items over the wall
   time: what those processes actually got of the machine.

The calls are ``time.sleep``: this measures how well each backend overlaps waiting,
not an HTTP stack's CPU cost. The pipelines live in this module, imported by name,
so they are pickled by reference (the workers import this file).

    python benchmarks/bench_cluster.py [--items 2000] [--cpu-items 200]

Needs ``pip install 'wavejit[dask,ray]'``. The clusters talk over loopback only
(Dask on 127.0.0.1; Ray on 127.0.0.2, since it turns 127.0.0.1 into the machine's
network address).
"""

from __future__ import annotations

import argparse
import functools
import importlib.metadata
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

HERE = Path(__file__).resolve().parent
CALL = 0.05
T = TypeVar("T")

# Imported by name below (``import bench_cluster``) so workers find the functions.
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import wavejit  # noqa: E402


def call(x: int) -> int:
    time.sleep(CALL)
    return x


@wavejit.jit
def io_pipeline(x: int) -> int:
    a = call(x)
    b = call(x + 1)
    c = call(x + 2)
    d = call(a + b + c)
    return call(d * 2)


def python_work(seed: int, rounds: int) -> int:
    """Pure-Python work (holds the GIL throughout)."""
    total = seed
    for i in range(rounds):
        total = (total * 31 + i) % 1_000_003
    return total


@wavejit.jit
def cpu_pipeline(x: int, rounds: int) -> int:
    a = call(x)
    b = python_work(a, rounds)
    return call(b)


def calibrate(seconds: float) -> int:
    """Rounds of `python_work` that take `seconds` of CPU on this machine (median of
    5; CPU time, not wall, so other processes' load does not shrink the work)."""
    rounds = 100_000
    samples = []
    for _ in range(5):
        started = time.thread_time()
        python_work(1, rounds)
        samples.append(time.thread_time() - started)
    per_round = sorted(samples)[2] / rounds
    return max(1, int(seconds / per_round))


def cpu_seconds(executor: object) -> float | None:
    """CPU time of the processes that run the items: this one (threads) or the Dask
    workers (Ray's actors are not asked: None)."""
    if executor is None:
        return time.process_time()
    client = getattr(executor, "client", None)
    if client is not None:
        return float(sum(client.run(time.process_time).values()))
    return None


def timed(fn: Callable[[], T]) -> tuple[float, T]:
    started = time.perf_counter()
    result = fn()
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=200,
                        help="invocations in flight for the I/O pipeline")
    parser.add_argument("--cpu-items", type=int, default=200)
    parser.add_argument("--cpu-ms", type=float, default=40.0)
    args = parser.parse_args()

    import distributed
    import ray

    import bench_cluster as mod  # this file as an importable module
    from wavejit.executors import DaskExecutor, RayExecutor

    n, c = args.items, args.concurrency
    rounds = calibrate(args.cpu_ms / 1000)
    print(f"# bench_cluster: {os.cpu_count()} cores (load average "
          f"{os.getloadavg()[0]:.1f} at the start), Python {sys.version.split()[0]}, "
          f"dask {importlib.metadata.version('dask')}, ray {ray.__version__}; "
          f"{args.cpu_ms:.0f} ms of Python = {rounds} rounds")

    # Many threads per worker: invocations wait, and a task on the worker's last free
    # thread secedes from its pool, which costs a scheduler message (see executors).
    # (The ignores: distributed's LocalCluster and Client are not annotated.)
    cluster = distributed.LocalCluster(n_workers=2, threads_per_worker=c // 2,
                                       processes=True, host="127.0.0.1",
                                       dashboard_address=None)  # type: ignore[no-untyped-call]
    client = distributed.Client(cluster)  # type: ignore[no-untyped-call]
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             _node_ip_address="127.0.0.2",
             runtime_env={"env_vars": {"PYTHONPATH": str(HERE)}})
    ray_executor = RayExecutor(2, max_concurrency=c // 2)
    backends: list[tuple[str, DaskExecutor | RayExecutor | None]] = [
        ("threads", None),
        ("dask, 2 workers", DaskExecutor(client)),
        ("ray, 2 actors", ray_executor),
    ]
    try:
        expected_io = [x * 6 + 6 for x in range(n)]
        ideal = n * 3 * CALL / c
        print(f"\nI/O pipeline: {n} items x 5 calls of {CALL * 1000:.0f} ms (3 parallel, "
              f"then 2 chained), {c} in flight")
        print(f"plain loop (estimate): {n * 5 * CALL:.0f} s; ideal: {n} x "
              f"{3 * CALL * 1000:.0f} ms / {c} = {ideal:.2f} s")
        print(f"{'backend':<18}{'wall s':>9}{'efficiency':>12}{'vs plain':>10}")
        for name, io_executor in backends:
            mod.io_pipeline.map(range(c), executor=io_executor, max_concurrency=c)  # warm
            wall, result = timed(functools.partial(
                mod.io_pipeline.map, range(n), executor=io_executor, max_concurrency=c))
            assert result == expected_io, f"{name}: wrong results"
            print(f"{name:<18}{wall:>9.2f}{ideal / wall:>12.2f}"
                  f"{n * 5 * CALL / wall:>9.0f}x")

        m = args.cpu_items
        expected_cpu = [python_work(x, rounds) for x in range(m)]
        print(f"\nCPU-heavy pipeline: {m} items x (a {CALL * 1000:.0f} ms call, "
              f"{args.cpu_ms:.0f} ms of Python, a {CALL * 1000:.0f} ms call), 32 in flight")
        print(f"plain loop (estimate): {m * (2 * CALL + args.cpu_ms / 1000):.1f} s; "
              f"the Python work alone: {m * args.cpu_ms / 1000:.1f} s on one core")
        print(f"{'backend':<18}{'wall s':>9}{'threads / this':>16}{'cores used':>12}")
        thread_wall = 0.0
        for name, cpu_executor in backends:
            mod.cpu_pipeline.map(range(8), [rounds] * 8, executor=cpu_executor)  # warm
            before = cpu_seconds(cpu_executor)
            wall, result = timed(functools.partial(
                mod.cpu_pipeline.map, range(m), [rounds] * m, executor=cpu_executor,
                max_concurrency=32))
            after = cpu_seconds(cpu_executor)
            assert result == expected_cpu, f"{name}: wrong results"
            thread_wall = thread_wall or wall
            used = (f"{(after - before) / wall:.2f}" if after is not None and before is not None
                    else "-")
            target = "" if cpu_executor is None else "   (target >= 1.30)"
            print(f"{name:<18}{wall:>9.2f}{thread_wall / wall:>15.2f}x{used:>12}{target}")
        print(f"\n# load average {os.getloadavg()[0]:.1f} at the end (other processes "
              "share these cores: the CPU ratio needs both of them free)")
    finally:
        ray_executor.shutdown()
        ray.shutdown()
        client.close()  # type: ignore[no-untyped-call]
        cluster.close()


if __name__ == "__main__":
    main()
