"""Per-provider limits on a jitted function's calls: concurrency (adaptive), rate,
re-issue on HTTP 429.

A deferred call runs through `run(fn, args, kwargs)` (from ``_call_resolved``; once any
limit exists, inline calls through `run_inline`). It finds the call's *resources* and
holds a slot of each one's `Limiter` while the call runs:

* **Keys** (`_providers`): a provider's host - of a client reached through the bound
  method's receiver, the arguments, or the globals and closure variables the callee's
  code names (two levels of its helpers); of an absolute URL given to ``httpx`` /
  ``requests``; or learned from a refusal's request URL. ``@wavejit.io(max_concurrency=
  ..., rate=...)`` adds the function itself. The static part is cached per code object.
* **Limiter state** (process-wide, one per key, shared by every jitted invocation):
  ``limit`` (an integer, ``inf`` until the provider first refuses), ``cap`` (the
  user's ``max_concurrency``), ``in_flight``, ``epoch`` (bumped at each decrease),
  ``growth`` (additive increase accrued toward the next slot), and the counters
  `snapshot()` and ``explain()`` show.
* **AIMD.** A refusal halves the limit to half the calls then in flight, once per
  epoch: the burst of refusals one overload produces shrinks it once, as TCP reduces
  once per window. Each success accrues ``1/limit``, so the limit grows by about one
  slot per round of calls, up to ``cap``. It never goes below 1: the plain function's
  single request always fits.
* **Re-issue.** A refused call is issued again after ``Retry-After`` (else an
  exponential backoff) plus uniform jitter of the same size, so the refused calls do
  not all come back together - only when (a) other calls to the provider were in
  flight during the attempt (alone, plain Python would have been refused too: the
  error is raised as plain raises it) and (b) the callee may be called twice
  (`reissue_safe`: its scan shows no write besides the request itself).
* **Nesting.** The keys a call holds are kept in a ``ContextVar``; calls deferred
  inside it (a jitted helper) share its slot instead of waiting for a second one,
  which would deadlock once outer calls hold every slot. Limiters are always taken
  in one order.
* **Rate.** ``rate=`` (calls per second, or ``"N/s"``, ``"N/min"``) is a token bucket
  written here on the standard library (`TokenBucket`, 25 lines): the core package has
  no runtime dependencies, and a bucket shared by threads needs only a lock and a
  clock (``pyrate-limiter`` and ``limits`` would add storage backends we do not need).

* **Async.** A jitted ``async def``'s deferred awaited calls run through `arun`, the
  same algorithm with waits on the event loop (`Limiter.aacquire`: a future woken
  by `release` through its loop) and the same limiters as threads.
* **Cluster.** On a worker of `wavejit.executors`, the caller's limits on hosts hold
  cluster-wide through pluggable `SharedSlots` (see "cluster-wide slots" below).

Opt-in retries and timeouts are `_policy`'s. The clock and the random source are a
module attribute (`clock`) so tests can replace them with a fake clock.
"""

from __future__ import annotations

import collections
import contextvars
import inspect
import logging
import math
import random
import threading
import time
import types
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from ._errors import CancelledError
from ._hints import callee_key, classify
from ._observe import call_finished, call_started, observing
from ._policy import CallPolicy, policy_call
from ._providers import (
    Refusal,
    _global_hosts,
    _host_of_url,
    _is_client,
    client_host,
    rate_limit_info,
)

__all__ = [
    "CallPolicy", "Limiter", "TokenBucket", "arun", "arun_inline", "limit", "limiter", "run", "snapshot",
    "rate_limit_info", "provider_key", "reissue_safe", "reset", "SharedSlots",
    "shared_spec", "install_shared",
]

log = logging.getLogger("wavejit")  # see _observe

MAX_REISSUES = 30  # a safety net; the "others in flight" rule ends re-issues first
BACKOFF_BASE = 0.05  # seconds, when a refusal names no Retry-After
BACKOFF_MAX = 10.0


class Clock:
    """Time and randomness used by limiters and retries (replaced by tests)."""

    monotonic = staticmethod(time.monotonic)
    sleep = staticmethod(time.sleep)
    uniform = staticmethod(random.uniform)


