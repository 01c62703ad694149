"""Scheduling overhead and critical-path tracking of wavejit's schedulers.

Run: ``.venv/bin/python benchmarks/bench_scheduling.py [--repeat N]``. Not a test: it
prints figures measured side by side in one run, so the ratios are what matter.

1. Overhead per node on 1000-node graphs of no-op calls (a fan-out: one root, 998
   leaves, one join; and a chain of 1000): the dataflow scheduler on the shared pool vs
   a hand-written dataflow loop on a ``concurrent.futures.ThreadPoolExecutor`` vs
   ``dask.delayed`` computed with Dask's threaded scheduler. Each figure is the median
   of N runs of an already-built graph. Targets: at most 1.5x the hand-written loop,
   at most a quarter of Dask.
2. Unbalanced branches: A = a 300 ms call then a 10 ms call; B = three chained 100 ms
   calls; both join. Critical path 310 ms: dataflow should be within 5% of it; the wave
   scheduler waits for the slowest call of each wave (about 500 ms).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import queue
import statistics
import time
from collections.abc import Callable
from typing import Any

from wavejit import Graph

N = 1000


def noop(*_: Any) -> None:
    return None


def fan_out() -> list[list[int]]:
    """Dependencies by index: a root, N - 2 leaves on it, a join of all leaves."""
    return [[]] + [[0] for _ in range(N - 2)] + [list(range(1, N - 1))]


def chain() -> list[list[int]]:
    return [[]] + [[i - 1] for i in range(1, N)]


def median_seconds(run: Callable[[], object], repeat: int) -> float:
    run()  # warm up: threads started, caches filled
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def wavejit_runner(deps: list[list[int]]) -> Callable[[], object]:
    g = Graph()
    nodes = []
    for ds in deps:
        nodes.append(g.add(noop, *[nodes[d] for d in ds]))
    return g.run


def handwritten_runner(
    deps: list[list[int]], pool: concurrent.futures.ThreadPoolExecutor
) -> Callable[[], object]:
    """The loop one would write by hand: count inputs, submit what is ready, collect
    completions from a queue fed by done-callbacks."""
    dependents: list[list[int]] = [[] for _ in deps]
    for i, ds in enumerate(deps):
        for d in ds:
            dependents[d].append(i)

    def run() -> list[Any]:
        waiting = [len(ds) for ds in deps]
        values: list[Any] = [None] * len(deps)
        finished: queue.SimpleQueue[tuple[int, concurrent.futures.Future[Any]]] = (
            queue.SimpleQueue())

        def submit(i: int) -> None:
            future = pool.submit(noop, *[values[d] for d in deps[i]])
            future.add_done_callback(lambda f, i=i: finished.put((i, f)))

        for i, ds in enumerate(deps):
            if not ds:
                submit(i)
        for _ in range(len(deps)):
            i, future = finished.get()
            values[i] = future.result()
            for j in dependents[i]:
                waiting[j] -= 1
                if not waiting[j]:
                    submit(j)
        return values

    return run


def dask_runner(deps: list[list[int]]) -> Callable[[], object] | None:
    try:
        import dask
    except ImportError:
        return None
    nodes: list[Any] = []
    for ds in deps:
        nodes.append(dask.delayed(noop, pure=False)(*[nodes[d] for d in ds]))
    last = nodes[-1]
    return lambda: dask.compute(last, scheduler="threads")


def overhead(repeat: int) -> None:
    print(f"Scheduling overhead per node, {N}-node no-op graphs, median of {repeat} runs")
    print(f"{'graph':8} {'wavejit':>10} {'by hand':>10} {'dask':>10} "
          f"{'/by hand':>9} {'/dask':>7}")
    with concurrent.futures.ThreadPoolExecutor() as pool:
        for label, deps in (("fan-out", fan_out()), ("chain", chain())):
            ours = median_seconds(wavejit_runner(deps), repeat) / N * 1e6
            hand = median_seconds(handwritten_runner(deps, pool), repeat) / N * 1e6
            runner = dask_runner(deps)
            dask_us = median_seconds(runner, repeat) / N * 1e6 if runner else float("nan")
            print(f"{label:8} {ours:8.1f}us {hand:8.1f}us {dask_us:8.1f}us "
                  f"{ours / hand:8.2f}x {ours / dask_us:6.2f}x")
    print("  targets: /by hand <= 1.50x, /dask <= 0.25x\n")


def step(seconds: float, *_: Any) -> float:
    time.sleep(seconds)
    return seconds


def unbalanced(repeat: int) -> None:
    g = Graph()
    a = g.add(step, 0.3, name="a1")
    a = g.add(step, 0.01, a, name="a2")
    b = g.add(step, 0.1, name="b1")
    b = g.add(step, 0.1, b, name="b2")
    b = g.add(step, 0.1, b, name="b3")
    g.add(step, 0.0, a, b, name="join")
    critical, path = g.critical_path({n: n.args[0] for n in g})
    print(f"Unbalanced branches: critical path {critical * 1e3:.0f} ms "
          f"({' -> '.join(n.name for n in path)}), median of {repeat} runs")
    for scheduler in ("dataflow", "wave", "async"):
        seconds = median_seconds(lambda s=scheduler: g.run(scheduler=s), repeat)
        print(f"  {scheduler:9} {seconds * 1e3:6.1f} ms  {seconds / critical:5.3f}x "
              "the critical path")
    print("  target: dataflow <= 1.05x the critical path\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=9, help="runs per figure")
    args = parser.parse_args()
    overhead(args.repeat)
    unbalanced(max(3, args.repeat // 3))


if __name__ == "__main__":
    main()
