"""Tracebacks without wavejit's own frames.

A deferred call fails on a worker thread; its exception reaches the user's code later,
at the first strict use of the result or at a barrier, through the runtime's frames
(``wait``, ``value``, ``result``, the executor's ``run``, the call's wrapper), and
each time the same object is raised again its traceback grows by the frames it
passed through. The user needs the callee's own frames and their own lines; the
note added to the exception names the call's line.

So, as pytest (``__tracebackhide__``) and Jinja (``rewrite_traceback_stack``) do,
`trim` unlinks every traceback entry whose code lives in one of wavejit's own modules
(``src/wavejit/*.py``; not ``wavejit.bench``, whose clients are the callees in the
benchmarks). The runtime calls it where the exception is handed back to the jitted
function's code (``fail`` / ``fail_exit``, the handler every guarded block and the
function body itself run when they raise), after the last internal raise.

The links are rewritten in place (``tb_next`` is writable since Python 3.7), and the
exception's ``__traceback__`` set to the first entry left. Both matter: a bare
``raise`` re-raises ``__traceback__`` on Python >= 3.11, but on 3.10 the traceback
object its ``except`` clause caught, the entry of the jitted function's own frame,
whose chain is then the trimmed one.

``WAVEJIT_TRACEBACK=full`` in the environment keeps every frame (for debugging
wavejit itself).
"""

from __future__ import annotations

import os
import types
from typing import TypeVar

__all__ = ["trim", "is_internal"]

E = TypeVar("E", bound="BaseException | None")

_PACKAGE_DIR = os.path.dirname(os.path.abspath(__file__))
_KEEP_ALL = os.environ.get("WAVEJIT_TRACEBACK", "").strip().lower() == "full"


def is_internal(tb: types.TracebackType) -> bool:
    """True if the entry's code is in one of wavejit's own modules."""
    return os.path.dirname(tb.tb_frame.f_code.co_filename) == _PACKAGE_DIR


def trim(exc: E) -> E:
    """`exc` with wavejit's frames unlinked from its traceback (in place); returns it."""
    if exc is None or _KEEP_ALL:
        return exc
    head = exc.__traceback__
    while head is not None and is_internal(head):
        head = head.tb_next
    entry = head
    while entry is not None:
        following = entry.tb_next
        while following is not None and is_internal(following):
            following = following.tb_next
        if entry.tb_next is not following:
            entry.tb_next = following
        entry = following
    if exc.__traceback__ is not head:
        exc.__traceback__ = head
    return exc
