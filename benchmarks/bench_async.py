"""async def programs with the real AsyncOpenAI / httpx.AsyncClient: efficiency of the jit.

    .venv/bin/python benchmarks/bench_async.py [--latency S] [--rounds N]

The three programs of `tests/test_async_real.py` (an ensemble of four and a judge; a
guardrail-then-answer loop that prints; a map over 100 prompts), written as a user
writes them (sequential awaits), run plain and jitted against the embedded server in
its own process (so the client alone competes for this process's GIL). Efficiency =
ideal / jitted wall, ideal = LLM rounds on the critical path x latency; each figure is
the median of `--rounds` warm calls (min-max beside it), every result checked equal to
the plain run's. Target (issue 10): efficiency >= 0.9.

Beside it, the same program written by hand with `asyncio.gather` (what a user would
otherwise write), timed in the same rounds: what the client allows on this machine.
The map over 100 prompts is bounded by the client's CPU per request (the SDK builds and
parses each request in Python on one event loop), for the hand-written version too;
`jit / by hand` says how much of that the jit reaches.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import httpx  # noqa: E402
import openai  # noqa: E402

import wavejit  # noqa: E402
from test_async_real import (  # noqa: E402
    ask,
    ensemble_and_judge,
    guardrail_then_answer,
    map_prompts,
)
from wavejit.bench.latency import LatencyModel  # noqa: E402
from wavejit.bench.server import ServerProcess  # noqa: E402

# -- the same programs written by hand with asyncio.gather -------------------------


async def ensemble_by_hand(base_url: str, question: str, models: list[str]) -> str:
    llm = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-test", max_retries=0)
    replies = await asyncio.gather(*(
        llm.chat.completions.create(model=m, messages=[{"role": "user", "content": question}])
        for m in models))
    answers = [r.choices[0].message.content for r in replies]
    verdict = await llm.chat.completions.create(
        model="judge",
        messages=[{"role": "system", "content": "Pick the best answer."},
                  {"role": "user", "content": f"{question}: {answers}"}])
    await llm.close()
    return f"{verdict.choices[0].message.content} / {len(answers)}"


async def guardrail_by_hand(base_url: str, requests: list[str]) -> list[str]:
    llm = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-test", max_retries=0)
    http = httpx.AsyncClient(base_url=base_url)

    async def one(request: str) -> tuple[list[str], str]:
        lines = ["Checking guardrail"]
        guard = await http.get("/api/search", params={"q": request, "k": 1})
        lines.append("Got guardrail response")
        if guard.json()["hits"][0]["score"] > 0.5:
            lines.append("Getting LLM response")
            answer = await ask(llm, "gpt-a", request)
            lines.append("Got LLM response")
            return lines, answer
        return lines, "blocked"

    done = await asyncio.gather(*(one(r) for r in requests))
    for lines, _ in done:  # the plain program's output, in its order
        print("\n".join(lines))
    await http.aclose()
    await llm.close()
    return [answer for _, answer in done]


async def map_by_hand(base_url: str, prompts: list[str]) -> list[str]:
    llm = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-test", max_retries=0)
    replies = await asyncio.gather(*(llm.chat.completions.create(
        model="gpt-a", messages=[{"role": "user", "content": p}], max_tokens=5)
        for p in prompts))
    await llm.close()
    return [(r.choices[0].message.content or "").strip() for r in replies]


PROGRAMS: list[tuple[str, Any, Any, tuple[Any, ...], int]] = [
    ("ensemble of 4 + judge", ensemble_and_judge, ensemble_by_hand,
     ("Why is the sky blue?", ["gpt-a", "gpt-b", "gpt-c", "gpt-d"]), 2),
    ("guardrail then answer, prints", guardrail_then_answer, guardrail_by_hand,
     (["dogs", "cats", "horses", "birds"],), 2),
    ("map over 100 prompts", map_prompts, map_by_hand,
     ([f"prompt {i}" for i in range(100)],), 1),
]


def timed(fn: Any, base_url: str, args: tuple[Any, ...]) -> tuple[Any, float]:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        value = asyncio.run(fn(base_url, *args))
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--rounds", type=int, default=5, help="timed warm calls per peer")
    options = parser.parse_args()
    latency = options.latency
    model = LatencyModel(llm=latency, api=latency, fetch=latency, per_token=0.0, jitter=0.0)
    print(f"async programs, L = {latency} s per request, medians of {options.rounds} warm calls")
    with ServerProcess(model) as server:
        for name, program, by_hand, args, rounds in PROGRAMS:
            jitted = wavejit.jit(program)
            expected, _ = timed(program, server.base_url, args)
            timed(jitted, server.base_url, args)  # warm: compiled, callees measured
            assert timed(by_hand, server.base_url, args)[0] == expected  # its warm-up
            peers = {"plain": program, "jit": jitted, "by hand": by_hand}
            walls: dict[str, list[float]] = {peer: [] for peer in peers}
            order = list(peers)
            for _ in range(options.rounds):
                for peer in order:
                    value, wall = timed(peers[peer], server.base_url, args)
                    assert value == expected, (name, peer, value, expected)
                    walls[peer].append(wall)
                order = order[1:] + order[:1]  # rotated each round
            ideal = rounds * latency
            med = {peer: statistics.median(w) for peer, w in walls.items()}
            jit = walls["jit"]
            print(f"{name}: plain {med['plain']:.2f} s, jit {med['jit']:.2f} s "
                  f"({min(jit):.2f}-{max(jit):.2f}), by hand (asyncio.gather) "
                  f"{med['by hand']:.2f} s, ideal {ideal:.2f} s; efficiency: jit "
                  f"{ideal / med['jit']:.2f} (target >= 0.9), by hand "
                  f"{ideal / med['by hand']:.2f}; jit / by hand "
                  f"{med['by hand'] / med['jit']:.2f}")


if __name__ == "__main__":
    main()
