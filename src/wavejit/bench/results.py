"""What a benchmark run produces: plain data, serialisable to JSON."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = ["PEERS", "Span", "ScenarioResult", "BenchResult"]

PLAIN = "plain"
THREADPOOL = "threadpool"
ASYNCIO = "asyncio"
DASK = "dask"
JIT_FIRST = "wavejit first"
JIT_WARM = "wavejit warm"
PEERS = (PLAIN, THREADPOOL, ASYNCIO, DASK, JIT_FIRST, JIT_WARM)


@dataclass(frozen=True)
class Span:
    """One call in a timeline, in seconds from the start of the run."""

    name: str
    start: float
    end: float


@dataclass
class ScenarioResult:
    name: str
    title: str
    fan_out: int | None
    samples: dict[str, list[float]] = field(default_factory=dict)
    ideal: float | None = None
    # One warm jitted run: its deferred calls (from ``fn.last_run``, empty when the JIT
    # records none) and the requests the server saw during it.
    timeline: list[Span] = field(default_factory=list)
    server_timeline: list[Span] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def wall(self, peer: str) -> float | None:
        """The median wall time of a peer, None when it does not apply."""
        samples = self.samples.get(peer)
        return statistics.median(samples) if samples else None

    def speedup(self, peer: str, baseline: str = PLAIN) -> float | None:
        """How many times faster ``peer`` is than ``baseline`` (>1 is faster)."""
        wall, base = self.wall(peer), self.wall(baseline)
        if wall is None or base is None or wall <= 0:
            return None
        return base / wall

    def efficiency(self, peer: str) -> float | None:
        """ideal / measured: 1.0 means the peer reached the critical path."""
        wall = self.wall(peer)
        if wall is None or self.ideal is None or wall <= 0:
            return None
        return self.ideal / wall

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["wall"] = {peer: self.wall(peer) for peer in self.samples}
        data["speedup_vs_plain"] = {peer: self.speedup(peer) for peer in self.samples}
        data["speedup_vs_threadpool"] = {
            peer: self.speedup(peer, THREADPOOL) for peer in self.samples
        }
        data["efficiency"] = {peer: self.efficiency(peer) for peer in self.samples}
        return data


@dataclass
class BenchResult:
    scenarios: list[ScenarioResult]
    settings: dict[str, Any]
    jit_available: bool

    def to_dict(self) -> dict[str, Any]:
        return {
            "settings": self.settings,
            "jit_available": self.jit_available,
            "peers": list(PEERS),
            "scenarios": [s.to_dict() for s in self.scenarios],
        }
