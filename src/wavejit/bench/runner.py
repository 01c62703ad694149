"""Run the scenarios: every peer, side by side, in one process and one run.

The server runs in its own process (`wavejit.bench.server.ServerProcess`); every peer
keeps what a program would keep for its whole life, created before any timed call: the
clients, the event loop, its thread pool (`wavejit.bench.clients.Clients`), and for
wavejit the decorated function. For each scenario:

1. **plain** runs once, untimed: its result is the reference, and the server's record
   of its requests gives the latencies the scenario's ideal (critical path) is computed
   from (the latencies the server's model assigned, `ServedRequest.planned`). This
   call is also plain's warm-up.
2. Every other peer gets one untimed warm-up call too, checked against the reference;
   for wavejit that is the first call of the freshly decorated function, which (when
   no fresh-process measurement is asked for) is timed as **wavejit first**.
3. With `ColdStart`: each peer's first call in a fresh process (`wavejit.bench.cold`),
   its result checked too; wavejit's is the **wavejit first** figure.
4. ``repeat`` rounds (at least 5 in the CLI), each timing every peer once; round ``r``
   starts at peer ``r`` of the list (rotated), so neither drift in the machine's load
   nor the position after a given peer favours anyone. Every sample is kept; tables
   show the median and the min / max. The timeline is the last round's warm jit call:
   its deferred calls (``fn.last_run``) and the server's record of its requests.

Every result is compared with plain's; a difference raises `ResultMismatch`. Against a
real provider (non-deterministic answers) only the result's shape is compared.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any, Protocol

import wavejit

from .clients import Clients
from .cold import ColdStart, measure_cold
from .latency import LatencyModel
from .results import (
    JIT_FIRST,
    JIT_WARM,
    PLAIN,
    BenchResult,
    ScenarioResult,
    Span,
)
from .scenarios import Scenario
from .server import ServedRequest

__all__ = ["ResultMismatch", "RequestLog", "resolve_jit", "run_scenario", "run_all"]


class ResultMismatch(wavejit.WavejitError, AssertionError):
    """A peer returned something other than what plain sequential Python returned."""


class RequestLog(Protocol):
    """What the runner needs of a server: `BenchServer` or `ServerProcess`."""

    model: LatencyModel

    @property
    def base_url(self) -> str: ...

    def mark(self) -> int: ...

    def requests_since(self, mark: int, until: int | None = None) -> list[ServedRequest]: ...


def resolve_jit() -> tuple[Callable[[Any], Any], bool]:
    """``wavejit.jit`` and True (kept for callers that used to check its presence)."""
    return wavejit.jit, True


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
    server: RequestLog,
    clients: Clients,
    *,
    repeat: int = 5,
    jit: Callable[[Any], Any] | None = None,
    warmup: bool = True,
    cold: ColdStart | None = None,
    log: Callable[[str], None] | None = None,
) -> ScenarioResult:
    """Time every applicable peer on one scenario; check each result against plain's.

    ``warmup=False`` skips the untimed warm-up calls of the peers other than plain and
    wavejit (a smoke run); ``cold`` measures each peer's first call in a fresh process.
    """
    say = log if log is not None else (lambda message: None)
    decorate = jit if jit is not None else wavejit.jit
    exact = not (scenario.uses_llm and clients.real_provider)
    repeat = max(1, repeat) * scenario.repeat_factor
    calls = scenario.peer_calls(clients)
    out = ScenarioResult(scenario.name, scenario.title, scenario.fan_out)
    if not exact:
        out.notes.append("real provider: results compared by shape only")

    # 1. plain, untimed: the reference result and the latencies of its requests.
    say(f"{scenario.name}: plain (reference)")
    mark = server.mark()
    reference = calls[PLAIN]()
    latencies = [r.planned or r.latency for r in server.requests_since(mark)]

    # 2. warm-ups: the jit's is the first call of the freshly decorated function.
    jitted = decorate(scenario.plain)
    plain_args = scenario.args(clients)
    calls[JIT_WARM] = lambda: jitted(*plain_args)
    say(f"{scenario.name}: wavejit first call")
    wall, result = _timed(calls[JIT_WARM])
    _check(scenario, JIT_FIRST, result, reference, exact=exact)
    out.samples[JIT_FIRST] = [wall]
    for name, call in calls.items():
        if warmup and name not in (PLAIN, JIT_WARM):
            say(f"{scenario.name}: {name} (warm-up)")
            _check(scenario, name, call(), reference, exact=exact)

    # 3. each peer's first call in a fresh process.
    if cold is not None:
        for name in calls:
            peer = JIT_FIRST if name == JIT_WARM else name
            if cold.peers is not None and peer not in cold.peers:
                continue
            say(f"{scenario.name}: {peer} (fresh process)")
            wall, result = measure_cold(cold, scenario.name, peer)
            _check(scenario, f"{peer} (fresh process)", result, reference, exact=exact)
            out.cold[peer] = wall
        if JIT_FIRST in out.cold:
            out.samples[JIT_FIRST] = [out.cold[JIT_FIRST]]

    # 4. rotated rounds.
    names = list(calls)
    for name in names:
        out.samples[name] = []
    origin, before, after = time.perf_counter(), 0, 0
    for round_ in range(repeat):
        say(f"{scenario.name}: round {round_ + 1} of {repeat}")
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            last_jit = name == JIT_WARM and round_ == repeat - 1
            if last_jit:  # the server's record is read outside the timed call
                before, origin = server.mark(), time.perf_counter()
            wall, result = _timed(calls[name])
            if last_jit:
                after = server.mark()
            _check(scenario, name, result, reference, exact=exact)
            out.samples[name].append(wall)
    out.timeline = _timeline_from_jit(jitted, origin)
    out.server_timeline = [
        Span(r.label, r.arrived - origin, r.finished - origin)
        for r in server.requests_since(before, after)
    ]

    if scenario.uses_llm and clients.real_provider:
        out.notes.append("ideal unknown: the provider does not report its latencies")
    else:
        out.ideal = scenario.ideal(latencies, statistics.median(out.samples[PLAIN]))
    if latencies and scenario.fan_out:
        outside = (min(out.samples[PLAIN]) - sum(latencies)) / len(latencies)
        out.notes.append(
            f"plain spends {outside * 1e3:.2f} ms per request beyond the latency the server "
            "was to apply (client and server Python, loopback, timer overshoot)"
        )
    return out


def run_all(
    scenarios: Sequence[Scenario],
    server: RequestLog,
    clients: Clients,
    *,
    repeat: int = 5,
    cold: ColdStart | None = None,
    settings: dict[str, Any] | None = None,
    log: Callable[[str], None] | None = None,
) -> BenchResult:
    results = [
        run_scenario(s, server, clients, repeat=repeat, cold=cold, log=log) for s in scenarios
    ]
    info = dict(settings or {})
    info.setdefault("latency_model", asdict(server.model))
    info.setdefault("repeat", repeat)
    return BenchResult(results, info, True)
