"""Plain-data reports: `Report` (what ``explain()`` returns) and `RunRecord`.

Readable with ``str()``, structured through their fields, exportable (Mermaid,
Chrome / Perfetto trace JSON). No behaviour here.

One style throughout: what a record *is* or *measures* is an attribute or a property
(``calls``, ``wall``, ``waves``, ``critical_path``, ``predicted_speedup``); exports
are methods, ``to_*()`` returning text and ``write_*(path)`` writing a file.
"""

from __future__ import annotations

import graphlib
import json
import os
from dataclasses import dataclass, field

__all__ = ["Report", "SiteReport", "RunRecord", "CallRecord", "Stall"]


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 call"``, ``"2 calls"``."""
    return f"{count} {noun if count == 1 else nouns or noun + 's'}"


@dataclass(frozen=True)
class CallRecord:
    """One deferred call of an invocation; times are ``time.perf_counter()`` seconds."""

    name: str
    site: str
    started: float
    finished: float
    thread: str
    cancelled: bool = False
    failed: bool = False
    deps: tuple[int, ...] = ()  # indices of the calls it waited for

    @property
    def seconds(self) -> float:
        return max(0.0, self.finished - self.started)


@dataclass(frozen=True)
class Stall:
    """The function's own code stopped to wait for a deferred call's result while
    calls it makes later had not been issued yet: the waits that serialized them.

    ``line``: where it waited (the function's line, or a helper's of the program);
    ``waited_for``: the call (its site); ``issued_after``: deferred calls made after
    the wait, which could have overlapped with the one waited for had the wait come
    after them.
    """

    line: str
    waited_for: str
    seconds: float
    issued_after: int

    def __str__(self) -> str:
        one = self.issued_after == 1
        return (f"{self.line} waited {1000 * self.seconds:.0f} ms for {self.waited_for}; "
                f"{plural(self.issued_after, 'deferred call')} made after it could have "
                f"run during the wait if {'it does' if one else 'they do'} not need its "
                f"result (make {'it' if one else 'them'} first)")


@dataclass(frozen=True)
class RunRecord:
    """The deferred calls of one invocation, with its wall time.

    ``stale`` is set on the record `JitFunction.last_run` keeps after the function has
    gone plain: it describes an invocation from before, not the latest call.
    """

    function: str
    started: float
    finished: float
    calls: list[CallRecord]
    stale: bool = False
    wasted: int = 0  # calls issued ahead (speculate=True) for loop items never reached
    stalls: list[Stall] = field(default_factory=list)  # longest first (see `Stall`)

    @property
    def wall(self) -> float:
        """The invocation's wall time, seconds."""
        return self.finished - self.started

    @property
    def sum_of_calls(self) -> float:
        """The deferred calls' durations added up, seconds."""
        return sum(c.seconds for c in self.calls)

    @property
    def waves(self) -> list[list[int]]:
        """Call indices by topological level of their dependencies (graphlib)."""
        sorter = graphlib.TopologicalSorter({i: c.deps for i, c in enumerate(self.calls)})
        sorter.prepare()
        waves = []
        while sorter.is_active():
            ready = sorted(sorter.get_ready())
            waves.append(ready)
            sorter.done(*ready)
        return waves

    @property
    def critical_path(self) -> tuple[float, list[CallRecord]]:
        """``(seconds, calls)``: the longest chain of dependent calls, by measured
        duration (the same shape as `Graph.critical_path`'s answer)."""
        best: dict[int, tuple[float, list[int]]] = {}
        for wave in self.waves:
            for i in wave:
                call = self.calls[i]
                before = max((best[d] for d in call.deps), default=(0.0, []),
                             key=lambda entry: entry[0])
                best[i] = (before[0] + call.seconds, [*before[1], i])
        if not best:
            return 0.0, []
        length, path = max(best.values(), key=lambda entry: entry[0])
        return length, [self.calls[i] for i in path]

    @property
    def predicted_speedup(self) -> float:
        """Sum of the calls' durations over the critical path: the best overlap allows."""
        length, _ = self.critical_path
        return self.sum_of_calls / length if length > 0 else 1.0

    @property
    def achieved_speedup(self) -> float:
        """Sum of the deferred calls' durations over the invocation's wall time."""
        return self.sum_of_calls / self.wall if self.wall > 0 else 1.0

    def write_chrome_trace(self, path: str | os.PathLike[str]) -> None:
        """Write `to_chrome_trace()` to `path` (open it in ui.perfetto.dev or
        chrome://tracing)."""
        with open(path, "w", encoding="utf-8") as file:
            file.write(self.to_chrome_trace())

    def to_chrome_trace(self) -> str:
        """Chrome / Perfetto trace JSON (open in chrome://tracing or ui.perfetto.dev)."""
        events = []
        threads = {name: i for i, name in enumerate(sorted({c.thread for c in self.calls}))}
        for c in self.calls:
            if c.cancelled:
                continue
            events.append({
                "name": c.name, "cat": "wavejit", "ph": "X",
                "ts": (c.started - self.started) * 1e6, "dur": c.seconds * 1e6,
                "pid": 1, "tid": threads.get(c.thread, 0), "args": {"site": c.site},
            })
        return json.dumps({"traceEvents": events, "displayTimeUnit": "ms"})

    def to_mermaid(self) -> str:
        """A Gantt chart of the calls, in Mermaid syntax."""
        lines = ["gantt", f"    title {self.function}", "    dateFormat x",
                 "    axisFormat %L ms"]
        for i, c in enumerate(self.calls):
            start = int((c.started - self.started) * 1000)
            end = max(start + 1, int((c.finished - self.started) * 1000))
            lines.append(f"    {c.name.replace(':', ' ')} #{i} : {start}, {end}")
        return "\n".join(lines)

    def __str__(self) -> str:
        return (f"{self.function}: {plural(len(self.calls), 'deferred call')}, wall "
                f"{1000 * self.wall:.1f} ms, sum of calls {1000 * self.sum_of_calls:.1f} ms "
                f"(x{self.achieved_speedup:.2f})"
                + (" - from before the function went plain" if self.stale else ""))


