"""Options of ``@wavejit.io(...)`` for each deferred call: opt-in retries, timeouts.

`policy_call(policy, fn, args, kwargs)` returns the thunk `_limits` runs inside the
provider slots: the call itself, retried (`CallPolicy.retries` times on
`CallPolicy.retry_on`, spaced ``backoff * 2**attempt`` plus jitter of the same size,
or by a ``tenacity.Retrying`` object), on its own thread when a ``timeout`` is set.
Retries never apply to a callee whose scan shows effects (`_limits.reissue_safe`): it
runs once, as in plain Python, and a warning is logged once. Sleeps and jitter go
through `_limits.clock`, which tests replace with a fake clock.
"""

from __future__ import annotations

import contextvars
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import _limits

__all__ = ["CallPolicy", "policy_call"]

log = logging.getLogger("wavejit")


@dataclass(frozen=True)
class CallPolicy:
    """Options of ``@wavejit.io(...)`` applied to each deferred call of the function.

    ``retries``: how many more attempts after a failure in ``retry_on`` (default: every
    ``Exception``), spaced ``backoff * 2**attempt`` plus jitter of the same size
    (``backoff`` may also be a function of the attempt number returning seconds); or a
    ``tenacity.Retrying`` object, which then runs the call. Never applied to callees
    whose scan shows effects (they run once, as in plain Python). ``timeout``: seconds
    after which the call's use raises ``TimeoutError`` (the call itself cannot be
    stopped: it finishes in the background and its result is dropped).
    """

    max_concurrency: int | None = None
    rate: float | str | None = None
    timeout: float | None = None
    retries: Any = 0
    retry_on: tuple[type[BaseException], ...] = (Exception,)
    backoff: float | Callable[[int], float] = 0.5
    warned: list[bool] = field(default_factory=list, compare=False)

    def delay(self, attempt: int) -> float:
        if callable(self.backoff):
            return float(self.backoff(attempt))
        base = self.backoff * 2 ** attempt
        return float(base + _limits.clock.uniform(0.0, base))


def _with_retries(policy: CallPolicy, fn: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    retries = policy.retries
    if not isinstance(retries, int):
        return retries(fn, *args, **kwargs)  # a tenacity.Retrying (or any such policy)
    attempt = 0
    while True:
        try:
            return fn(*args, **kwargs)
        except policy.retry_on as exc:
            if attempt >= retries:
                raise
            delay = policy.delay(attempt)
            attempt += 1
            log.info("wavejit: retrying %s after %s (attempt %d of %d, in %.3f s)",
                     _name(fn), type(exc).__name__, attempt, retries, delay)
            _limits.clock.sleep(delay)


def _with_timeout(timeout: float, fn: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Any:
    """Run the call on its own daemon thread; raise TimeoutError after `timeout` s.

    Threads cannot be stopped: a call that overruns finishes in the background and its
    result is dropped.
    """
    box: list[Any] = []
    done = threading.Event()
    context = contextvars.copy_context()

    def body() -> None:
        try:
            box.append((True, context.run(fn, *args, **kwargs)))
        except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
            box.append((False, exc))
        done.set()

    threading.Thread(target=body, name=f"wavejit-timeout-{_name(fn)}", daemon=True).start()
    if not done.wait(timeout):
        raise TimeoutError(f"{_name(fn)} did not finish within {timeout} s "
                           f"(@wavejit.io(timeout={timeout}))")
    ok, value = box[0]
    if ok:
        return value
    raise value



def policy_call(policy: CallPolicy, fn: Any, args: tuple[Any, ...],
                 kwargs: dict[str, Any]) -> Callable[[], Any]:
    retry = bool(policy.retries)
    if retry and not _limits.reissue_safe(fn):
        if not policy.warned:
            policy.warned.append(True)
            log.warning("wavejit: %s has effects (its scan shows writes): not retried",
                        _name(fn))
        retry = False

    def call() -> Any:
        if retry:
            if policy.timeout is not None:
                return _with_timeout(policy.timeout, _with_retries,
                                     (policy, fn, args, kwargs), {})
            return _with_retries(policy, fn, args, kwargs)
        if policy.timeout is not None:
            return _with_timeout(policy.timeout, fn, args, kwargs)
        return fn(*args, **kwargs)

    return call


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
               or type(fn).__name__)
