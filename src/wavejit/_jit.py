"""The ``@jit`` decorator: compile once, run the rewritten code, fall back to plain.

States of a jitted function (``JitFunction``):

* not yet compiled: the first call compiles under a lock (concurrent first calls
  compile once);
* rewritten: calls run the rewritten code (`_compile`), which defers I/O calls;
* plain: the original function runs, because the rewrite cannot handle it
  (`Unsupported`: no source, a generator, ...), because jit is disabled
  (``enabled=False`` or ``WAVEJIT_DISABLE=1``), or because `PLAIN_AFTER` invocations
  deferred nothing and promoted nothing (CPU-only code then runs at plain speed).

``explain()`` reports which, and for each candidate site the verdict per callee and
its evidence; ``last_run`` is a `RunRecord` of the last invocation's deferred calls.
"""

from __future__ import annotations

import functools
import importlib
import inspect
import logging
import os
import threading
import time
import types
import warnings
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Concatenate, Generic, ParamSpec, Protocol, TypeVar, overload

from ._compile import Unsupported
from ._executors import resolve_executor
from ._hints import describe
from ._observe import close_invocation_bar, want_bars
from ._operator import Operator
from ._report import Report, RunRecord, SiteReport
from ._runtime import Invocation
from ._stalls import stall_records
from ._strategies import STRATEGIES
from ._tiers import PLAIN_AFTER, CompiledFunction, call_records

if TYPE_CHECKING:
    from ._async_runtime import AsyncInvocation

__all__ = ["jit", "JitFunction", "PLAIN_AFTER"]

log = logging.getLogger("wavejit")  # see _observe

# A jitted function keeps the plain function's parameters (P) and return type (R).
P = ParamSpec("P")
R = TypeVar("R")
_BoundP = ParamSpec("_BoundP")
_Self = TypeVar("_Self")
_OpT = TypeVar("_OpT", bound=Operator)

STRATEGY_NAMES = ("auto", *STRATEGIES)


