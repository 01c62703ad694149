"""Compiled forms of a jitted function, and the tiers between them.

* **Tier 0**: the rewrite with every candidate call site hooked. Hooked sites decide
  per callee (static hints, measurements) and measure unknown callees.
* **Tier 1**: after `TIER1_AFTER` invocations that deferred calls, the function is
  rewritten again with only the sites that ever deferred hooked; every other call
  is a plain call again (no hook, no measurement), so glue runs at plain speed. A
  hooked site keeps a cheap guard (an identity check of its last callee); a callee
  it has never seen sends the function back to tier 0 from the next invocation
  (a re-profile).
* **Plain**: a function whose tier-0 code deferred nothing for `PLAIN_AFTER`
  invocations runs as the original function from then on.

Each `Version` holds its compiled function and its sites in index order; an
invocation keeps the version it started in, so switching tiers while other threads
run the function is safe. `Site` objects (decisions, counters) are shared by the
versions, matched by source position.
"""

from __future__ import annotations

import ast
import inspect
import logging
import os
import threading
import types
from typing import TYPE_CHECKING, Any

from ._compile import compile_function
from ._executors import SequentialExecutor, resolve_executor
from ._hints import callee_key, classify, is_safe_type
from ._operator import Operator
from ._report import CallRecord
from ._rewrite import SiteSpec
from ._runtime import Invocation
from ._sites import Site, measurement_of
from ._strategies import STRATEGIES, FunctionFeatures, SiteFeatures, select

if TYPE_CHECKING:
    from ._async_runtime import AsyncInvocation
    from ._jit import JitFunction

__all__ = ["CompiledFunction", "Version", "PLAIN_AFTER", "TIER1_AFTER", "call_records"]

log = logging.getLogger("wavejit")  # see _observe

# Invocations that defer nothing before a function is run as plain code from then on.
PLAIN_AFTER = 2
# Invocations with deferred calls before the tier-1 rewrite (only deferring sites hooked).
TIER1_AFTER = 3


class Version:
    """One compiled form of the function, with its sites in index order."""

    def __init__(self, compiled: CompiledFunction, tier: int) -> None:
        self.compiled = compiled
        self.tier = tier
        self.sites: list[Site] = []
        self.function: types.FunctionType | None = None
        self.is_safe_type = is_safe_type

    def begin(self) -> Invocation | AsyncInvocation:
        return self.compiled.begin(self)

    def finished(self, inv: Invocation | AsyncInvocation) -> None:
        self.compiled.finished(self, inv)