clock = Clock()


# -- rate ------------------------------------------------------------------------------


def parse_rate(rate: float | str) -> float:
    """Calls per second from ``5``, ``"5/s"``, ``"300/min"`` or ``"1000/h"``."""
    if isinstance(rate, (int, float)):
        value = float(rate)
    else:
        count, _, unit = rate.partition("/")
        seconds = {"": 1.0, "s": 1.0, "sec": 1.0, "second": 1.0, "m": 60.0, "min": 60.0,
                   "minute": 60.0, "h": 3600.0, "hour": 3600.0}.get(unit.strip().lower())
        if seconds is None:
            raise ValueError(f"rate={rate!r}: write calls per second as a number, or "
                             f"'N/s', 'N/min', 'N/h'")
        value = float(count) / seconds
    if not value > 0:
        raise ValueError(f"rate={rate!r} must be positive")
    return value


class TokenBucket:
    """At most `rate` calls per second on average, bursts of up to `burst`.

    The bucket holds tokens refilled continuously; a call takes one, sleeping (outside
    the lock) until the token it reserved has accrued. Reservations are made under the
    lock in arrival order, so concurrent callers are spaced ``1/rate`` apart.
    """

    def __init__(self, rate: float, burst: float = 1.0) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = clock.monotonic()
        self.lock = threading.Lock()

    def reserve(self) -> float:
        """Take a token; returns the seconds to wait before using it."""
        with self.lock:
            now = clock.monotonic()
            self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
            self.stamp = now
            self.tokens -= 1.0
            return -self.tokens / self.rate if self.tokens < 0 else 0.0

    def take(self) -> float:
        """Take a token; returns the seconds slept for it."""
        wait = self.reserve()
        if wait > 0:
            clock.sleep(wait)
        return wait


# -- the limiter -----------------------------------------------------------------------


