"""Run the scenarios: every peer, side by side, in one process and one run.

For each scenario, in this order:

1. **plain** runs once; its result is the reference, and the server's record of its
   requests gives the latencies the scenario's ideal (critical path) is computed from.
2. **threadpool**, **asyncio**, **dask**: one untimed warm-up call each (their
   connection pools then are as warm as wavejit's are for its warm calls); then
   **wavejit first**: the first call of a freshly decorated function.
3. ``repeat`` rounds, each timing plain, the hand-written peers and **wavejit warm**
   once, interleaved so that changes in the machine's load hit every peer alike. A
   peer's wall time is the median of its samples. The timeline is taken from the last
   warm call: the JIT's record of its deferred calls (``fn.last_run``, if any) and the
   server's request log.

Every result is compared with plain's; a difference raises `ResultMismatch`. Against a
real provider (non-deterministic answers) only the result's shape is compared.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, TypeVar

import wavejit

from .clients import Clients
from .results import (
    ASYNCIO,
    DASK,
    JIT_FIRST,
    JIT_WARM,
    PLAIN,
    THREADPOOL,
    BenchResult,
    ScenarioResult,
    Span,
)
from .scenarios import Scenario
from .server import BenchServer

__all__ = ["ResultMismatch", "resolve_jit", "run_scenario", "run_all"]

F = TypeVar("F", bound=Callable[..., Any])


class ResultMismatch(wavejit.WavejitError, AssertionError):
    """A peer returned something other than what plain sequential Python returned."""


# --- FALLBACK: delete this block once wavejit.jit exists ---------------------------------
def _identity(fn: F) -> F:
    return fn


def resolve_jit() -> tuple[Callable[[Any], Any], bool]:
    """``wavejit.jit`` and True, or an identity decorator and False while it is missing."""
    jit = getattr(wavejit, "jit", None)
    if jit is None:
        print(
            "warning: wavejit.jit not available; the 'wavejit' rows time the undecorated function",
            file=sys.stderr,
        )
        return _identity, False
    return jit, True


# --- end FALLBACK -------------------------------------------------------------------------


def _check(scenario: Scenario, peer: str, result: Any, reference: Any, *, exact: bool) -> None:
    if exact:
        if result == reference:
            return
        detail = f"plain returned {reference!r:.300}, {peer} returned {result!r:.300}"
    else:
        if type(result) is type(reference) and _shape(result) == _shape(reference):
            return
        detail = f"shapes differ: plain {_shape(reference)}, {peer} {_shape(result)}"
    raise ResultMismatch(
        f"scenario {scenario.name!r}: {peer} does not return plain sequential's result ({detail})"
    )


def _shape(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _shape(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [len(value)]
    return type(value).__name__


def _timed(call: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = call()
    return time.perf_counter() - start, result


def _timeline_from_jit(fn: Any, origin: float) -> list[Span]:
    run = getattr(fn, "last_run", None)
    calls = getattr(run, "calls", None) if run is not None else None
    if not calls:
        return []
    return [
        Span(str(call.name), float(call.started) - origin, float(call.finished) - origin)
        for call in calls
        if not getattr(call, "cancelled", False)
    ]


def run_scenario(
    scenario: Scenario,
    server: BenchServer,
    clients: Clients,
    *,
    repeat: int = 3,
    jit: Callable[[Any], Any] | None = None,
    warmup: bool = True,
    log: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Time every applicable peer on one scenario; check each result against plain's."""
    say = log if log is not None else (lambda message: None)
    decorate = jit if jit is not None else resolve_jit()[0]
    exact = not (scenario.uses_llm and clients.real_provider)
    repeat = max(1, repeat) * scenario.repeat_factor
    args = scenario.args(clients)
    out = ScenarioResult(scenario.name, scenario.title, scenario.fan_out)
    if not exact:
        out.notes.append("real provider: results compared by shape only")

    # 1. plain once: the reference result, and the server latencies of its requests.
    say(f"{scenario.name}: plain")
    mark = server.mark()
    wall, reference = _timed(lambda: scenario.plain(*args))
    latencies = [r.latency for r in server.requests_since(mark)]
    out.samples[PLAIN] = [wall]

    # 2. untimed warm-ups of the hand-written peers, then wavejit's first call.
    peers: list[tuple[str, Callable[[], Any]]] = []
    if scenario.threadpool is not None:
        pool_fn = scenario.threadpool
        peers.append((THREADPOOL, lambda: pool_fn(*args)))
    if scenario.asyncio is not None and scenario.async_args is not None:
        async_fn, async_args = scenario.asyncio, scenario.async_args(clients)
        peers.append((ASYNCIO, lambda: clients.run(async_fn(*async_args))))
    if scenario.dask is not None:
        dask_fn = scenario.dask
        peers.append((DASK, lambda: dask_fn(*args)))
    for name, call in peers:
        out.samples[name] = []
        if warmup:
            say(f"{scenario.name}: {name} (warm-up)")
            _check(scenario, name, call(), reference, exact=exact)
    say(f"{scenario.name}: wavejit first call")
    jitted = decorate(scenario.plain)
    wall, result = _timed(lambda: jitted(*args))
    _check(scenario, JIT_FIRST, result, reference, exact=exact)
    out.samples[JIT_FIRST] = [wall]
    out.samples[JIT_WARM] = []

    # 3. rounds, each timing every peer once: drift in the machine's load then affects
    # all peers alike instead of whichever happened to run during it.
    origin = time.perf_counter()

    def warm_jit() -> Any:
        nonlocal mark, origin
        mark, origin = server.mark(), time.perf_counter()
        return jitted(*args)

    plain_repeat = min(repeat, scenario.plain_repeat or repeat)
    for round_ in range(repeat):
        say(f"{scenario.name}: round {round_ + 1} of {repeat}")
        timed = list(peers) + [(JIT_WARM, warm_jit)]
        if round_ < plain_repeat - 1:
            timed.insert(0, (PLAIN, lambda: scenario.plain(*args)))
        for name, call in timed:
            wall, result = _timed(call)
            _check(scenario, name, result, reference, exact=exact)
            out.samples[name].append(wall)
    out.timeline = _timeline_from_jit(jitted, origin)
    out.server_timeline = [
        Span(r.label, r.arrived - origin, r.finished - origin) for r in server.requests_since(mark)
    ]

    if scenario.uses_llm and clients.real_provider:
        out.notes.append("ideal unknown: the provider does not report its latencies")
    else:
        out.ideal = scenario.ideal(latencies, statistics.median(out.samples[PLAIN]))
    if latencies and scenario.fan_out:
        outside = (min(out.samples[PLAIN]) - sum(latencies)) / len(latencies)
        out.notes.append(
            f"plain spends {outside * 1e3:.1f} ms per request outside the server's latency "
            "(client and server Python, in this process); under the GIL that CPU time "
            "bounds every peer at large fan-out"
        )
    return out


def run_all(
    scenarios: Sequence[Scenario],
    server: BenchServer,
    clients: Clients,
    *,
    repeat: int = 3,
    settings: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    jit, available = resolve_jit()
    results = [run_scenario(s, server, clients, repeat=repeat, jit=jit, log=log) for s in scenarios]
    info = dict(settings or {})
    info.setdefault("latency_model", asdict(server.model))
    info.setdefault("repeat", repeat)
    return BenchResult(results, info, available)