class CompiledFunction:
    """The rewritten function (its tiers and sites), and the per-invocation hooks."""

    def __init__(self, fn: types.FunctionType, owner: JitFunction[Any, Any]) -> None:
        self.owner = owner
        self.source_function = fn
        self.is_async = bool(fn.__code__.co_flags & inspect.CO_COROUTINE)
        self.filename = os.path.basename(fn.__code__.co_filename)
        self.tier0 = Version(self, 0)
        function, result = compile_function(fn, self.tier0.begin,
                                            speculate=owner.speculate)
        self.tier0.function = function
        self.specs = result.sites
        self.loops = result.loops  # line of each for loop -> how it runs (explain)
        self.sites = [Site(i, self.filename, spec.lineno, spec.describe)
                      for i, spec in enumerate(result.sites)]
        self.tier0.sites = self.sites
        self.features = _features(fn, result.sites)
        if owner.strategy == "auto":
            self.strategy, self.strategy_reason = select(self.features)
        else:
            self.strategy = STRATEGIES[owner.strategy]
            self.strategy_reason = "chosen by jit(strategy=...)"
        for site, spec in zip(self.sites, result.sites, strict=True):
            site.strategy = self.strategy
            site.features = SiteFeatures(in_loop=spec.in_loop, ensemble=spec.ensemble)
        self.tier1: Version | None = None
        self.compile_seconds = 0.0
        self.invocations = 0
        self.quiet_invocations = 0
        self.deferring_invocations = 0
        self.reprofile_reason: str | None = None
        self._lock = threading.Lock()
        self._logged: dict[tuple[int, Any], bool] = {}  # (site, callee) -> logged defer

    @property
    def function(self) -> types.FunctionType:
        assert self.tier0.function is not None
        return self.tier0.function

    @property
    def tier(self) -> str:
        if self.tier1 is not None and self.owner._impl is self.tier1.function:
            hooked = len(self.tier1.sites)
            return f"tier 1: {hooked} of {len(self.sites)} call sites hooked"
        return "tier 0: every candidate call site hooked"

    def predict(self, site: Site,
                spec: SiteSpec) -> list[tuple[str, bool, str, tuple[float, float] | None]]:
        """The verdict a site would get, from the callee its source names statically."""
        callee = _static_callee(spec.node.func, self.source_function)
        if callee is None:
            return [("?", False, "callee known only at run time", None)]
        info = classify(callee)
        verdict = self.strategy.verdict(info, measurement_of(callee_key(callee)),
                                        site.features)
        name = getattr(callee, "__qualname__", type(callee).__name__)
        reason = verdict.reason
        if verdict.profile:
            reason += ("; measured at run time: deferred if handed an I/O client or "
                       "measured I/O-bound")
        return [(name, verdict.defer, f"predicted: {reason}", None)]

    def begin(self, version: Version) -> Invocation | AsyncInvocation:
        if self.is_async:
            # Imported here: asyncio is a third of `import wavejit` otherwise.
            from ._async_runtime import AsyncInvocation
            executor = resolve_executor(self.owner.executor, None)
            return AsyncInvocation(version, sequential=isinstance(executor,
                                                                   SequentialExecutor))
        owner = self.owner
        inv = Invocation(version, resolve_executor(owner.executor, owner.max_workers))
        if owner.timeout is not None:
            inv.deadline = inv.started + owner.timeout
        return inv

    def finished(self, version: Version, inv: Invocation | AsyncInvocation) -> None:
        self.invocations += 1
        if log.isEnabledFor(logging.INFO):
            self._log_verdicts()
        if version.tier == 1:
            if inv.deferred_count:
                self.owner._record(inv)
            if self.reprofile_reason is not None:
                log.info("wavejit: %s", self.reprofile_reason)
                self.owner._set_impl(self.function)  # back to tier 0: measure again
            return
        if inv.deferred_count or any(site.promoted or site.twin_calls for site in self.sites):
            self.quiet_invocations = 0
            self.deferring_invocations += 1
            self.owner._record(inv)
            if self.deferring_invocations >= TIER1_AFTER and not self.is_async:
                self._enter_tier1()
        else:
            self.quiet_invocations += 1
            if self.quiet_invocations >= PLAIN_AFTER:
                self.owner._go_plain(
                    f"{self.quiet_invocations} calls deferred nothing and no call was "
                    "measured I/O-bound: running the plain function")

    def _enter_tier1(self) -> None:
        """Rewrite again with only the sites that deferred; guard them."""
        with self._lock:
            hooked = [site for site in self.sites if site.deferred_calls or site.twin_calls]
            if len(hooked) == len(self.sites) or not hooked:
                return  # nothing to unhook (or nothing deferred at all)
            if self.tier1 is None:
                positions = {(site.lineno, spec.node.col_offset)
                             for site, spec in zip(self.sites, self.specs, strict=True)
                             if site.deferred_calls or site.twin_calls}
                version = Version(self, 1)
                try:
                    function, result = compile_function(self.source_function, version.begin,
                                                        hooked=positions,
                                                        speculate=self.owner.speculate)
                except Exception:  # (Unsupported, or a bug of the rewrite): stay at tier 0
                    return
                by_position = {(spec.lineno, spec.node.col_offset): site
                               for site, spec in zip(self.sites, self.specs, strict=True)}
                version.sites = [by_position[(spec.lineno, spec.node.col_offset)]
                                 for spec in result.sites]
                version.function = function
                self.tier1 = version
            self.reprofile_reason = None
            for site in self.tier1.sites:
                site.guard = self._guard_failed
            self.deferring_invocations = 0
            assert self.tier1.function is not None
            self.owner._set_impl(self.tier1.function)
            log.debug("wavejit: %s: %s", self.source_function.__qualname__, self.tier)

    def _log_verdicts(self) -> None:
        """Log each site's verdict per callee when first made (DEBUG) and when it
        changes (INFO): a demotion (deferred before, kept inline now: measured not
        I/O-bound or CPU-dense) or a promotion (measured I/O-bound)."""
        logged = self._logged
        for site in self.sites:
            for key, decision in list(site._decisions.items()):
                before = logged.get((site.index, key))
                if before is decision.defer:
                    continue
                logged[(site.index, key)] = decision.defer
                name = site.callee_names.get(key, "?")
                if before is None:
                    log.debug("wavejit: %s: %s %s: %s", site.label, name,
                              "deferred" if decision.defer else "kept inline",
                              decision.reason)
                elif before:
                    log.info("wavejit: %s: %s demoted, kept inline from now on: %s",
                             site.label, name, decision.reason)
                else:
                    log.info("wavejit: %s: %s promoted, deferred from now on: %s",
                             site.label, name, decision.reason)

    def _guard_failed(self, site: Site, callee: str) -> None:
        self.reprofile_reason = f"{site.label} saw a new callee {callee}: re-profiling"
        for s in self.sites:
            s.guard = None