class Limiter:
    """A process-wide concurrency limit (adaptive unless the user fixed it) and rate."""

    def __init__(self, key: Any) -> None:
        self.key = key
        self.cap = math.inf  # the user's max_concurrency
        self.limit = math.inf  # an integer once finite
        self.growth = 0.0  # additive increase accrued toward the next slot
        self.adaptive = True
        self.in_flight = 0
        self.peak = 0
        self.epoch = 0
        self.bucket: TokenBucket | None = None
        self.shared: SharedSlots | None = None  # the cluster-wide slots (see below)
        self.cond = threading.Condition(threading.Lock())
        # Tasks waiting for a slot (`aacquire`): [loop, future, woken], FIFO.
        self.awaiters: collections.deque[list[Any]] = collections.deque()
        self.calls = 0
        self.throttled = 0  # calls that waited for a slot
        self.refused = 0  # rate-limit errors seen
        self.reissued = 0

    def __repr__(self) -> str:
        return (f"<Limiter {self.key!r} limit={self.limit:g} in_flight={self.in_flight} "
                f"refused={self.refused} reissued={self.reissued}>")

    def configure(self, max_concurrency: int | None, rate: float | str | None) -> None:
        global capped
        capped = capped or max_concurrency is not None or rate is not None
        with self.cond:
            if max_concurrency is not None:
                if max_concurrency < 1:
                    raise ValueError(f"max_concurrency={max_concurrency} must be >= 1")
                self.cap = max_concurrency
                self.limit = min(self.limit, max_concurrency)
                if self.limit == math.inf or self.limit < 1:
                    self.limit = max_concurrency
                self.cond.notify_all()
                self._wake(len(self.awaiters))
            if rate is not None:
                self.bucket = TokenBucket(parse_rate(rate))

    def acquire(self) -> tuple[int, bool]:
        """Wait for a slot; returns (epoch, whether other calls were in flight)."""
        with self.cond:
            self.calls += 1
            if self.in_flight >= self.limit:
                self._throttled()
                while self.in_flight >= self.limit:  # an integer, or inf
                    self.cond.wait()
            epoch, crowded = self._take_slot()
        if self.bucket is not None:
            self.bucket.take()
        shared = self.shared
        if shared is not None:
            try:
                shared.acquire()
            except BaseException:
                self._release_local(epoch, False)
                raise
        return epoch, crowded

    async def aacquire(self) -> tuple[int, bool]:
        """`acquire` for a task: wait on a future, not the thread. A release wakes as
        many waiting tasks (through their loop, ``call_soon_threadsafe``) as waiting
        threads; each checks again, as a thread woken from ``cond.wait`` does."""
        import asyncio

        loop = asyncio.get_running_loop()
        with self.cond:
            self.calls += 1
            if self.in_flight >= self.limit:
                self._throttled()
        while True:
            with self.cond:
                if self.in_flight < self.limit:
                    epoch, crowded = self._take_slot()
                    break
                waiter: list[Any] = [loop, loop.create_future(), False]
                self.awaiters.append(waiter)
            try:
                await waiter[1]
            except BaseException:  # cancelled: leave the queue, pass on a wake-up
                with self.cond:
                    if waiter[2]:
                        self._wake(1)
                    else:
                        self.awaiters.remove(waiter)
                raise
        if self.bucket is not None:
            wait = self.bucket.reserve()
            if wait > 0:
                await asyncio.sleep(wait)
        shared = self.shared
        if shared is not None:  # a blocking wait for the cluster: on a thread
            taking = loop.run_in_executor(None, shared.acquire)
            try:
                await asyncio.shield(taking)
            except BaseException:
                self._release_local(epoch, False)
                taking.add_done_callback(lambda done: _give_back(shared, done))
                raise
        return epoch, crowded

    def _throttled(self) -> None:  # under self.cond
        self.throttled += 1
        if self.throttled == 1 or self.throttled % 100 == 0:
            log.info("wavejit: throttling %s at %d concurrent calls (%d waited)",
                     self.key, int(self.limit), self.throttled)

    def _take_slot(self) -> tuple[int, bool]:  # under self.cond
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        return self.epoch, self.in_flight > 1

    def _wake(self, count: int) -> None:
        """Wake up to `count` waiting tasks (under self.cond)."""
        while count > 0 and self.awaiters:
            waiter = self.awaiters.popleft()
            waiter[2] = True
            try:
                waiter[0].call_soon_threadsafe(_resolve, waiter[1])
            except RuntimeError:  # its loop is closed: the task is gone
                continue
            count -= 1

    def release(self, epoch: int, refused: bool) -> bool:
        """End a call; adapt the limit. Returns True if others were in flight."""
        shared = self.shared
        if shared is not None:
            shared.release()
        return self._release_local(epoch, refused)

    def _release_local(self, epoch: int, refused: bool) -> bool:
        global capped
        with self.cond:
            crowded = self.in_flight > 1
            if refused:
                capped = True
                self.refused += 1
                if epoch == self.epoch:
                    # Half of what was in flight when the provider refused (the calls
                    # it accepted, roughly), once per overload.
                    before = self.limit
                    self.limit = max(1.0, math.floor(min(self.limit, self.in_flight) / 2))
                    self.growth = 0.0
                    self.epoch += 1
                    log.info("wavejit: %s refused a call (rate limit); concurrency limit "
                             "%g -> %g", self.key, before, self.limit)
            elif self.adaptive and self.limit < self.cap:
                # Additive increase, about one slot per round of `limit` successes,
                # kept fractional in `growth` so the limit itself stays an integer.
                self.growth += 1.0 / self.limit
                if self.growth >= 1.0:
                    self.growth = 0.0
                    self.limit = min(self.cap, self.limit + 1.0)
            self.in_flight -= 1
            if self.limit == math.inf:
                self.cond.notify_all()
                if self.awaiters:
                    self._wake(len(self.awaiters))
            else:  # wake as many waiters as there are free slots (FIFO)
                free = max(1, int(self.limit) - self.in_flight)
                self.cond.notify(free)
                if self.awaiters:
                    self._wake(free)
        return crowded


def _resolve(future: Any) -> None:
    if not future.done():
        future.set_result(None)


def _give_back(shared: SharedSlots, taking: Any) -> None:
    """A cluster slot taken for a task cancelled meanwhile: release it."""
    if not taking.cancelled() and taking.exception() is None:
        shared.release()


