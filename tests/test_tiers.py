"""Tiers: tier 0 measures, tier 1 hooks only the deferring sites, a guard re-profiles."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest

import wavejit
from overlap import assert_overlapped
from wavejit import _tiers

L = 0.05


def fetch(x: int) -> int:
    time.sleep(L)
    return x


def fetch_other(x: int) -> int:
    time.sleep(L)
    return -x


def double(x: int) -> int:
    return 2 * x


def mixed(xs: list[int], source: Callable[[int], int]) -> list[int]:
    out = []
    for x in xs:
        a = source(x)
        b = double(x)
        out.append(a)
        out.append(b)
    return out


def status(jitted: Any) -> str:
    return str(jitted.explain().status)


@pytest.mark.concurrency
def test_tier1_hooks_only_the_deferring_sites() -> None:
    jitted = wavejit.jit(mixed)
    xs = list(range(4))
    for _ in range(_tiers.TIER1_AFTER + 1):
        assert jitted(xs, fetch) == mixed(xs, fetch)
    assert "tier 1: 1 of 2 call sites hooked" in status(jitted)
    expected = mixed(xs, fetch)
    start = time.perf_counter()
    assert jitted(xs, fetch) == expected
    # Still concurrent in tier 1: four fetches of L take ~L; sequential, 4 L. 3 L
    # leaves room for a loaded machine and still fails if they were serialised.
    assert time.perf_counter() - start < 3 * L
    assert_overlapped(jitted, deferred=4, together=4)


def test_a_new_callee_at_a_hooked_site_sends_it_back_to_tier0() -> None:
    jitted = wavejit.jit(mixed)
    xs = list(range(3))
    for _ in range(_tiers.TIER1_AFTER + 1):
        jitted(xs, fetch)
    assert "tier 1" in status(jitted)
    assert jitted(xs, fetch_other) == mixed(xs, fetch_other)  # the guard fails
    assert "tier 0" in status(jitted)
    for _ in range(_tiers.TIER1_AFTER + 1):
        assert jitted(xs, fetch_other) == mixed(xs, fetch_other)
    assert "tier 1" in status(jitted)
