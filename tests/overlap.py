"""Proof of concurrency for tests marked ``@pytest.mark.concurrency``.

A test that claims overlap, deferral, deadlock freedom or racing asserts, besides its
result, that calls were *deferred* (the jitted function's ``last_run`` lists them) and
that at least two of them were *in flight at the same time* (from their start / end
stamps). Under ``WAVEJIT_EXECUTOR=sequential`` every deferred call runs inline, one
after another, so the second assertion fails: ``make test`` runs the marked tests that
way and requires every one of them to fail (a mutation check of the suite).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from wavejit import RunRecord


def max_in_flight(spans: Iterable[tuple[float, float]]) -> int:
    """The most intervals ``[start, end)`` open at one instant (touching ones do not count)."""
    spans = list(spans)
    # At one instant, an end sorts before a start: touching intervals do not overlap.
    events = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    best = current = 0
    for _, step in events:
        current += step
        best = max(best, current)
    return best


def assert_overlapped(fn_or_record: Any, *, deferred: int = 2, together: int = 2) -> RunRecord:
    """`fn`'s last invocation deferred >= `deferred` calls, >= `together` of them at once.

    Takes a jitted function (its ``last_run``) or a `RunRecord`; returns the record.
    """
    record = fn_or_record if isinstance(fn_or_record, RunRecord) else fn_or_record.last_run
    assert record is not None, "the jitted function deferred no call"
    calls = [c for c in record.calls if not c.cancelled]
    assert len(calls) >= deferred, (
        f"{len(calls)} call(s) deferred, expected at least {deferred}: {calls}")
    peak = max_in_flight((c.started, c.finished) for c in calls)
    assert peak >= together, (
        f"at most {peak} deferred call(s) were in flight at once, expected {together}: "
        "they ran one after another")
    return record


def assert_spans_overlap(spans: Iterable[tuple[float, float]], together: int = 2) -> None:
    """At least `together` of these (start, end) intervals were open at one instant."""
    spans = list(spans)
    peak = max_in_flight(spans)
    assert peak >= together, (
        f"at most {peak} of {len(spans)} calls were in flight at once, expected {together}")
