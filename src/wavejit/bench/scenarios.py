"""The scenarios: a plain function, its arguments, its hand-written peers, its ideal.

A `Scenario` binds one plain function from `wavejit.bench.workloads` to the clients of
a run, to the peers from `wavejit.bench.peers` that apply to it (None where a peer has
nothing to offer, e.g. a thread pool for a dependent chain) with their arguments (the
plain function's, after the peer's persistent pool), and to its *ideal*: the
wall time of the critical path, computed from the latencies the server applied to the
plain run's requests (in arrival order, which for the plain run is program order),
and plain's median wall time.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any

from . import peers, workloads
from .clients import Clients
from .results import ASYNCIO, DASK, PLAIN, THREADPOOL

__all__ = ["Scenario", "Settings", "build_scenarios", "SCENARIO_NAMES", "select"]

Args = Callable[[Clients], tuple[Any, ...]]
Ideal = Callable[[Sequence[float], float], float]


@dataclass(frozen=True)
class Settings:
    """Sizes of the workloads (latencies are the server's `LatencyModel`)."""

    sleep_seconds: float = 0.100
    documents: int = 20
    queries: int = 8
    cpu_rounds: int = 600
    cpu_texts: int = 2000
    fan_out_sizes: tuple[int, ...] = (10, 100, 1000)


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    plain: Callable[..., Any]
    args: Args
    ideal: Ideal
    threadpool: Callable[..., Any] | None = None
    asyncio: Callable[..., Coroutine[Any, Any, Any]] | None = None
    async_args: Args | None = None
    dask: Callable[..., Any] | None = None
    # The peers' arguments; None: the same as plain's (`args`).
    threadpool_args: Args | None = None
    dask_args: Args | None = None
    uses_llm: bool = False
    fan_out: int | None = None
    # Cheap scenarios whose differences are small get this many times more samples.
    repeat_factor: int = 1

    def peer_calls(self, clients: Clients) -> dict[str, Callable[[], Any]]:
        """Each applicable peer as a call with its arguments bound (plain's first)."""
        calls: dict[str, Callable[[], Any]] = {}
        args = self.args(clients)
        calls[PLAIN] = functools.partial(self.plain, *args)
        if self.threadpool is not None:
            pool_args = self.threadpool_args(clients) if self.threadpool_args else args
            calls[THREADPOOL] = functools.partial(self.threadpool, *pool_args)
        if self.asyncio is not None and self.async_args is not None:
            async_fn, async_args = self.asyncio, self.async_args(clients)
            calls[ASYNCIO] = lambda: clients.run(async_fn(*async_args))
        if self.dask is not None:
            dask_args = self.dask_args(clients) if self.dask_args else args
            calls[DASK] = functools.partial(self.dask, *dask_args)
        return calls


# -- ideals ---------------------------------------------------------------------------------


def _fan_then_one(latencies: Sequence[float], plain: float) -> float:
    """All calls but the last run together; the last waits for them."""
    return max(latencies[:-1]) + latencies[-1]


def _fan(latencies: Sequence[float], plain: float) -> float:
    return max(latencies)


def _chain(latencies: Sequence[float], plain: float) -> float:
    return sum(latencies)


def _no_io(latencies: Sequence[float], plain: float) -> float:
    return plain


def _mixed(rounds: int) -> Ideal:
    # A search result as the server makes them: 5 hits, titles of three words.
    sample = {"hits": [{"title": "amber basalt cedar"}] * 5}

    def ideal(latencies: Sequence[float], plain: float) -> float:
        # The CPU work on each result holds the GIL, so at best the shares run back to
        # back from the first reply on, and the slowest reply still needs its own share.
        share = min(_seconds(lambda: workloads.score_hits(sample, rounds)) for _ in range(5))
        return max(max(latencies) + share, min(latencies) + share * len(latencies))

    return ideal


def _seconds(work: Callable[[], object]) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


# -- the scenarios ----------------------------------------------------------------------------


def _documents(count: int) -> list[str]:
    return [
        f"Report {i}: quarterly figures for region {i % 7}, {3 * i + 1} incidents, "
        f"outlook {'stable' if i % 3 else 'improving'}."
        for i in range(count)
    ]


def _texts(count: int) -> list[str]:
    words = "the quick brown fox jumps over a lazy dog while seven wizards quietly judge".split()
    return [
        " ".join(words[(i * 7 + j * 3) % len(words)] for j in range(40)) + f". Note {i % 13}!"
        for i in range(count)
    ]


def build_scenarios(settings: Settings | None = None) -> list[Scenario]:
    """Every scenario, in the order the benchmark runs them."""
    s = settings if settings is not None else Settings()
    seconds = s.sleep_seconds
    question = "What is the fastest way to sort a million integers in Python?"
    documents = _documents(s.documents)
    queries = [f"topic {i}" for i in range(s.queries)]
    texts = _texts(s.cpu_texts)

    def sleep_ideal(latencies: Sequence[float], plain: float) -> float:
        return seconds

    scenarios = [
        Scenario(
            name="sleep_ensemble",
            title="3 x time.sleep",
            plain=workloads.sleep_ensemble,
            args=lambda c: (seconds,),
            ideal=sleep_ideal,
            threadpool=peers.pool_sleep_ensemble,
            threadpool_args=lambda c: (c.pool, seconds),
            dask_args=lambda c: (c.dask_pool, seconds),
            asyncio=peers.async_sleep_ensemble,
            async_args=lambda c: (seconds,),
            dask=peers.dask_sleep_ensemble,
        ),
        Scenario(
            name="llm_ensemble",
            title="5 chat completions, then a judge (openai SDK)",
            plain=workloads.llm_ensemble,
            args=lambda c: (c.llm, c.models, c.judge_model, question),
            ideal=_fan_then_one,
            threadpool=peers.pool_llm_ensemble,
            threadpool_args=lambda c: (c.pool, c.llm, c.models, c.judge_model, question),
            dask_args=lambda c: (c.dask_pool, c.llm, c.models, c.judge_model, question),
            asyncio=peers.async_llm_ensemble,
            async_args=lambda c: (c.allm, c.models, c.judge_model, question),
            dask=peers.dask_llm_ensemble,
            uses_llm=True,
        ),
        Scenario(
            name="api_aggregation",
            title="4 JSON endpoints, then a combining call (httpx)",
            plain=workloads.city_brief,
            args=lambda c: (c.http, "Lisbon"),
            ideal=_fan_then_one,
            threadpool=peers.pool_city_brief,
            threadpool_args=lambda c: (c.pool, c.http, "Lisbon"),
            dask_args=lambda c: (c.dask_pool, c.http, "Lisbon"),
            asyncio=peers.async_city_brief,
            async_args=lambda c: (c.ahttp, "Lisbon"),
            dask=peers.dask_city_brief,
        ),
        Scenario(
            name="map_reduce",
            title=f"{s.documents} summaries, then a streamed reduce (openai SDK)",
            plain=workloads.map_reduce,
            args=lambda c: (c.llm, c.models[0], documents),
            ideal=_fan_then_one,
            threadpool=peers.pool_map_reduce,
            threadpool_args=lambda c: (c.pool, c.llm, c.models[0], documents),
            dask_args=lambda c: (c.dask_pool, c.llm, c.models[0], documents),
            asyncio=peers.async_map_reduce,
            async_args=lambda c: (c.allm, c.models[0], documents),
            dask=peers.dask_map_reduce,
            uses_llm=True,
        ),
        Scenario(
            name="mixed",
            title=f"{s.queries} searches, each followed by CPU work on its result",
            plain=workloads.mixed_search,
            args=lambda c: (c.http, queries, s.cpu_rounds),
            ideal=_mixed(s.cpu_rounds),
            threadpool=peers.pool_mixed_search,
            threadpool_args=lambda c: (c.pool, c.http, queries, s.cpu_rounds),
            dask_args=lambda c: (c.dask_pool, c.http, queries, s.cpu_rounds),
            asyncio=peers.async_mixed_search,
            async_args=lambda c: (c.ahttp, queries, s.cpu_rounds),
            dask=peers.dask_mixed_search,
        ),
        Scenario(
            name="cpu_only",
            title=f"word statistics over {s.cpu_texts} texts, no I/O",
            plain=workloads.text_stats,
            args=lambda c: (texts,),
            ideal=_no_io,
            repeat_factor=5,
        ),
        Scenario(
            name="chain",
            title="4 dependent chat completions (openai SDK)",
            plain=workloads.refine_chain,
            args=lambda c: (c.llm, c.models[0], question),
            ideal=_chain,
            asyncio=peers.async_refine_chain,
            async_args=lambda c: (c.allm, c.models[0], question),
            dask=peers.dask_refine_chain,
            dask_args=lambda c: (c.dask_pool, c.llm, c.models[0], question),
            uses_llm=True,
        ),
    ]
    scenarios.extend(_fan_out(size) for size in s.fan_out_sizes)
    return scenarios


def _fan_out(size: int) -> Scenario:
    return Scenario(
        name=f"fan_out_{size}",
        title=f"{size} independent GETs (httpx)",
        plain=workloads.fan_out,
        args=lambda c: (c.http, size),
        ideal=_fan,
        threadpool=peers.pool_fan_out,
        threadpool_args=lambda c: (c.pool, c.http, size),
        asyncio=peers.async_fan_out,
        async_args=lambda c: (c.ahttp, size),
        dask=peers.dask_fan_out,
        dask_args=lambda c: (c.dask_pool, c.http, size),
        fan_out=size,
    )


SCENARIO_NAMES = (
    "sleep_ensemble",
    "llm_ensemble",
    "api_aggregation",
    "map_reduce",
    "mixed",
    "cpu_only",
    "chain",
    "fan_out",
)


def select(scenarios: list[Scenario], names: Sequence[str] | None) -> list[Scenario]:
    """The scenarios named (``fan_out`` names every fan-out size); all when empty."""
    if not names:
        return scenarios
    chosen = []
    for scenario in scenarios:
        group = "fan_out" if scenario.fan_out is not None else scenario.name
        if scenario.name in names or group in names:
            chosen.append(scenario)
    unknown = set(names) - {s.name for s in scenarios} - set(SCENARIO_NAMES)
    if unknown:
        known = ", ".join(sorted({*SCENARIO_NAMES, *(s.name for s in scenarios)}))
        raise ValueError(f"unknown scenario(s): {', '.join(sorted(unknown))}; choose from {known}")
    return chosen