_limiters: dict[Any, Limiter] = {}
# True once any limiter is finite (a user limit, a rate, a provider that refused):
# from then on the calls a jitted function runs inline go through `run_inline` too.
capped = False
_limiters_lock = threading.Lock()


def limiter(key: Any) -> Limiter:
    """The process-wide limiter for `key` (created on first use, unlimited)."""
    found = _limiters.get(key)
    if found is None:
        with _limiters_lock:
            found = _limiters.setdefault(key, Limiter(key))
    return found


def limit(resource: Any, *, max_concurrency: int | None = None,
          rate: float | str | None = None) -> Limiter:
    """Cap the calls to `resource` across every jitted invocation in the process.

    `resource` is a host (``"api.openai.com"``, ``"127.0.0.1:8000"``), a client object
    (its base URL's host), or a function (its deferred calls). ``max_concurrency`` fixes
    the most calls in flight at once (the limit still shrinks below it on rate-limit
    errors and grows back to it); ``rate`` is calls per second or ``"N/min"``.
    """
    key = _resource_key(resource)
    if key is None:
        raise TypeError(f"limit() takes a host name, a client with a base URL or a "
                        f"function, not {type(resource).__name__}")
    found = limiter(key)
    found.configure(max_concurrency, rate)
    if max_concurrency is not None:
        log.info("wavejit: %s limited to %d concurrent calls", key, max_concurrency)
    _plan_cache.clear()
    return found


def snapshot() -> dict[Any, dict[str, float]]:
    """Every limiter's state: limit, peak in flight, throttled, refused, re-issued."""
    return {key: {"limit": lim.limit, "in_flight": lim.in_flight, "peak": lim.peak,
                  "calls": lim.calls, "throttled": lim.throttled, "refused": lim.refused,
                  "reissued": lim.reissued}
            for key, lim in list(_limiters.items())}


def reset() -> None:
    """Forget every limiter and learned provider (tests)."""
    global capped
    capped = False
    with _limiters_lock:
        _limiters.clear()
        _plan_cache.clear()
        _learned.clear()
        _installed[0] = None


# -- cluster-wide slots ------------------------------------------------------------------
#
# On a cluster (`wavejit.executors`) each worker process has its own limiters, so a
# user's ``max_concurrency`` would hold per process. With the spec below, shipped with
# every item, a worker's limiter for a host the user limited also holds a slot of a
# `SharedSlots` - one pool per host for the whole cluster - while a call runs: first
# its own process's slot (waiting there is free), then the cluster's. The backend is
# pluggable: any picklable ``factory(host, max_concurrency, *args)`` returning an
# object with blocking ``acquire()`` and ``release()`` (`wavejit.executors` has one on
# ``distributed.Semaphore`` and one on a named Ray actor). A ``rate`` is split evenly
# over the worker processes. What stays per process: limits learned from refusals
# (AIMD), and limits keyed by a function (``@wavejit.io(max_concurrency=...)``).


class SharedSlots(Protocol):
    """A cluster-wide pool of slots for one resource."""

    def acquire(self) -> None:
        """Block until a slot is free, and take it."""

    def release(self) -> None:
        """Give back a slot taken by this process."""


# (factory, its extra arguments, ((host, max_concurrency or None, rate or None), ...))
SharedSpec = tuple[Callable[..., SharedSlots], tuple[Any, ...],
                   tuple[tuple[str, "int | None", "float | None"], ...]]

_installed: list[SharedSpec | None] = [None]  # on a worker: the spec in force
_install_lock = threading.Lock()


def shared_spec(factory: Callable[..., SharedSlots], args: tuple[Any, ...],
                processes: Callable[[], int]) -> SharedSpec | None:
    """On the caller: the limits the user set on hosts, for the workers (None if
    there are none). A rate is split over ``processes()`` worker processes."""
    if not capped:
        return None  # no limit set at all: the common case, at no cost
    entries = []
    for key, lim in list(_limiters.items()):
        if not isinstance(key, str):
            continue
        cap = int(lim.cap) if lim.cap != math.inf else None
        rate = lim.bucket.rate / max(1, processes()) if lim.bucket is not None else None
        if cap is not None or rate is not None:
            entries.append((key, cap, rate))
    if not entries:
        return None
    return factory, args, tuple(sorted(entries))


