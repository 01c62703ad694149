"""The pluggable cluster-wide slots of `_limits` (`shared_spec`, `install_shared`), in
one process: what a worker does with the limits an item brings. The engines' own
backends (``distributed.Semaphore``, a Ray actor) are tested on real clusters in
tests/test_cluster.py."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import openai
import pytest

import wavejit
from wavejit import _limits
from wavejit.bench.ratelimited import RateLimitedServer


@pytest.fixture(autouse=True)
def _fresh_limiters() -> Iterator[None]:
    _limits.reset()
    yield
    _limits.reset()


class CountingSlots:
    """A stand-in for a cluster's slots: a semaphore, and counts of its use."""

    made: list[CountingSlots] = []

    def __init__(self, host: str, max_concurrency: int, tag: str) -> None:
        self.host, self.cap, self.tag = host, max_concurrency, tag
        self.semaphore = threading.BoundedSemaphore(max_concurrency)
        self.lock = threading.Lock()
        self.acquired = self.released = self.held = self.peak = 0
        CountingSlots.made.append(self)

    def acquire(self) -> None:
        self.semaphore.acquire()
        with self.lock:
            self.acquired += 1
            self.held += 1
            self.peak = max(self.peak, self.held)

    def release(self) -> None:
        with self.lock:
            self.released += 1
            self.held -= 1
        self.semaphore.release()


def test_spec_carries_the_users_limits_on_hosts() -> None:
    assert _limits.shared_spec(CountingSlots, ("t",), lambda: 4) is None  # none set
    wavejit.limit("api.example.test", max_concurrency=3)
    wavejit.limit("rate.example.test", rate="120/min")
    spec = _limits.shared_spec(CountingSlots, ("t",), lambda: 4)
    assert spec == (CountingSlots, ("t",), (("api.example.test", 3, None),
                                            ("rate.example.test", None, 0.5)))


def test_installed_slots_are_held_by_sync_and_async_calls() -> None:
    CountingSlots.made.clear()
    with RateLimitedServer(cap=1000, latency=0.02) as server:
        host = f"127.0.0.1:{server.port}"
        spec = (CountingSlots, ("t",), ((host, 3, None),))
        _limits.install_shared(spec)  # as run_item does on a worker
        _limits.install_shared(spec)  # the same spec again: nothing new is made
        assert len(CountingSlots.made) == 1
        slots = CountingSlots.made[0]
        assert (slots.host, slots.cap) == (host, 3)

        client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)

        def ask(q: str) -> str:
            reply = client.chat.completions.create(
                model="m", messages=[{"role": "user", "content": q}])
            return reply.choices[0].message.content or ""

        def fan_out(qs: list[str]) -> list[str]:
            return [ask(q) for q in qs]

        qs = [f"q{i}" for i in range(12)]
        expected = fan_out(qs)
        served = server.counts()["served"]
        assert wavejit.jit(fan_out)(qs) == expected

        async def afan_out(qs: list[str]) -> list[str]:
            aclient = openai.AsyncOpenAI(base_url=server.base_url, api_key="x",
                                         max_retries=0)
            try:
                replies = [await aclient.chat.completions.create(
                    model="m", messages=[{"role": "user", "content": q}]) for q in qs]
                return [reply.choices[0].message.content or "" for reply in replies]
            finally:
                await aclient.close()

        assert asyncio.run(wavejit.jit(afan_out)(qs)) == expected
        counts = server.counts()
        client.close()
    # Every request of the jitted runs held one of the shared slots, and gave it back.
    jitted_requests = counts["served"] - served
    assert jitted_requests == 24
    assert slots.acquired == slots.released == jitted_requests
    assert 2 <= slots.peak <= 3 and counts["peak"] <= 3

    _limits.install_shared(None)  # the caller dropped its limits: so does the worker
    assert host not in _limits.snapshot()