@dataclass(frozen=True)
class SiteReport:
    """One candidate call site: its calls and the verdict per callee."""

    label: str
    deferred_calls: int
    inline_calls: int
    # (callee, deferred?, reason, (mean wall s, mean CPU s) or None)
    verdicts: list[tuple[str, bool, str, tuple[float, float] | None]]


@dataclass(frozen=True)
class Report:
    """What ``fn.explain()`` returns."""

    function: str
    strategy: str
    strategy_reason: str | None
    features: str | None
    status: str  # "rewritten", "plain", or "not compiled yet..."
    reason: str | None
    fallback: bool
    compile_seconds: float | None
    invocations: int
    sites: list[SiteReport] = field(default_factory=list)
    last_run: RunRecord | None = None
    # Process-wide provider limits that acted: throttling, 429s, re-issues (_limits).
    limits: list[str] = field(default_factory=lambda: _limits_lines())
    # Each for loop: issued ahead and retired in order, or why it runs in order.
    loops: list[str] = field(default_factory=list)

    @property
    def deferred_sites(self) -> list[SiteReport]:
        return [s for s in self.sites if any(v[1] for v in s.verdicts)]

    def __str__(self) -> str:
        lines = [f"wavejit.jit {self.function}", f"  status: {self.status}",
                 f"  strategy: {self.strategy}"
                 + (f" - {self.strategy_reason}" if self.strategy_reason else "")]
        if self.features:
            lines.append(f"  features: {self.features}")
        if self.reason:
            kind = "fallback" if self.fallback else "reason"
            lines.append(f"  {kind}: {self.reason}")
        if self.compile_seconds is not None:
            lines.append(f"  compiled in {1000 * self.compile_seconds:.2f} ms; "
                         f"{plural(self.invocations, 'invocation')} of the rewritten code")
        if self.sites:
            lines.append("  call sites:")
        for s in self.sites:
            lines.append(f"    {s.label}  [{s.deferred_calls} deferred, "
                         f"{s.inline_calls} inline]")
            for callee, deferred, reason, _timing in s.verdicts:
                verdict = "deferred" if deferred else "inline"
                lines.append(f"      {callee}: {verdict} - {reason}")
        if self.loops:
            lines.append("  loops:")
            lines.extend(f"    {line}" for line in self.loops)
        if self.last_run is not None:
            lines.append(f"  last run: {self.last_run}")
            lines.append(f"  predicted speedup (sum of calls / critical path): "
                         f"x{self.last_run.predicted_speedup:.2f}")
            if self.last_run.stalls:
                lines.append("  waits that kept later calls from starting (last run):")
                lines.extend(f"    {stall}" for stall in self.last_run.stalls[:5])
        if self.limits:
            lines.append("  provider limits (process-wide):")
            lines.extend(f"    {line}" for line in self.limits)
        return "\n".join(lines)


def _limits_lines() -> list[str]:
    from ._limits import snapshot

    return [f"{key}: limit {state['limit']:g}, peak {state['peak']:g} in flight, "
            f"{state['throttled']:g} of {state['calls']:g} calls waited, "
            f"{state['refused']:g} refused (429), {state['reissued']:g} re-issued"
            for key, state in snapshot().items()
            if state["throttled"] or state["refused"] or state["limit"] != float("inf")]