class JitFunction(Generic[P, R]):
    """A jitted function. Call it like the original; see `explain()` and `last_run`.

    Generic over the plain function's parameters and return type, so type checkers
    see ``jitted(...)`` with the plain function's signature.
    """

    __wavejit_jit__ = True  # lets the source scan see through to __wrapped__
    # Set by functools.update_wrapper, as on the plain function.
    __name__: str
    __qualname__: str

    def __init__(self, fn: Callable[P, R], *, strategy: str = "auto",
                 max_workers: int | None = None, executor: object = None,
                 enabled: bool = True, speculate: bool = False,
                 progress: bool = False, timeout: float | None = None) -> None:
        if strategy not in STRATEGY_NAMES:
            raise ValueError(f"unknown strategy {strategy!r}: choose one of "
                             f"{', '.join(STRATEGY_NAMES)}")
        if max_workers is not None and max_workers < 1:
            raise ValueError(f"max_workers must be at least 1, got {max_workers}")
        if timeout is not None and not timeout > 0:
            raise ValueError(f"timeout must be a positive number of seconds, got {timeout!r}")
        resolve_executor(executor, None)  # validate now, with a clear error
        functools.update_wrapper(self, fn)
        self.__wrapped__ = fn
        self.strategy = strategy
        self.max_workers = max_workers
        self.executor = executor
        self.speculate = speculate
        self.progress = progress
        self.timeout = timeout
        if progress:
            _want_progress(fn)
        self._fn = fn
        self._lock = threading.Lock()
        self._compiled: CompiledFunction | None = None
        self._impl: Callable[..., Any] | None = None
        self._plain_reason: str | None = None
        self._fallback = False
        self._last_run: RunRecord | None = None
        self._last_invocation: tuple[Invocation | AsyncInvocation, float] | None = None
        if not enabled:
            self._go_plain("disabled by jit(enabled=False)")
        elif os.environ.get("WAVEJIT_DISABLE", "").strip() not in ("", "0"):
            self._go_plain("disabled by WAVEJIT_DISABLE in the environment")

    def __repr__(self) -> str:
        return f"<wavejit.jit {getattr(self._fn, '__qualname__', self._fn)!r}>"

    def __reduce__(self) -> tuple[Any, ...]:
        # By reference when importable under its name, else by value (see `_cluster`).
        from ._cluster import reduce_jitted

        return reduce_jitted(self)

    def map(self, *iterables: Any, executor: object = None,
            max_concurrency: int | None = None, return_exceptions: bool = False,
            progress: bool = False) -> Any:
        """``[self(*args) for args in zip(*iterables)]``, with invocations concurrent.

        Returns the list in input order, or raises the earliest failing item's
        exception (items after it that have not started are cancelled; every started
        one has finished when this returns). ``return_exceptions=True`` puts each
        exception in its item's place instead. At most `max_concurrency` invocations
        run at once (default 32 on threads, the executor's capacity on a cluster);
        items are pulled from the iterables lazily. `executor`: None (the local thread
        pool), ``"sequential"``, a `wavejit.executors.DaskExecutor` or
        ``distributed.Client``, a `wavejit.executors.RayExecutor`, or a
        ``concurrent.futures.Executor``. ``progress=True`` shows a tqdm bar. For an
        ``async def`` function this returns a coroutine: ``await fn.map(...)``.
        """
        from ._map import map_jitted

        return map_jitted(self, iterables, executor=executor,
                          max_concurrency=max_concurrency,
                          return_exceptions=return_exceptions, progress=progress)

    @property
    def __call__(self) -> Callable[P, R]:
        # A property, not a method: ``jitted(...)`` looks ``__call__`` up and calls what
        # it returns (the implementation) from C, so no frame of wavejit's sits between
        # the caller and the function in a traceback (see `_traceback`). Cheaper, too.
        impl = self._impl
        return impl if impl is not None else self._compile()

    @overload
    def __get__(self, obj: None, objtype: type | None = None) -> JitFunction[P, R]: ...
    @overload
    def __get__(self: JitFunction[Concatenate[_Self, _BoundP], R], obj: _Self,
                objtype: type | None = None) -> JitFunction[_BoundP, R]: ...
    # A bound method is a types.MethodType at run time; it forwards attribute access
    # (explain, last_run, map) to the JitFunction, so it is typed as one without `self`.

    def __get__(self, obj: Any, objtype: type | None = None) -> Any:
        if obj is None:
            return self
        return types.MethodType(self, obj)

    @property
    def __signature__(self) -> inspect.Signature:
        return inspect.signature(self._fn)

    def _compile(self) -> Callable[..., Any]:
        with self._lock:
            if self._impl is not None:
                return self._impl
            fn = self._fn
            if not isinstance(fn, types.FunctionType):
                self._go_plain(f"{type(fn).__name__} objects have no Python source to "
                               "rewrite", fallback=True)
            else:
                started = time.perf_counter()
                try:
                    compiled = CompiledFunction(fn, self)
                except Unsupported as exc:
                    self._go_plain(str(exc), fallback=True)
                except Exception as exc:  # a bug of the rewrite: the plain function runs
                    log.warning("wavejit: rewriting %s failed (%s: %s); it runs plain. "
                                "Please report this.", getattr(fn, "__qualname__", fn),
                                type(exc).__name__, exc)
                    self._go_plain(f"the rewrite failed ({type(exc).__name__}: {exc})",
                                   fallback=True)
                else:
                    compiled.compile_seconds = time.perf_counter() - started
                    self._compiled = compiled
                    self._set_impl(compiled.function)
            assert self._impl is not None
            return self._impl

    def _set_impl(self, impl: Callable[..., Any]) -> None:
        if self.timeout is not None and inspect.iscoroutinefunction(impl):
            impl = _timed(impl, self.timeout, getattr(self._fn, "__qualname__", "?"))
        self._impl = impl

    def _go_plain(self, reason: str, fallback: bool = False) -> None:
        log.info("wavejit: %s runs as the plain function%s: %s",
                 getattr(self._fn, "__qualname__", self._fn),
                 " (fallback)" if fallback else "", reason)
        self._plain_reason = reason
        self._fallback = fallback
        self._impl = self._fn
        self._last_run = None  # rebuilt marked stale: it is from before

    def _record(self, inv: Invocation | AsyncInvocation) -> None:
        if self.progress:  # its deferred calls have finished: close its bar
            close_invocation_bar(inv)
        # Built on demand: most invocations are never inspected.
        self._last_invocation = (inv, time.perf_counter())
        self._last_run = None

    @property
    def last_run(self) -> RunRecord | None:
        """The deferred calls of the last invocation that deferred any; marked
        ``stale`` once the function runs plain (the record is from before that)."""
        if self._last_run is None and self._last_invocation is not None:
            inv, finished = self._last_invocation
            calls = call_records(inv.spawned)
            self._last_run = RunRecord(getattr(self._fn, "__qualname__", "?"), inv.started,
                                       finished, calls, stale=self._impl is self._fn,
                                       wasted=getattr(inv, "wasted", 0),
                                       stalls=stall_records(inv.waits, inv.deferred_count))
        return self._last_run

    def explain(self) -> Report:
        """What was (or will be) deferred, and why.

        Before the first call it compiles the function (running none of it) and
        predicts each site's verdict from the callee its source names, if that can be
        resolved statically.
        """
        called = self._impl is not None
        if not called:
            self._compile()
        compiled = self._compiled
        sites = []
        if compiled is not None:
            for site, spec in zip(compiled.sites, compiled.specs, strict=True):
                verdicts = [(name, d.defer, _journal_note(site, name, d) or describe(
                                 d.reason, d.info, d.defer),
                             (m.wall / m.calls, m.cpu / m.calls) if m and m.calls else None)
                            for name, d, m in site.decisions()]
                if not verdicts:
                    verdicts = compiled.predict(site, spec)
                sites.append(SiteReport(site.label, site.deferred_calls, site.inline_calls,
                                        verdicts))
        if self._impl is None or (compiled is not None and not compiled.invocations
                                  and self._impl is compiled.function):
            status = "compiled, not called yet (verdicts predicted)"
        elif self._impl is self._fn:
            status = "plain"
        else:
            status = f"rewritten ({compiled.tier})" if compiled is not None else "rewritten"
        if compiled is not None:
            strategy = compiled.strategy.name
            strategy_reason = compiled.strategy_reason
            features = compiled.features.describe()
        else:
            strategy, strategy_reason, features = self.strategy, None, None
        return Report(
            function=getattr(self._fn, "__qualname__", repr(self._fn)),
            strategy=strategy,
            strategy_reason=strategy_reason,
            features=features,
            status=status,
            reason=self._plain_reason,
            fallback=self._fallback,
            compile_seconds=compiled.compile_seconds if compiled else None,
            loops=[f"line {line}: {note}" for line, note in sorted(compiled.loops.items())]
            if compiled is not None else [],
            invocations=compiled.invocations if compiled else 0,
            sites=sites,
            last_run=self.last_run,
        )


