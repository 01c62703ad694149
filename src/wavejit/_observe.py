"""Logging and progress for deferred calls.

* Logging: to ``logging.getLogger("wavejit")`` (a `NullHandler` is attached, as
  libraries should): DEBUG for each deferred call started and finished, INFO for
  limits set, throttling, rate-limit refusals, limit changes, re-issues and retries
  (`_limits`, `_policy`).
* Progress: inside ``with wavejit.progress():`` a ``tqdm`` bar counts deferred calls -
  its total grows as calls start, its position as they finish - when ``tqdm`` is
  installed (``pip install wavejit[progress]``); without it the bar only counts. The
  bar is found through a ``ContextVar``: deferred calls run in a copy of their
  caller's context, so nested and concurrent invocations each update the bar of the
  ``with`` block they run under.
  ``@jit(progress=True)``: each invocation that defers calls gets its own bar, made
  at its first deferred call (`invocation_bar`, keyed by the invocation, which
  `_limits.run` receives) and closed when the invocation finishes
  (``JitFunction._record``). While a deferred call runs, its bar is the current one,
  so calls deferred inside it (a jitted helper) count on it too. Without ``tqdm``,
  ``jit(progress=True)`` warns once, at decoration, and runs without a bar: a
  missing extra must not break a program that works plain.
* Tracing: nothing to do. OpenTelemetry keeps the current span in a ``ContextVar``, and
  each deferred call runs in a copy of the context current when it was deferred, so a
  span it opens is a child of the caller's span (tested with the OTel SDK).
"""

from __future__ import annotations

import contextlib
import contextvars
import importlib
import logging
import threading
from collections.abc import Iterator
from typing import Any

__all__ = ["log", "progress", "Progress", "observing", "call_started", "call_finished",
           "invocation_bar", "close_invocation_bar", "want_bars"]

log = logging.getLogger("wavejit")
log.addHandler(logging.NullHandler())


class Progress:
    """A progress bar of deferred calls (tqdm when installed, else counts only)."""

    def __init__(self, desc: str = "wavejit calls", **tqdm_options: Any) -> None:
        self.total = 0
        self.done = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        try:
            tqdm = importlib.import_module("tqdm.auto").tqdm  # an extra, imported lazily
        except ImportError:  # not installed: count, show nothing
            return
        self._bar = tqdm(total=0, desc=desc, unit="call", **tqdm_options)

    def started(self) -> None:
        with self._lock:
            self.total += 1
            if self._bar is not None:
                self._bar.total = self.total
                self._bar.refresh()

    def finished(self) -> None:
        with self._lock:
            self.done += 1
            if self._bar is not None:
                self._bar.update(1)

    def close(self) -> None:
        with self._lock:  # a call left in flight by an interrupt may finish later
            bar, self._bar = self._bar, None
        if bar is not None:
            bar.close()


_current: contextvars.ContextVar[Progress | None] = contextvars.ContextVar(
    "wavejit_progress", default=None)


@contextlib.contextmanager
def progress(desc: str = "wavejit calls", **tqdm_options: Any) -> Iterator[Progress]:
    """Show a bar of the deferred calls made inside the block (tqdm options pass on)."""
    outer = _current.get()
    if outer is not None:  # nested: the outer bar counts these calls too
        yield outer
        return
    bar = Progress(desc, **tqdm_options)
    token = _current.set(bar)
    try:
        yield bar
    finally:
        _current.reset(token)
        bar.close()


# -- jit(progress=True): a bar per invocation ---------------------------------------------

_wanted = [False]  # set once a function is jitted with progress=True: else no lookups
_bars: dict[int, Progress] = {}  # id(invocation) -> its bar, until it finishes
_bars_lock = threading.Lock()


def want_bars() -> None:
    _wanted[0] = True


def _wants_bar(owner: Any) -> bool:
    """Was `owner`'s (an invocation's) function jitted with ``progress=True``?"""
    compiled = getattr(getattr(owner, "code", None), "compiled", None)
    return bool(getattr(getattr(compiled, "owner", None), "progress", False))


def invocation_bar(owner: Any) -> Progress:
    """The bar of invocation `owner`, made at its first deferred call."""
    with _bars_lock:
        bar = _bars.get(id(owner))
        if bar is None:
            fn = owner.code.compiled.source_function
            bar = _bars[id(owner)] = Progress(fn.__qualname__)
    return bar


def close_invocation_bar(owner: Any) -> None:
    with _bars_lock:
        bar = _bars.pop(id(owner), None)
    if bar is not None:
        bar.close()


def observing(owner: Any = None) -> bool:
    """Is anyone watching deferred calls (a progress bar, DEBUG logging)? `owner`:
    the invocation making the call (its function may want a bar)."""
    return (_current.get() is not None or log.isEnabledFor(logging.DEBUG)
            or (_wanted[0] and owner is not None and _wants_bar(owner)))


def call_started(fn: Any, owner: Any = None) -> tuple[Progress | None, Any]:
    """A deferred call is starting: count it. Returns the bar to report its end to,
    and the token restoring the current bar (the call's own bar made current, so
    calls deferred inside it count on it too), or None."""
    bar = _current.get()
    token = None
    if bar is None and _wanted[0] and owner is not None and _wants_bar(owner):
        bar = invocation_bar(owner)
        token = _current.set(bar)
    if bar is not None:
        bar.started()
    if log.isEnabledFor(logging.DEBUG):
        log.debug("wavejit: deferred call %s started on %s", _name(fn),
                  threading.current_thread().name)
    return bar, token


def call_finished(fn: Any, bar: Progress | None, failed: bool, token: Any = None) -> None:
    if token is not None:
        _current.reset(token)
    if bar is not None:
        bar.finished()
    if log.isEnabledFor(logging.DEBUG):
        log.debug("wavejit: deferred call %s %s", _name(fn), "failed" if failed else "finished")


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
               or type(fn).__name__)