def _features(fn: types.FunctionType, specs: list[SiteSpec]) -> FunctionFeatures:
    """The function's features for the auto rule: from its AST and static analysis."""
    static_io = 0
    for spec in specs:
        callee = _static_callee(spec.node.func, fn)
        if callee is not None and classify(callee).io:
            static_io += 1
    return FunctionFeatures(
        sites=len(specs),
        static_io_sites=static_io,
        loop_sites=sum(spec.in_loop for spec in specs),
        ensemble_sites=sum(spec.ensemble for spec in specs),
        operator=_is_operator_method(fn),
    )


def _static_callee(func: ast.expr, fn: types.FunctionType) -> Any:
    """The object a callee expression names via module globals, if it is that simple."""
    chain: list[str] = []
    while isinstance(func, ast.Attribute):
        chain.append(func.attr)
        func = func.value
    if not isinstance(func, ast.Name) or func.id in fn.__code__.co_varnames:
        return None
    current = fn.__globals__.get(func.id)
    if func.id in fn.__code__.co_freevars and fn.__closure__ is not None:
        try:
            current = fn.__closure__[fn.__code__.co_freevars.index(func.id)].cell_contents
        except ValueError:  # an empty cell
            return None
    for attr in reversed(chain):
        if not isinstance(current, (types.ModuleType, type)):
            return current if current is not None and attr else None
        current = getattr(current, attr, None)
    return current


def call_records(spawned: list[Any]) -> list[CallRecord]:
    """The deferred calls, with dependencies through tuple gathers resolved."""
    index = {id(p): i for i, p in enumerate(p for p in spawned if p.site is not None)}
    by_id = {id(p): p for p in spawned}

    def deps_of(p: Any, seen: set[int] | None = None) -> set[int]:
        """The deferred calls `p` waited for or whose results the caller used before
        making it, seen through gathers and glue (continuations) to the calls."""
        seen = set() if seen is None else seen
        out: set[int] = set()
        for d in (*p.deps, *getattr(p, "after", ())):
            if id(d) in seen:
                continue
            seen.add(id(d))
            if id(d) in index:
                out.add(index[id(d)])
            elif id(d) in by_id or getattr(d, "site", 0) is None:
                out |= deps_of(d, seen)  # a gather or glue: what it waited for
        return out

    return [CallRecord(p.name, p.site.label, p.started, p.finished, p.thread,
                       p.cancelled(), p._exception is not None, tuple(sorted(deps_of(p))))
            for p in spawned if p.site is not None]


def _is_operator_method(fn: types.FunctionType) -> bool:
    owner: Any = fn.__globals__
    parts = fn.__qualname__.split(".")[:-1]
    if not parts or "<locals>" in parts:
        return fn.__name__ == "forward" and bool(parts)
    for part in parts:
        owner = owner.get(part) if isinstance(owner, dict) else getattr(owner, part, None)
    return isinstance(owner, type) and issubclass(owner, Operator)


