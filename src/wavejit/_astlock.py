"""One guard around every parse and every compile of a syntax tree the jit makes, and
the pause of the garbage collector while the jit compiles.

CPython 3.11 before 3.11.8 and 3.12 before 3.12.2 keep the AST converter's recursion
depth in interpreter-wide state (gh-106905, fixed by python/cpython#113035): a
conversion interrupted half-way while another thread converts fails with
``SystemError: AST constructor recursion depth mismatch``. Deferred calls compile
helpers' twins and scan sources on pool threads, so ``with AST_LOCK:``

* serializes the jit's own conversions (a reentrant lock), and
* on those versions, keeps each from being interrupted: a conversion holds the GIL
  throughout, except when an allocation starts a garbage collection whose finalizers
  run Python code, which may switch threads; the collector is paused meanwhile.

(A conversion of the user's own, interrupted by its thread's collection while the jit
converts, can still fail on those versions; no library can prevent that.)
"""

from __future__ import annotations

import contextlib
import gc
import sys
import threading
from collections.abc import Iterator
from types import TracebackType

__all__ = ["AST_LOCK", "gc_paused"]

_RACY = (3, 11) <= sys.version_info[:3] < (3, 11, 8) or (
    (3, 12) <= sys.version_info[:3] < (3, 12, 2))

_gc_lock = threading.Lock()
_gc_pausers = 0  # regions running now; the outermost one that paused it resumes it
_gc_resume = False


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """The cyclic garbage collector off for the region (any thread's; they nest).

    A compile allocates a few thousand AST nodes, which are containers: each 700 of
    them start a young-generation collection, and every tenth of those an older one,
    which in a process with a large heap (an SDK, pydantic models) walks all of it.
    Python's own ``compile()`` allocates no such objects. The trees hold no reference
    cycles, so reference counting frees them; collection resumes when the last region
    running ends, if it was on before the first began (5% of the 51-line function's
    compile in the benchmark's small process).
    """
    global _gc_pausers, _gc_resume
    with _gc_lock:
        if _gc_pausers == 0:
            _gc_resume = gc.isenabled()
            gc.disable()
        _gc_pausers += 1
    try:
        yield
    finally:
        with _gc_lock:
            _gc_pausers -= 1
            if _gc_pausers == 0 and _gc_resume:
                gc.enable()


class _AstGuard:
    """``with AST_LOCK:`` -- the lock; on the racy versions, the collector paused."""

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._pauses: list[contextlib.AbstractContextManager[None]] = []

    def __enter__(self) -> None:
        self._lock.acquire()
        if _RACY:
            pause = gc_paused()
            pause.__enter__()
            self._pauses.append(pause)  # (held by this thread: the lock is ours)

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        try:
            if _RACY:
                self._pauses.pop().__exit__(None, None, None)
        finally:
            self._lock.release()


AST_LOCK = _AstGuard()
