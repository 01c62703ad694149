"""Output in program order: what deferred calls print appears where plain Python prints it.

A deferred call that prints (a helper reporting progress, a logging handler writing to
stderr) would otherwise print in completion order, interleaved with the caller's own
output. Like a reorder buffer, each invocation that defers keeps a `Sequencer`: a
queue of *slots* in program order. The caller's output between two deferred calls is
one slot; each deferred call's output is another, linked into the queue at the call's
program point (when it is spawned; when its loop item is retired, for a call issued
ahead). The slot at the head of the queue writes through; the others buffer until
every slot before them is complete (the caller moved past it, or the call finished).

Routing: while any such invocation runs, ``sys.stdout`` and ``sys.stderr`` are
`_Stream` proxies (installed and removed by reference count), and logging's stream
handlers that wrote to the original streams write to the proxies. A proxy writes to
the *sink* in the `contextvars` context of the writer: the caller's `Sequencer`, a
deferred call's `Slot` (set in the call's own context), or nothing (any other thread:
straight through). A nested jitted function's sequencer writes into the slot that
was current when it began, so nesting composes.

Slots of calls never linked (issued ahead for loop items plain Python never reached)
are dropped with their output.
"""

from __future__ import annotations

import contextvars
import sys
import threading
from collections import deque
from typing import Any, TextIO

__all__ = ["Sequencer", "Slot", "sink", "begin", "end"]

sink: contextvars.ContextVar[Any] = contextvars.ContextVar("wavejit_output", default=None)

_install_lock = threading.Lock()
_installed = 0
_swapped_handlers: list[tuple[Any, Any]] = []


class _Stream:
    """``sys.stdout`` / ``sys.stderr`` while an invocation defers: writes to the sink."""

    def __init__(self, target: TextIO, index: int) -> None:
        self._target = target
        self._index = index

    def write(self, text: str) -> int:
        current = sink.get()
        if current is None:
            return self._target.write(text)
        current.write(self._index, text)
        return len(text)

    def flush(self) -> None:
        if sink.get() is None:
            self._target.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._target, name)


def _write_out(index: int, text: str) -> None:
    stream: Any = sys.stdout if index == 0 else sys.stderr
    if isinstance(stream, _Stream):
        stream = stream._target
    stream.write(text)


class Slot:
    """One deferred call's output (or one stretch of the caller's), in program order."""

    __slots__ = ("seq", "buffer", "complete", "caller")

    def __init__(self, seq: Sequencer, caller: bool = False) -> None:
        self.seq = seq
        self.buffer: list[tuple[int, str]] = []
        self.complete = False
        self.caller = caller  # a stretch of the caller's output (complete once not last)

    def write(self, index: int, text: str) -> None:
        seq = self.seq
        with seq.lock:
            if seq.slots and seq.slots[0] is self:
                seq.emit(index, text)
            else:
                self.buffer.append((index, text))


class Sequencer:
    """An invocation's output queue: slots flushed strictly in program order.

    The queue holds the linked calls' slots not yet flushed and, between them, the
    caller's output written while earlier calls were unfinished (a caller slot, made
    only when the caller writes: linking a call is one append). When the queue is
    empty, the caller writes through.
    """

    __slots__ = ("parent", "lock", "slots", "dead")

    def __init__(self, parent: Any) -> None:
        self.parent = parent  # the sink when the invocation began (None: the streams)
        self.lock = threading.Lock()
        self.slots: deque[Slot] = deque()
        self.dead = False  # a deferred print failed: nothing after it is written

    def write(self, index: int, text: str) -> None:
        """The caller's own output, after every deferred call linked so far."""
        with self.lock:
            if self.dead:
                return
            slots = self.slots
            if not slots:
                self.emit(index, text)
                return
            tail = slots[-1]
            if not tail.caller:
                tail = Slot(self, caller=True)
                slots.append(tail)
            tail.buffer.append((index, text))

    def emit(self, index: int, text: str) -> None:
        if self.parent is None:
            _write_out(index, text)
        else:
            self.parent.write(index, text)

    def link(self, slot: Slot) -> None:
        """A deferred call's program point: its output goes here, the caller's after."""
        with self.lock:
            if self.dead:
                return
            self.slots.append(slot)
            if self.slots[0] is slot:  # at the head already: what it buffered goes out
                self._flush()

    def done(self, slot: Slot) -> None:
        """A deferred call finished: its output may be flushed once it is at the head."""
        with self.lock:
            slot.complete = True
            if self.slots and self.slots[0] is slot:
                self._flush()

    def fail(self, slot: Slot) -> None:
        """A deferred print failed: plain Python raised there, so neither it nor anything
        after it is written (what was linked before it still is)."""
        with self.lock:
            self.dead = True
            slots = self.slots
            if slot not in slots:
                return
            while slots[-1] is not slot:
                slots.pop()
            slots.pop()
            if slots and slots[0].complete:
                self._flush()

    def _flush(self) -> None:
        slots = self.slots
        while slots:
            head = slots[0]
            if head.buffer:
                for index, text in head.buffer:
                    self.emit(index, text)
                head.buffer.clear()
            if not head.complete and not (head.caller and len(slots) > 1):
                if head.caller:
                    slots.popleft()  # the caller's last stretch: it writes through now
                return
            slots.popleft()

    def close(self) -> None:
        """The invocation is over: everything linked is written, in order."""
        with self.lock:
            for slot in self.slots:
                slot.complete = True
            self._flush()


def begin() -> tuple[Sequencer, contextvars.Token[Any]]:
    """Start ordering this invocation's output (its first deferred call)."""
    _install()
    seq = Sequencer(sink.get())
    return seq, sink.set(seq)


def end(seq: Sequencer, token: contextvars.Token[Any]) -> None:
    seq.close()
    try:
        sink.reset(token)
    except ValueError:  # pragma: no cover - ended in another context (a finalizer)
        pass
    _uninstall()


def _install() -> None:
    global _installed
    with _install_lock:
        _installed += 1
        if _installed > 1:
            return
        originals = (sys.stdout, sys.stderr)
        if not isinstance(sys.stdout, _Stream) and sys.stdout is not None:
            sys.stdout = _Stream(sys.stdout, 0)
        if not isinstance(sys.stderr, _Stream) and sys.stderr is not None:
            sys.stderr = _Stream(sys.stderr, 1)
        # Handlers made before (logging.basicConfig) hold the original streams.
        for handler in _stream_handlers():
            for original, proxy in zip(originals, (sys.stdout, sys.stderr), strict=True):
                if handler.stream is original and isinstance(proxy, _Stream):
                    _swapped_handlers.append((handler, original))
                    handler.stream = proxy


def _uninstall() -> None:
    global _installed
    with _install_lock:
        _installed -= 1
        if _installed:
            return
        for handler, original in _swapped_handlers:
            if isinstance(handler.stream, _Stream):
                handler.stream = original
        _swapped_handlers.clear()
        if isinstance(sys.stdout, _Stream):
            sys.stdout = sys.stdout._target
        if isinstance(sys.stderr, _Stream):
            sys.stderr = sys.stderr._target


def _stream_handlers() -> list[Any]:
    logging = sys.modules.get("logging")
    if logging is None:
        return []  # never imported: no handler holds a stream
    loggers: list[Any] = [logging.getLogger()]
    loggers += [lg for lg in logging.Logger.manager.loggerDict.values()
                if isinstance(lg, logging.Logger)]
    return [h for lg in loggers for h in lg.handlers
            if type(h) is logging.StreamHandler]