def install_shared(spec: SharedSpec | None) -> None:
    """On a worker, before an item runs: make its limiters those of `spec` (the
    caller's, at submission). Cheap when unchanged; limits a former spec installed
    and this one lacks are dropped."""
    if spec == _installed[0]:
        return
    global capped
    with _install_lock:
        old = _installed[0]
        if spec == old:
            return
        keep = {key for key, _, _ in spec[2]} if spec is not None else set()
        for key, _, _ in (old[2] if old is not None else ()):
            if key not in keep:
                with _limiters_lock:
                    _limiters.pop(key, None)
        if spec is not None:
            factory, args, entries = spec
            for key, cap, rate in entries:
                with _limiters_lock:
                    _limiters.pop(key, None)  # a fresh one: nothing held on it
                found = limiter(key)
                found.configure(cap, rate)
                if cap is not None:
                    found.shared = factory(key, cap, *args)
            capped = True
            _plan_cache.clear()
        _installed[0] = spec


# -- keys ------------------------------------------------------------------------------


def _resource_key(resource: Any) -> Any:
    if isinstance(resource, str):
        return resource.lower()
    if isinstance(resource, (types.FunctionType, types.MethodType)):
        return _function_key(resource)
    return client_host(resource)


def _function_key(fn: Any) -> Any:
    return ("function", callee_key(fn))


@dataclass(frozen=True)
class _Plan:
    """What is fixed per callee: its static resource keys and policy."""

    keys: tuple[Any, ...]
    policy: CallPolicy | None
    url_arg: bool  # an httpx / requests function given a URL: key from the argument


_plan_cache: dict[Any, _Plan] = {}
_learned: dict[Any, str] = {}  # callee key -> host learned from a rate-limit error


def _plan(fn: Any) -> tuple[Any, _Plan]:
    """(callee key, plan): cached per code object (see `_hints.callee_key`)."""
    code = getattr(fn, "__code__", None)
    if code is None or getattr(fn, "__wavejit_jit__", False):
        key = callee_key(fn)
    else:
        key = code  # a plain function: what callee_key would return, sooner
    try:
        plan = _plan_cache.get(key)
    except TypeError:
        return key, _make_plan(fn)
    if plan is None:
        plan = _make_plan(fn)
        _plan_cache[key] = plan
    return key, plan


def _make_plan(fn: Any) -> _Plan:
    target = getattr(fn, "__func__", fn)
    if getattr(target, "__wavejit_jit__", False):
        target = target.__wrapped__  # a jitted function: what its code names
    policy = getattr(target, "__wavejit_policy__", None)
    keys: list[Any] = []
    if policy is not None and (policy.max_concurrency is not None or policy.rate is not None):
        keys.append(_function_key(target))
        found = limiter(keys[0])
        if found.cap == math.inf and found.bucket is None:
            found.configure(policy.max_concurrency, policy.rate)
    keys.extend(sorted(_global_hosts(target, 0, set())))
    module = getattr(target, "__module__", None) or ""
    url_arg = module.split(".")[0] in ("httpx", "requests")
    return _Plan(tuple(keys), policy, url_arg)


def provider_key(fn: Any, args: tuple[Any, ...] = (), kwargs: dict[str, Any] | None = None
                 ) -> tuple[Any, ...]:
    """Every resource key a call of `fn` with these arguments uses (see module doc)."""
    key, plan = _plan(fn)
    return _call_keys(fn, key, plan, args, kwargs or {})