def _want_progress(fn: Any) -> None:
    """``jit(progress=True)``: bars from now on; warn if ``tqdm`` is missing."""
    want_bars()
    try:
        importlib.import_module("tqdm")  # the `progress` extra, imported only now
    except ImportError:
        warnings.warn(
            f"jit(progress=True) on {getattr(fn, '__qualname__', fn)!r}: tqdm is not "
            "installed (pip install 'wavejit[progress]'), so no progress bar is shown",
            stacklevel=4)


def _jit_operator_class(cls: type[Operator], decorate: Callable[[Any], Any]) -> type[Operator]:
    """Jit the class's forward, and each new instance's sub-operators (at __init__)."""
    forward = cls.__dict__.get("forward")
    if forward is not None and not isinstance(forward, JitFunction):
        cls.forward = decorate(forward)  # type: ignore[method-assign]
    original_init = cls.__init__

    @functools.wraps(original_init)
    def __init__(self: Operator, *args: Any, **kwargs: Any) -> None:
        original_init(self, *args, **kwargs)
        for sub in self.sub_operators():
            _jit_operator_tree(sub, decorate)

    cls.__init__ = __init__  # type: ignore[method-assign,assignment]
    return cls


def _jit_operator_tree(op: Operator, decorate: Callable[[Any], Any]) -> None:
    """Jit `op`'s forward (on the instance) and, recursively, its sub-operators'."""
    if "forward" not in vars(op) and not isinstance(
        getattr(type(op), "forward", None), JitFunction
    ):
        jitted = decorate(type(op).forward)
        op.forward = types.MethodType(jitted, op)  # type: ignore[method-assign]
    for sub in op.sub_operators():
        _jit_operator_tree(sub, decorate)


def _timed(impl: Callable[..., Any], timeout: float, name: str) -> Callable[..., Any]:
    """An ``async def`` under ``jit(timeout=...)``: cancelled at the deadline (which
    cancels its deferred tasks), raising the builtin ``TimeoutError``. (A sync one
    checks its deadline itself: `Invocation.deadline`.)"""
    import asyncio

    @functools.wraps(impl)
    async def timed(*args: Any, **kwargs: Any) -> Any:
        started = time.perf_counter()
        try:
            return await asyncio.wait_for(impl(*args, **kwargs), timeout)
        except asyncio.TimeoutError:  # (not yet the builtin one on Python 3.10)
            if time.perf_counter() - started < timeout:
                raise  # the function's own, not the deadline's
            raise TimeoutError(f"{name} did not finish within its jit(timeout={timeout}) "
                               "seconds; its deferred calls were cancelled") from None

    return timed


