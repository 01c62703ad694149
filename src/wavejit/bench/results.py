"""What a benchmark run produces: plain data, serialisable to JSON."""

from __future__ import annotations

import statistics
from dataclasses import asdict, dataclass, field
from typing import Any

__all__ = [
    "PEERS",
    "PLAIN",
    "THREADPOOL",
    "ASYNCIO",
    "DASK",
    "JIT_FIRST",
    "JIT_WARM",
    "Span",
    "ScenarioResult",
    "BenchResult",
]

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
    # Timed calls per peer, after one untimed warm-up call each. JIT_FIRST holds the
    # first call of a freshly decorated function (from `cold` when that was measured).
    samples: dict[str, list[float]] = field(default_factory=dict)
    # Each peer's first call in a fresh process (clients and pools created untimed
    # before it, as at a program's start-up); the jit's under JIT_FIRST.
    cold: dict[str, float] = field(default_factory=dict)
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

    def spread(self, peer: str) -> tuple[float, float, float] | None:
        """(min, median, max) of a peer's samples, None when it does not apply."""
        samples = self.samples.get(peer)
        if not samples:
            return None
        return min(samples), statistics.median(samples), max(samples)

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
        data["min"] = {peer: min(s) for peer, s in self.samples.items() if s}
        data["max"] = {peer: max(s) for peer, s in self.samples.items() if s}
        data["speedup_vs_plain"] = {peer: self.speedup(peer) for peer in self.samples}
        data["speedup_vs_threadpool"] = {
            peer: self.speedup(peer, THREADPOOL) for peer in self.samples
        }
        data["efficiency"] = {peer: self.efficiency(peer) for peer in self.samples}
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ScenarioResult:
        """The inverse of `to_dict` (its derived figures are recomputed, not read)."""
        return cls(
            name=data["name"],
            title=data["title"],
            fan_out=data["fan_out"],
            samples={peer: list(s) for peer, s in data["samples"].items()},
            cold=dict(data.get("cold", {})),
            ideal=data["ideal"],
            timeline=[Span(**span) for span in data["timeline"]],
            server_timeline=[Span(**span) for span in data["server_timeline"]],
            notes=list(data["notes"]),
        )


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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> BenchResult:
        """A result read back from the JSON `to_dict` wrote."""
        return cls(
            [ScenarioResult.from_dict(s) for s in data["scenarios"]],
            dict(data["settings"]),
            bool(data["jit_available"]),
        )