def _call_keys(fn: Any, key: Any, plan: _Plan, args: tuple[Any, ...],
               kwargs: dict[str, Any]) -> tuple[Any, ...]:
    extra: list[str] | None = None
    receiver = getattr(fn, "__self__", None)
    if receiver is not None and type(receiver) is not types.ModuleType:
        host = client_host(receiver)
        if host is not None:
            extra = [host]
    for a in (args if not kwargs else (*args, *kwargs.values())):
        if type(a) in _PLAIN or not _is_client(a):
            continue
        host = client_host(a)
        if host is not None:
            extra = [host] if extra is None else [*extra, host]
    if plan.url_arg and args and extra is None and isinstance(args[0], str):
        host = _host_of_url(args[0])
        if host is not None:
            extra = [host]
    if _learned:
        try:
            learned = _learned.get(key)
        except TypeError:
            learned = None
        if learned is not None:
            extra = [learned] if extra is None else [*extra, learned]
    if extra is None:
        return plan.keys
    return tuple(dict.fromkeys((*plan.keys, *sorted(set(extra)))))


_PLAIN = frozenset({int, float, str, bytes, bool, type(None), list, dict, tuple})


def reissue_safe(fn: Any) -> bool:
    """A callee that may be called a second time: the scan shows no write besides the
    request itself (no globals, no argument mutated, no external effects)."""
    from ._effects import external_effects

    info = classify(fn)
    if info.sequential or info.writes_globals or info.mutated is None or info.mutated:
        return False
    return external_effects(fn) is None


def backoff_delay(attempt: int, retry_after: float | None, base: float = BACKOFF_BASE
                  ) -> float:
    """Retry-After (else ``base * 2**attempt``, capped) plus jitter of the same size."""
    delay = retry_after if retry_after is not None else min(BACKOFF_MAX, base * 2 ** attempt)
    return float(delay + clock.uniform(0.0, delay))


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
               or type(fn).__name__)


# -- the entry point -------------------------------------------------------------------


def run(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], counted: bool = True,
        owner: Any = None) -> Any:
    """Call ``fn(*args, **kwargs)`` as a deferred call: limits, re-issue, policy.

    `counted`: a call the user wrote; False for glue the rewrite made (an f-string, an
    operator expression), which is called directly. `owner`: the invocation; once its
    ``done`` is set (an interrupt abandoned it), a call still waiting for a slot or a
    re-issue does not start.
    """
    if not counted:
        return fn(*args, **kwargs)
    if not observing(owner):
        return _run(fn, args, kwargs, owner)
    bar, token = call_started(fn, owner)  # a progress bar, DEBUG logging (_observe)
    failed = True
    try:
        result = _run(fn, args, kwargs, owner)
        failed = False
        return result
    finally:
        call_finished(fn, bar, failed, token)


def run_inline(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """A call the jitted function runs inline, once some limit is set (`capped`): it
    takes its provider's slot like a deferred call (not counted as progress)."""
    return _run(fn, args, kwargs, None)


def _run(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], owner: Any) -> Any:
    key, plan = _plan(fn)
    keys = _call_keys(fn, key, plan, args, kwargs)
    policy = plan.policy
    call: Callable[[], Any]
    if policy is None:
        if not keys:
            try:
                return fn(*args, **kwargs)
            except Exception as exc:
                refusal = rate_limit_info(exc)
                if refusal is None or refusal.host is None:
                    raise
                keys = _first_refusal(fn, refusal)
                if not keys:
                    raise

        def call() -> Any:
            return fn(*args, **kwargs)
    else:
        call = policy_call(policy, fn, args, kwargs)
    return _limited(keys, fn, call, owner)


def _first_refusal(fn: Any, refusal: Refusal) -> tuple[Any, ...]:
    """A provider not known to this call refused it: learn the host; re-issue (if safe)
    through its limiter, once the Retry-After has passed. () if not safe."""
    assert refusal.host is not None
    _learn(fn, refusal.host)
    found = limiter(refusal.host)
    found.refused += 1
    if not reissue_safe(fn):
        return ()
    found.reissued += 1
    clock.sleep(backoff_delay(0, refusal.retry_after))
    return (refusal.host,)


def _learn(fn: Any, host: str) -> None:
    try:
        key = callee_key(fn)
        if _learned.get(key) != host:
            _learned[key] = host
            log.info("wavejit: %s calls %s (learned from a rate-limit error)",
                     _name(fn), host)
    except TypeError:
        pass