class _Decorator(Protocol):
    """What ``jit(strategy=...)`` returns: `jit` with its options bound."""

    @overload
    def __call__(self, fn: type[_OpT], /) -> type[_OpT]: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: _OpT, /) -> _OpT: ...  # type: ignore[overload-overlap]
    @overload
    def __call__(self, fn: Callable[P, R], /) -> JitFunction[P, R]: ...


# An Operator class or instance is returned itself (its forward jitted in place); any
# other function becomes a JitFunction with the same signature. The first matching
# overload wins, hence the (deliberate) overlaps.
@overload
def jit(fn: type[_OpT], /, *, strategy: str = "auto",  # type: ignore[overload-overlap]
        max_workers: int | None = None, executor: object = None,
        enabled: bool = True, speculate: bool = False,
        progress: bool = False, timeout: float | None = None) -> type[_OpT]: ...
@overload
def jit(fn: _OpT, /, *, strategy: str = "auto",  # type: ignore[overload-overlap]
        max_workers: int | None = None, executor: object = None,
        enabled: bool = True, speculate: bool = False,
        progress: bool = False, timeout: float | None = None) -> _OpT: ...
@overload
def jit(fn: Callable[P, R], /, *, strategy: str = "auto",
        max_workers: int | None = None, executor: object = None,
        enabled: bool = True, speculate: bool = False,
        progress: bool = False, timeout: float | None = None) -> JitFunction[P, R]: ...
@overload
def jit(*, strategy: str = "auto", max_workers: int | None = None,
        executor: object = None, enabled: bool = True,
        speculate: bool = False, progress: bool = False,
        timeout: float | None = None) -> _Decorator: ...


def jit(fn: Any = None, /, *, strategy: str = "auto", max_workers: int | None = None,
        executor: object = None, enabled: bool = True, speculate: bool = False,
        progress: bool = False, timeout: float | None = None) -> Any:
    """Run the independent I/O calls of `fn` concurrently; same results as plain `fn`.

    Use as ``@jit``, ``@jit(...)`` or ``jit(fn)``. Options: ``max_workers`` caps the
    calls of one invocation in flight at once; ``executor`` is ``"threads"`` (the
    shared pool, default), ``"sequential"``, or any object with ``submit``;
    ``enabled=False`` (or ``WAVEJIT_DISABLE=1``) runs the plain function;
    ``speculate=True`` lets a loop that may ``break`` or ``return`` issue later
    iterations' calls early (results past the exit are discarded, unstarted calls
    cancelled; ``last_run.wasted`` counts the rest); ``progress=True`` shows a ``tqdm``
    bar of each invocation's deferred calls (the ``progress`` extra; without ``tqdm``
    a warning at decoration, and no bar); ``timeout=seconds`` raises ``TimeoutError``
    (`wavejit.InvocationTimeout`) from the first wait or call site past the deadline:
    calls not started are cancelled, calls in flight finish in the background and
    their results are dropped (threads cannot be stopped), as for Ctrl-C. Code running
    on the caller's thread is not interrupted.
    """
    def decorate(target: Any) -> Any:
        if isinstance(target, type) and issubclass(target, Operator):
            return _jit_operator_class(target, decorate)
        if isinstance(target, Operator):
            _jit_operator_tree(target, decorate)
            return target
        if isinstance(target, staticmethod):
            return staticmethod(decorate(target.__func__))
        if isinstance(target, classmethod):
            return classmethod(decorate(target.__func__))
        if isinstance(target, JitFunction):
            return target
        if not callable(target):
            raise TypeError(f"jit() needs a function, got {type(target).__name__}")
        return JitFunction(target, strategy=strategy, max_workers=max_workers,
                           executor=executor, enabled=enabled, speculate=speculate,
                           progress=progress, timeout=timeout)

    if fn is None:
        return decorate
    return decorate(fn)


def _journal_note(site: Any, name: str, decision: Any) -> str | None:
    """explain()'s verdict for calls that ran journaled (see `_journal`)."""
    writes = site.journaled.get(name)
    if writes is None:
        return None
    from ._sites import _TWIN_NOTE

    names = ", ".join(f"self.{name}" for name in sorted(writes))
    reason = decision.reason.replace(_TWIN_NOTE, "")  # the journaled copy runs instead
    return (f"{reason}; its writes to {names} were journaled and replayed in program "
            "order, so calls on one object overlap")
