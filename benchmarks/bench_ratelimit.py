"""300 LLM calls against a provider that allows 20 concurrent requests.

    .venv/bin/python benchmarks/bench_ratelimit.py [--calls 300] [--cap 20]
        [--latency 0.05] [--retry-after 0.1]

The real ``openai`` client against `wavejit.bench.ratelimited.RateLimitedServer` on
loopback (HTTP 429 with ``Retry-After`` above the cap), with the SDK's default
``max_retries=2`` and with ``max_retries=0``. Peers: plain Python, a hand-written
``ThreadPoolExecutor(16)`` (a user who knows the cap), and ``@wavejit.jit`` with default
settings (no limit configured: the limiter learns the provider's cap from its 429s).
Each peer runs once on a fresh client and fresh limiter state; every result is
compared with plain Python's. Prints wall time, the server's 429 count and the most
requests it saw in flight. ``Retry-After`` is 0.1 s here (providers say 1 s or more)
so that a run takes seconds.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import openai

import wavejit
from wavejit import _limits
from wavejit.bench.ratelimited import RateLimitedServer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=300)
    parser.add_argument("--cap", type=int, default=20)
    parser.add_argument("--latency", type=float, default=0.05)
    parser.add_argument("--retry-after", type=float, default=0.1)
    args = parser.parse_args()
    questions = [f"question {i}" for i in range(args.calls)]
    print(f"{args.calls} calls, provider cap {args.cap} concurrent, latency "
          f"{args.latency * 1000:.0f} ms, Retry-After {args.retry_after} s")
    print(f"{'client':<16} {'peer':<12} {'wall s':>8} {'429s':>6} {'peak':>5}  result")
    with RateLimitedServer(cap=args.cap, latency=args.latency,
                           retry_after=args.retry_after) as server:
        expected: list[str] | None = None
        for retries in (2, 0):
            label = f"max_retries={retries}"
            for peer, make in PEERS.items():
                _limits.reset()
                client = openai.OpenAI(base_url=server.base_url, api_key="x",
                                       max_retries=retries)
                run = make(client)
                server.reset_counts()
                t0 = time.perf_counter()
                try:
                    result: Any = run(questions)
                    outcome = "ok" if expected is None or result == expected else "WRONG"
                except openai.RateLimitError as exc:
                    outcome = f"raised {type(exc).__name__}"
                    result = None
                wall = time.perf_counter() - t0
                if expected is None and outcome == "ok":
                    expected = result
                counts = server.counts()
                print(f"{label:<16} {peer:<12} {wall:8.2f} {counts['refused']:6d} "
                      f"{counts['peak']:5d}  {outcome}")
                client.close()


def _ask(client: openai.OpenAI) -> Callable[[str], str]:
    def ask(q: str) -> str:
        reply = client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": q}])
        return str(reply.choices[0].message.content)

    return ask


def _plain(client: openai.OpenAI) -> Callable[[list[str]], list[str]]:
    ask = _ask(client)

    def fan_out(qs: list[str]) -> list[str]:
        return [ask(q) for q in qs]

    return fan_out


def _pool(client: openai.OpenAI) -> Callable[[list[str]], list[str]]:
    ask = _ask(client)

    def fan_out(qs: list[str]) -> list[str]:
        with ThreadPoolExecutor(16) as pool:
            return list(pool.map(ask, qs))

    return fan_out


def _jit(client: openai.OpenAI) -> Callable[[list[str]], list[str]]:
    return wavejit.jit(_plain(client))


PEERS = {"plain": _plain, "pool(16)": _pool, "jit": _jit}


if __name__ == "__main__":
    main()
