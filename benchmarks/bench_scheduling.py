"""Scheduling overhead and critical-path tracking of wavejit's Graph schedulers.

Run: ``.venv/bin/python benchmarks/bench_scheduling.py [--rounds N] [--json PATH]``.
Not a test: it prints figures measured side by side in one run, so the ratios matter.

1. Overhead per node on 1000-node graphs of cheap calls (a fan-out: one root, 998
   leaves, one join; and a chain of 1000): ``Graph.run()`` (the dataflow scheduler on
   the shared pool) vs a hand-written dataflow loop on a persistent
   ``ThreadPoolExecutor`` vs ``dask.delayed`` computed with Dask's threaded scheduler.
   The hand-written loop is what a competent engineer writes: a node's done-callback
   counts down its dependents' missing inputs and submits the ready ones itself, on the
   worker that finished, and the caller only waits for the last node (no round trip
   through the calling thread per node). Every graph is built before it is timed and
   run once untimed; each round times the three once, the order rotated; every run's
   result is checked against a sequential evaluation. Targets: at most 1.5x the
   hand-written loop, at most a quarter of Dask.
2. Unbalanced branches: A = a 300 ms call then a 10 ms call; B = three chained 100 ms
   calls; both join. Critical path 310 ms: dataflow should be within 5% of it; the wave
   scheduler waits for the slowest call of each wave (about 500 ms).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import functools
import json
import os
import statistics
import sys
import threading
import time
from collections.abc import Callable
from typing import Any

import dask
from dask.base import compute as _dask_compute

from wavejit import Graph

N = 1000

# dask.compute / dask.delayed carry no annotations; their signatures as used here.
_compute: Callable[..., tuple[Any, ...]] = _dask_compute
_delayed: Callable[..., Any] = dask.delayed  # type: ignore[attr-defined]


def node(i: int, *inputs: int) -> int:
    """A cheap node: its index plus the sum of its inputs (so results can be checked)."""
    return i + sum(inputs)


def fan_out() -> list[list[int]]:
    """Dependencies by index: a root, N - 2 leaves on it, a join of all leaves."""
    return [[]] + [[0] for _ in range(N - 2)] + [list(range(1, N - 1))]


def chain() -> list[list[int]]:
    return [[]] + [[i - 1] for i in range(1, N)]


def sequential(deps: list[list[int]]) -> list[int]:
    """The reference: every node in index order (dependencies come first)."""
    values: list[int] = []
    for i, ds in enumerate(deps):
        values.append(node(i, *[values[d] for d in ds]))
    return values


def wavejit_runner(deps: list[list[int]]) -> Callable[[], list[int]]:
    g = Graph()
    nodes: list[Any] = []
    for i, ds in enumerate(deps):
        nodes.append(g.add(node, i, *[nodes[d] for d in ds]))

    def run() -> list[int]:
        results = g.run()
        return [results[n] for n in nodes]

    return run


def handwritten_runner(
    deps: list[list[int]], pool: concurrent.futures.ThreadPoolExecutor
) -> Callable[[], list[int]]:
    """Dataflow by hand: done-callbacks submit the dependents that became ready."""
    dependents: list[list[int]] = [[] for _ in deps]
    for i, ds in enumerate(deps):
        for d in ds:
            dependents[d].append(i)
    roots = [i for i, ds in enumerate(deps) if not ds]

    def run() -> list[int]:
        missing = [len(ds) for ds in deps]
        values: list[Any] = [None] * len(deps)
        left = [len(deps)]
        lock = threading.Lock()
        finished = threading.Event()
        failure: list[BaseException] = []

        def submit(i: int) -> None:
            future = pool.submit(node, i, *[values[d] for d in deps[i]])
            future.add_done_callback(functools.partial(done, i))

        def done(i: int, future: concurrent.futures.Future[int]) -> None:
            try:
                values[i] = future.result()
            except BaseException as exc:  # handed to the caller; dependents never run
                failure.append(exc)
                finished.set()
                return
            ready = []
            with lock:
                for j in dependents[i]:
                    missing[j] -= 1
                    if not missing[j]:
                        ready.append(j)
                left[0] -= 1
                last = not left[0]
            for j in ready:
                submit(j)
            if last:
                finished.set()

        for i in roots:
            submit(i)
        finished.wait()
        if failure:
            raise failure[0]
        return values

    return run


def dask_runner(deps: list[list[int]]) -> Callable[[], int]:
    nodes: list[Any] = []
    for i, ds in enumerate(deps):
        nodes.append(_delayed(node, pure=False)(i, *[nodes[d] for d in ds]))
    last = nodes[-1]
    return lambda: int(_compute(last, scheduler="threads")[0])


def timed_rounds(peers: dict[str, Callable[[], Any]], count: int,
                 check: Callable[[str, Any], None]) -> dict[str, list[float]]:
    """One untimed run each, then `count` rounds timing each once, order rotated."""
    for name, run in peers.items():
        check(name, run())
    names = list(peers)
    samples: dict[str, list[float]] = {name: [] for name in names}
    for r in range(count):
        shift = r % len(names)
        for name in names[shift:] + names[:shift]:
            start = time.perf_counter()
            result = peers[name]()
            samples[name].append(time.perf_counter() - start)
            check(name, result)
    return samples


def overhead(count: int) -> dict[str, dict[str, list[float]]]:
    out = {}
    with concurrent.futures.ThreadPoolExecutor() as pool:
        for label, deps in (("fan-out", fan_out()), ("chain", chain())):
            reference = sequential(deps)

            def check(name: str, result: Any, reference: list[int] = reference) -> None:
                expected = reference[-1] if name == "dask" else reference
                if result != expected:
                    raise AssertionError(f"{name} computed a different result")

            peers: dict[str, Callable[[], Any]] = {
                "wavejit": wavejit_runner(deps),
                "by hand": handwritten_runner(deps, pool),
                "dask": dask_runner(deps),
            }
            out[label] = timed_rounds(peers, count, check)
    return out


def step(seconds: float, *_: Any) -> float:
    time.sleep(seconds)
    return seconds


def unbalanced(count: int) -> dict[str, Any]:
    g = Graph()
    a = g.add(step, 0.3, name="a1")
    a = g.add(step, 0.01, a, name="a2")
    b = g.add(step, 0.1, name="b1")
    b = g.add(step, 0.1, b, name="b2")
    b = g.add(step, 0.1, b, name="b3")
    g.add(step, 0.0, a, b, name="join")
    critical, path = g.critical_path({n: n.args[0] for n in g})
    expected = g.run(scheduler="sequential").by_name()

    def check(name: str, result: Any) -> None:
        if result.by_name() != expected:
            raise AssertionError(f"{name} computed a different result")

    peers: dict[str, Callable[[], Any]] = {
        s: functools.partial(g.run, scheduler=s) for s in ("dataflow", "wave", "async")
    }
    return {"critical": critical, "path": [n.name for n in path],
            "samples": timed_rounds(peers, count, check)}


def _spread(values: list[float], scale: float, digits: int) -> str:
    scaled = sorted(v * scale for v in values)
    return (f"{statistics.median(scaled):.{digits}f} "
            f"({scaled[0]:.{digits}f}-{scaled[-1]:.{digits}f})")


def report(data: dict[str, Any]) -> list[str]:
    """The lines `main` prints, from the data `measure` returns (or its JSON)."""
    med = statistics.median
    lines = [f"Scheduling overhead per node (us), {N}-node graphs of cheap calls, "
             f"median (min-max) of {data['rounds']} rounds, order rotated, results checked"]
    for label, samples in data["overhead"].items():
        ours, hand, dask_ = (samples[k] for k in ("wavejit", "by hand", "dask"))
        lines.append(f"  {label:8} wavejit {_spread(ours, 1e6 / N, 1)}  by hand "
                     f"{_spread(hand, 1e6 / N, 1)}  dask {_spread(dask_, 1e6 / N, 1)}  "
                     f"wavejit/by hand {med(ours) / med(hand):.2f}x  "
                     f"wavejit/dask {med(ours) / med(dask_):.2f}x")
    lines.append("  targets: wavejit/by hand <= 1.50x, wavejit/dask <= 0.25x")
    missed = [f"{label} {versus}"
              for label, samples in data["overhead"].items()
              for versus, limit in (("by hand", 1.5), ("dask", 0.25))
              if med(samples["wavejit"]) / med(samples[versus]) > limit]
    u = data["unbalanced"]
    critical = u["critical"]
    lines.append(f"Unbalanced branches: critical path {critical * 1e3:.0f} ms "
                 f"({' -> '.join(u['path'])}), ms, median (min-max) of "
                 f"{data['unbalanced_rounds']} rounds")
    for scheduler, walls in u["samples"].items():
        lines.append(f"  {scheduler:9} {_spread(walls, 1e3, 1)}  "
                     f"{med(walls) / critical:.3f}x the critical path")
    lines.append("  target: dataflow <= 1.05x the critical path")
    if med(u["samples"]["dataflow"]) / critical > 1.05:
        missed.append("unbalanced dataflow")
    lines.append("targets missed: " + ", ".join(missed) if missed else "every target met")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--rounds", type=int, default=9, help="rounds per figure (>= 5)")
    parser.add_argument("--json", metavar="PATH", help="write every sample as JSON")
    args = parser.parse_args()
    unbalanced_rounds = max(5, args.rounds // 2)
    load_before = os.getloadavg()[0]
    data: dict[str, Any] = {
        "rounds": args.rounds,
        "unbalanced_rounds": unbalanced_rounds,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "overhead": overhead(args.rounds),
        "unbalanced": unbalanced(unbalanced_rounds),
    }
    # The 1-minute load average before and after: how busy the machine was besides us.
    data["load_average"] = [load_before, os.getloadavg()[0]]
    print("\n".join(report(data)))
    if args.json:
        with open(args.json, "w") as f:
            json.dump(data, f, indent=1)
            f.write("\n")
        print(f"JSON: {args.json}")


if __name__ == "__main__":
    main()
