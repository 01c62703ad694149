"""pandas ``apply`` / ``map`` of an I/O function: its calls issued ahead, replayed in order.

Labelling a table with an LLM is one line in real notebooks::

    df["label"] = df.apply(lambda row: classify(row), axis=1)

pandas calls the function once per row, waiting for each. The call site is the
``apply`` (a library method), so the jit cannot split it by rewriting. At run time,
when the receiver is a pandas ``DataFrame`` / ``Series``, the method is ``apply`` /
``map`` / ``applymap``, and the function passed is judged I/O with no effects the
caller could see, the call runs in three passes:

1. **record**: the same method with a recording function that returns None, to learn
   the arguments pandas will pass, in order (rows are copied: pandas may reuse one
   Series object for every row);
2. **issue**: the real function deferred on each recorded argument, in that order
   (deferred calls: they overlap, their output is kept in program order, a failure
   cancels what has not started);
3. **replay**: the same method with a function that checks each argument is the one
   recorded and returns that call's result (waiting for it; raising its exception
   where plain Python would have raised it).

pandas computes its result (dtype inference, index, expansion of returned Series) from
the same values as plain. If the replay sees an argument it did not record, that call
and the rest run live, and what was issued and not yet started is cancelled. Anything
unusual (an argument of another type than a Series or a scalar, the record pass
raising) and the call runs plain, once.
"""

from __future__ import annotations

import types
from typing import TYPE_CHECKING, Any

from ._deep import bind_twin

if TYPE_CHECKING:
    from ._runtime import Invocation

__all__ = ["NOT_HANDLED", "ROW_MAPS", "map_ahead"]

NOT_HANDLED = object()
ROW_MAPS = frozenset({"apply", "map", "applymap"})
_RECEIVERS = frozenset({"DataFrame", "Series"})
_SCALARS = (str, int, float, bool, type(None), bytes)


class _Unsupported(Exception):
    """An argument the replay could not compare: run the call plain."""


def map_ahead(inv: Invocation, site: Any, method: Any, args: tuple[Any, ...],
              kwargs: dict[str, Any]) -> Any:
    """The value of ``method(*args, **kwargs)`` computed in three passes, or
    NOT_HANDLED when this is not a pandas map of an I/O function."""
    receiver = getattr(method, "__self__", None)
    cls = type(receiver)
    if cls.__name__ not in _RECEIVERS or not _from_pandas(cls) or not args:
        return NOT_HANDLED
    func = args[0]
    if not isinstance(func, types.FunctionType):
        return NOT_HANDLED
    decision = site.decide(func)
    # Known I/O still to be measured is issued too: many calls of it are about to be made.
    if not (decision.defer or decision.profile and decision.info.io) or decision.effects:
        return NOT_HANDLED
    issued = func if decision.twin is None else bind_twin(decision.twin, func)
    rest = args[1:]

    recorded: list[tuple[Any, tuple[Any, ...], dict[str, Any]]] = []

    def record(x: Any, *a: Any, **k: Any) -> None:
        if isinstance(x, _SCALARS):
            recorded.append((x, a, k))
        elif type(x).__name__ == "Series" and _from_pandas(type(x)):
            recorded.append((x.copy(), a, k))
        else:
            raise _Unsupported(type(x).__name__)

    try:
        method(record, *rest, **kwargs)
    except Exception:  # noqa: BLE001 - an argument we cannot replay, or pandas refused
        return NOT_HANDLED
    pendings = [inv._defer(site, decision, issued, (x, *a), k) for x, a, k in recorded]
    site.deferred_calls += max(0, len(pendings) - 1)  # decide() counted one
    position = 0
    live = False

    def replay(x: Any, *a: Any, **k: Any) -> Any:
        nonlocal position, live
        if not live and position < len(recorded) and _same(recorded[position], x, a, k):
            pending = pendings[position]
            position += 1
            return inv.wait(pending)
        if not live:  # not the call recorded: the rest runs live
            live = True
            _drop(inv, pendings[position:])
        return func(x, *a, **k)

    value = method(replay, *rest, **kwargs)
    if not live:
        _drop(inv, pendings[position:])  # recorded, never asked for
    return value


def _drop(inv: Invocation, pendings: list[Any]) -> None:
    """Calls plain Python does not make: cancelled, or (started) waited for, their
    results and failures ignored."""
    for pending in pendings:
        if pending.cancel():
            continue
        inv.wasted += 1
        try:
            inv.wait(pending)
        except Exception:  # noqa: BLE001, S110 - never asked for: not raised
            pass


def _from_pandas(cls: type) -> bool:
    return cls.__module__.partition(".")[0] == "pandas"  # "pandas" (3.x), "pandas.core..."


def _same(entry: tuple[Any, tuple[Any, ...], dict[str, Any]], x: Any,
          a: tuple[Any, ...], k: dict[str, Any]) -> bool:
    recorded, ra, rk = entry
    try:
        if ra != a or rk != k:
            return False
        if isinstance(recorded, _SCALARS):
            return type(x) is type(recorded) and (
                x == recorded or (x != x and recorded != recorded))  # NaN is NaN
        return bool(type(x) is type(recorded) and recorded.equals(x) and (
            recorded.name == x.name or recorded.name is x.name))
    except Exception:  # noqa: BLE001 - not comparable: not the same
        return False
