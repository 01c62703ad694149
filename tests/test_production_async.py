"""Provider limits for the awaited calls of a jitted ``async def`` (`_limits.arun`):
the real ``openai.AsyncOpenAI`` client against the rate-limited server on loopback,
results compared with the plain coroutine every time."""

from __future__ import annotations

import asyncio
import math
import threading
import time
from collections.abc import Awaitable, Callable, Iterator

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


def _asker(client: openai.AsyncOpenAI) -> Callable[[str], Awaitable[str]]:
    async def ask(q: str) -> str:
        reply = await client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": q}])
        return reply.choices[0].message.content or ""

    return ask


def _pipeline(ask: Callable[[str], Awaitable[str]]) -> Callable[..., Awaitable[list[str]]]:
    async def fan_out(qs: list[str]) -> list[str]:
        answers = [await ask(q) for q in qs]
        summary = await ask(" + ".join(answers[:2]))
        return [*answers, summary]

    return fan_out


def test_user_max_concurrency_holds_across_concurrent_async_invocations() -> None:
    # 8 invocations at once: 4 on each of two threads, each thread with its own event
    # loop and its own AsyncOpenAI client of the same host (one limiter): a task of
    # one loop is woken by a call finishing on the other.
    with RateLimitedServer(cap=1000, latency=0.02) as server:
        wavejit.limit(f"127.0.0.1:{server.port}", max_concurrency=5)
        results: dict[int, list[str]] = {}
        expected: dict[int, list[str]] = {}
        # Both threads' plain runs end before either jitted run starts (a plain request
        # takes no slot); the counts then start from zero.
        barrier = threading.Barrier(2, action=server.reset_counts)

        def questions(k: int) -> list[str]:
            return [f"{k}-{i}" for i in range(10)]

        def thread(first: int) -> None:
            async def main() -> None:
                client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x",
                                            max_retries=0)
                plain = _pipeline(_asker(client))
                jitted = wavejit.jit(plain)
                for k in range(first, first + 4):
                    expected[k] = await plain(questions(k))
                await asyncio.get_running_loop().run_in_executor(None, barrier.wait, 10)
                answers = await asyncio.gather(*(jitted(questions(k))
                                                 for k in range(first, first + 4)))
                results.update(zip(range(first, first + 4), answers, strict=True))
                await client.close()

            asyncio.run(main())

        threads = [threading.Thread(target=thread, args=(first,)) for first in (0, 4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        counts = server.counts()
        host = f"127.0.0.1:{server.port}"
    assert results == expected and len(results) == 8
    assert counts["refused"] == 0
    assert counts["served"] == 8 * 11  # no call repeated, none lost
    assert counts["peak"] <= 5, counts  # the user's limit, across both loops
    assert counts["peak"] >= 2  # the calls did overlap (else the test shows nothing)
    state = _limits.snapshot()[host]
    assert state["peak"] <= 5 and state["throttled"] > 0 and state["in_flight"] == 0


def test_async_calls_refused_by_the_provider_are_reissued_and_answers_equal_plain() -> None:
    # No user limit: the server takes 4 at once and refuses the rest (429 with
    # Retry-After); the limiter learns the provider's limit, as for threads.
    with RateLimitedServer(cap=4, latency=0.05, retry_after=0.02) as server:

        async def main() -> tuple[list[str], list[str], float, float]:
            client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x",
                                        max_retries=0)
            plain = _pipeline(_asker(client))
            jitted = wavejit.jit(plain)
            qs = [f"q{i}" for i in range(24)]
            t0 = time.perf_counter()
            expected = await plain(qs)
            plain_wall = time.perf_counter() - t0
            assert server.counts()["refused"] == 0  # plain never exceeds the cap
            t0 = time.perf_counter()
            got = await jitted(qs)
            wall = time.perf_counter() - t0
            await client.close()
            return got, expected, wall, plain_wall

        got, expected, wall, plain_wall = asyncio.run(main())
        counts = server.counts()
    assert got == expected
    state = _limits.snapshot()[f"127.0.0.1:{server.port}"]
    assert state["refused"] == counts["refused"] > 0  # the provider did refuse
    assert state["reissued"] >= counts["refused"]  # and each refused call came back
    # The limit learned (it halves on refusals and grows back by about one slot per
    # round of successes: AIMD), and every slot was given back.
    assert state["limit"] < math.inf and state["in_flight"] == 0
    # 25 sequential requests of 50 ms vs about 25/4 rounds plus the refusals'
    # Retry-After (ideal about 4x): 1.5x is a wide margin on a loaded 2-core machine.
    assert wall * 1.5 <= plain_wall, (wall, plain_wall, counts)


def test_a_cancelled_waiter_passes_its_wake_up_on() -> None:
    # One slot; three tasks wait for it. The first waiter is cancelled after a release
    # woke it: the wake-up must reach the next waiter, or it would wait forever.
    lim = _limits.limiter("cancel.test")
    lim.configure(1, None)

    async def main() -> list[str]:
        order: list[str] = []
        epoch, _ = await lim.aacquire()

        async def wait(name: str) -> None:
            e, _ = await lim.aacquire()
            order.append(name)
            lim.release(e, False)

        a = asyncio.ensure_future(wait("a"))
        b = asyncio.ensure_future(wait("b"))
        await asyncio.sleep(0.01)
        assert len(lim.awaiters) == 2
        lim.release(epoch, False)  # wakes "a" (call_soon), which is cancelled first
        a.cancel()
        await asyncio.wait_for(b, 2)
        return order

    assert asyncio.run(main()) == ["b"]
    assert lim.in_flight == 0 and not lim.awaiters


def test_io_timeout_and_retries_on_awaited_calls() -> None:
    attempts: list[float] = []

    @wavejit.io(retries=2, backoff=0.01, retry_on=(ConnectionError,))
    async def flaky(x: int) -> int:
        attempts.append(time.perf_counter())
        await asyncio.sleep(0.01)
        if len(attempts) < 3:
            raise ConnectionError("try again")
        return x

    @wavejit.io(timeout=0.05)
    async def slow(x: int) -> int:
        await asyncio.sleep(1)
        return x

    async def uses_flaky() -> list[int]:
        return [await flaky(1)]

    async def uses_slow() -> list[int]:
        return [await slow(1), await slow(2)]

    assert asyncio.run(wavejit.jit(uses_flaky)()) == [1]
    assert len(attempts) == 3
    t0 = time.perf_counter()
    with pytest.raises(TimeoutError, match="slow did not finish within 0.05 s"):
        asyncio.run(wavejit.jit(uses_slow)())
    assert time.perf_counter() - t0 < 0.5  # cancelled at 0.05 s, not after 1 s