# The resources whose slot the current call already holds. Calls deferred inside it
# (a nested jitted function, fanning out to the same provider) run in copies of its
# context and do not take a second slot: waiting for one while holding one would
# deadlock once every slot is held by an outer call.
_holding: contextvars.ContextVar[frozenset[Any]] = contextvars.ContextVar(
    "wavejit_holding", default=frozenset())


def _limited(keys: tuple[Any, ...], fn: Any, call: Callable[[], Any], owner: Any) -> Any:
    holding = _holding.get()
    keys = tuple(sorted({k for k in keys if k not in holding}, key=repr))  # one order:
    if not keys:  # no two calls acquire two limiters in opposite orders
        return call()
    limiters = [limiter(k) for k in keys]
    token = _holding.set(holding | set(keys))
    try:
        return _attempts(keys, limiters, fn, call, owner)
    finally:
        _holding.reset(token)



def _refused(exc: BaseException, fn: Any, held: list[tuple[Any, int, bool]],
             keys: tuple[Any, ...], limiters: list[Limiter], attempt: int,
             safe: bool | None) -> tuple[float, tuple[Any, ...], bool] | None:
    """A call holding the slots `held` raised `exc`: release them (a refusal shrinks
    their limits). If it is a refusal worth re-issuing (a slot was crowded, the callee
    is safe to call again, attempts remain): the delay before re-issuing, the keys
    (with a host the refusal named) and the callee's safety; None to raise `exc`."""
    refusal = rate_limit_info(exc) if isinstance(exc, Exception) else None
    crowded_any = False
    for lim, epoch, crowded in held:
        crowded_any |= lim.release(epoch, refusal is not None) or crowded
    if refusal is None or not crowded_any or attempt >= MAX_REISSUES:
        return None
    if safe is None:
        safe = reissue_safe(fn)
    if not safe:
        return None
    if refusal.host is not None and refusal.host not in keys:
        _learn(fn, refusal.host)
        keys = (*keys, refusal.host)
        limiters.append(limiter(refusal.host))
    for lim in limiters:
        lim.reissued += 1
    delay = backoff_delay(attempt, refusal.retry_after)
    log.debug("wavejit: re-issuing %s in %.3f s (attempt %d)", _name(fn), delay,
              attempt + 1)
    return delay, keys, safe

def _attempts(keys: tuple[Any, ...], limiters: list[Limiter], fn: Any,
              call: Callable[[], Any], owner: Any) -> Any:
    """Take a slot of every limiter, call; on a refusal, re-issue (see module doc)."""
    safe: bool | None = None
    attempt = 0
    while True:
        held: list[tuple[Limiter, int, bool]] = []
        try:
            for lim in limiters:
                epoch, crowded = lim.acquire()
                held.append((lim, epoch, crowded))
        except BaseException:
            for lim, epoch, _ in held:
                lim.release(epoch, False)
            raise
        if getattr(owner, "done", False):  # abandoned while waiting: do not start
            for lim, epoch, _ in held:
                lim.release(epoch, False)
            raise CancelledError(f"{_name(fn)}: its invocation was abandoned (interrupt)")
        try:
            result = call()
        except BaseException as exc:
            step = _refused(exc, fn, held, keys, limiters, attempt, safe)
            if step is None:
                raise
            delay, keys, safe = step
            attempt += 1
            clock.sleep(delay)
            continue
        for lim, epoch, _ in held:
            lim.release(epoch, False)
        return result


# -- the async twin ----------------------------------------------------------------------


async def arun(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], counted: bool = True,
               owner: Any = None) -> Any:
    """``await fn(*args, **kwargs)`` as a deferred awaited call of a jitted ``async
    def`` (from ``_async_runtime``): `run`'s limits, re-issue and ``@wavejit.io``
    options, waiting on the event loop instead of blocking it. The same limiters as
    the threads': one provider's calls share one limit, sync or async."""
    if not counted:
        return await fn(*args, **kwargs)
    if not observing(owner):
        return await _arun(fn, args, kwargs, owner)
    bar, token = call_started(fn, owner)
    failed = True
    try:
        result = await _arun(fn, args, kwargs, owner)
        failed = False
        return result
    finally:
        call_finished(fn, bar, failed, token)


