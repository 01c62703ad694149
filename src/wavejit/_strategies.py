"""Strategies: planners deciding, per call site and callee, whether to defer.

Evidence in: what is known of the callee statically (`CalleeInfo`), the site's shape in
the AST (`SiteFeatures`), and its measurements so far (wall and thread CPU time).
A verdict out: defer, run inline, or run inline and measure. Every strategy gives the
same answers (deferral never changes results); they differ only in how much runs
concurrently, and from which call on.

* ``structural`` - no execution: defer exactly the calls whose callee is known I/O
  (registry, source scan, Operator composition). Never measures.
* ``trace`` - one profiled run: the first invocation runs every candidate inline and
  measures it; from then on the calls measured I/O-bound are deferred.
* ``io_aware`` - static hints confirmed by timing: hinted calls are deferred from the
  first call; unknown callees are measured and promoted when I/O-bound; a hinted
  callee measured CPU-bound is demoted.
* ``enhanced`` - ``io_aware`` plus the ensemble shape: a call whose callee is a loop
  variable (``[m(q) for m in models]``) is deferred from the first call even without
  a hint (then confirmed or demoted by timing). A map over a collection with one
  unknown callee needs no speculation: its first call is measured and the rest of
  the map deferred.
* ``auto`` - picks one from the function's features (`select`); ``trace`` only when
  asked for.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from ._hints import CalleeInfo

__all__ = ["SiteFeatures", "FunctionFeatures", "Verdict", "Strategy", "STRATEGIES", "select"]

# A deferred callee is re-judged once this many of its calls have been measured.
PROFILE_CALLS = 3


@dataclass(frozen=True)
class SiteFeatures:
    """The shape of one call site in the source."""

    in_loop: bool = False  # inside a for / while loop or a comprehension
    ensemble: bool = False  # the callee itself is a loop variable: [m(q) for m in models]


@dataclass(frozen=True)
class FunctionFeatures:
    """Features of a jitted function, from its AST and its callees' static analysis."""

    sites: int
    static_io_sites: int
    loop_sites: int
    ensemble_sites: int
    operator: bool

    def describe(self) -> str:
        sites = "candidate call site" if self.sites == 1 else "candidate call sites"
        ensembles = "ensemble site" if self.ensemble_sites == 1 else "ensemble sites"
        return (f"{self.sites} {sites}, {self.static_io_sites} with a known I/O callee, "
                f"{self.loop_sites} in loops, {self.ensemble_sites} {ensembles} (calling a "
                f"loop variable), Operator.forward: {self.operator}")


@dataclass(frozen=True)
class Verdict:
    defer: bool
    profile: bool
    reason: str


class MeasurementLike(Protocol):
    calls: int

    @property
    def io_bound(self) -> bool: ...

    def describe(self) -> str: ...


class Strategy:
    """A planner: `verdict` for one callee at one site. Subclasses set the policy."""

    name = "strategy"
    uses_hints = True
    measures = True
    speculates = False

    def verdict(self, info: CalleeInfo, measured: MeasurementLike | None,
                site: SiteFeatures) -> Verdict:
        measured_enough = measured is not None and measured.calls >= PROFILE_CALLS
        if measured is not None and measured.calls and self.measures:
            if measured.io_bound:
                hint = f"{info.reason}; confirmed, " if info.io and self.uses_hints else ""
                return Verdict(True, False, hint + measured.describe())
            if measured_enough and not info.declared:
                return Verdict(False, False, f"{measured.describe()}"
                               + ("; demoted despite the hint" if info.io else ""))
        if info.io and self.uses_hints:
            return Verdict(True, False, info.reason)
        if self.speculates and site.ensemble and info.io is None:
            return Verdict(True, False, "ensemble site (the callee is a loop variable): "
                           "deferred speculatively, confirmed by timing")
        return Verdict(False, self.measures and not measured_enough, info.reason)


class Structural(Strategy):
    name = "structural"
    measures = False


class Trace(Strategy):
    name = "trace"
    uses_hints = False


class IOAware(Strategy):
    name = "io_aware"


class Enhanced(Strategy):
    name = "enhanced"
    speculates = True


STRATEGIES: dict[str, Strategy] = {
    s.name: s for s in (Structural(), Trace(), IOAware(), Enhanced())
}


def select(features: FunctionFeatures) -> tuple[Strategy, str]:
    """The ``auto`` rule, on real features (AST and static analysis, not text).

    Known I/O -> io_aware (the first call is already concurrent); an ensemble or map
    shape -> enhanced; an Operator's forward -> structural; otherwise io_aware too:
    what the compile could not resolve (``orchestrator.process(task)``, a method of a
    local object) is often a helper whose source, scanned at its first call, shows I/O;
    `trace` would ignore that hint and run the whole first call in order, measuring.
    (Callees with no hint are measured either way: the two differ only in hints.)
    """
    if features.static_io_sites:
        return STRATEGIES["io_aware"], "known I/O callees: static hints, confirmed by timing"
    if features.ensemble_sites:
        return STRATEGIES["enhanced"], "ensemble shape (calls a loop variable) without known I/O"
    if features.operator:
        return STRATEGIES["structural"], "an Operator's forward: composition decides"
    return STRATEGIES["io_aware"], ("nothing known statically: each callee judged at its "
                                    "first call (its source scanned; unknown ones measured)")