async def arun_inline(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    """An awaited call a jitted ``async def`` keeps in place, once some limit is set
    (`capped`): it takes its provider's slot like a deferred one (`run_inline`'s twin;
    not counted as progress)."""
    return await _arun(fn, args, kwargs, None)


async def _arun(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any], owner: Any) -> Any:
    import asyncio

    key, plan = _plan(fn)
    keys = _call_keys(fn, key, plan, args, kwargs)
    policy = plan.policy
    if policy is None or not (policy.retries or policy.timeout is not None):
        if not keys:
            try:
                return await fn(*args, **kwargs)
            except Exception as exc:
                refusal = rate_limit_info(exc)
                if refusal is None or refusal.host is None:
                    raise
                _learn(fn, refusal.host)
                found = limiter(refusal.host)
                found.refused += 1
                if not reissue_safe(fn):
                    raise
                found.reissued += 1
                await asyncio.sleep(backoff_delay(0, refusal.retry_after))
                keys = (refusal.host,)

        def call() -> Any:
            return fn(*args, **kwargs)
    else:
        call = _apolicy_call(policy, fn, args, kwargs)
    holding = _holding.get()
    keys = tuple(sorted({k for k in keys if k not in holding}, key=repr))
    if not keys:
        return await call()
    token = _holding.set(holding | set(keys))  # this task's own context
    try:
        return await _aattempts(keys, [limiter(k) for k in keys], fn, call, owner)
    finally:
        _holding.reset(token)


async def _aattempts(keys: tuple[Any, ...], limiters: list[Limiter], fn: Any,
                     call: Callable[[], Any], owner: Any) -> Any:
    """`_attempts` for a task: the same slots, refusals and re-issues."""
    import asyncio

    safe: bool | None = None
    attempt = 0
    while True:
        held: list[tuple[Limiter, int, bool]] = []
        try:
            for lim in limiters:
                epoch, crowded = await lim.aacquire()
                held.append((lim, epoch, crowded))
        except BaseException:
            for lim, epoch, _ in held:
                lim.release(epoch, False)
            raise
        try:
            result = await call()
        except BaseException as exc:
            step = _refused(exc, fn, held, keys, limiters, attempt, safe)
            if step is None:
                raise
            delay, keys, safe = step
            attempt += 1
            await asyncio.sleep(delay)
            continue
        for lim, epoch, _ in held:
            lim.release(epoch, False)
        return result


def _apolicy_call(policy: CallPolicy, fn: Any, args: tuple[Any, ...],
                  kwargs: dict[str, Any]) -> Callable[[], Any]:
    """`_policy.policy_call` for an awaited call: retries spaced by ``asyncio.sleep``;
    a timeout cancels the call (a task can be cancelled, unlike a thread) and raises
    the builtin ``TimeoutError``. A ``tenacity`` policy runs as ``AsyncRetrying`` if
    it is one, else is not applied to awaited calls."""
    import asyncio

    retries = policy.retries
    if retries and not reissue_safe(fn):
        if not policy.warned:
            policy.warned.append(True)
            log.warning("wavejit: %s has effects (its scan shows writes): not retried",
                        _name(fn))
        retries = 0

    async def attempts() -> Any:
        if not isinstance(retries, int):
            if inspect.iscoroutinefunction(type(retries).__call__):
                return await retries(fn, *args, **kwargs)  # tenacity.AsyncRetrying
            return await fn(*args, **kwargs)
        attempt = 0
        while True:
            try:
                return await fn(*args, **kwargs)
            except policy.retry_on as exc:
                if attempt >= retries:
                    raise
                delay = policy.delay(attempt)
                attempt += 1
                log.info("wavejit: retrying %s after %s (attempt %d of %d, in %.3f s)",
                         _name(fn), type(exc).__name__, attempt, retries, delay)
                await asyncio.sleep(delay)

    async def call() -> Any:
        if policy.timeout is None:
            return await attempts()
        try:
            return await asyncio.wait_for(attempts(), policy.timeout)
        except asyncio.TimeoutError:
            raise TimeoutError(f"{_name(fn)} did not finish within {policy.timeout} s "
                               f"(@wavejit.io(timeout={policy.timeout}))") from None

    return call
