"""async def programs with the real AsyncOpenAI / httpx.AsyncClient: efficiency of the jit.

    .venv/bin/python benchmarks/bench_async.py [--latency S ...] [--rounds N]

Three programs (an ensemble of four and a judge; a guardrail-then-answer loop that
prints; a map over 100 prompts), written as a user writes them (sequential awaits, the
clients made once, as an application does), run plain and jitted against the embedded
server in its own process (so only the client competes for this process's GIL). Every
peer gets warm clients: one `AsyncOpenAI` and one `httpx.AsyncClient`, made once and
used once before timing, on the one event loop all rounds run on (pooled connections
belong to their loop). Efficiency = ideal / wall, ideal = requests on the critical
path x latency; each figure is the median of `--rounds` calls (min-max beside it),
every result and stdout checked equal to the plain run's. Target (issue 10): >= 0.9;
where the client itself allows less (the hand-written version below 0.9), the target is
0.9 of what it allows (jit / by hand >= 0.9), as issue 13 set the 1000-call fan-out's
target relative to the thread-wake bound.

Beside it, the same program written by hand with `asyncio.gather` (what a user would
otherwise write), timed in the same rounds: what the client allows on this machine.
The map over 100 prompts is bounded by the client's CPU per request (the SDK builds and
parses each request in Python, on the one event loop): the report gives that time
(the by-hand wall beyond the latency, per request) and `jit / by hand`, how much of what
the client allows the jit reaches.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import openai

import wavejit
from wavejit.bench.latency import LatencyModel
from wavejit.bench.server import ServerProcess

# -- the programs, as a user writes them (sequential awaits) --------------------------


async def ask(llm: openai.AsyncOpenAI, model: str, prompt: str) -> str:
    reply = await llm.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content or ""


async def ensemble_and_judge(llm: openai.AsyncOpenAI, http: httpx.AsyncClient,
                             question: str, models: list[str]) -> str:
    answers = []
    for m in models:
        reply = await llm.chat.completions.create(
            model=m, messages=[{"role": "user", "content": question}])
        answers.append(reply.choices[0].message.content)
    verdict = await llm.chat.completions.create(
        model="judge",
        messages=[{"role": "system", "content": "Pick the best answer."},
                  {"role": "user", "content": f"{question}: {answers}"}])
    return f"{verdict.choices[0].message.content} / {len(answers)}"


async def guardrail_then_answer(llm: openai.AsyncOpenAI, http: httpx.AsyncClient,
                                requests: list[str]) -> list[str]:
    out = []
    for request in requests:
        print("Checking guardrail")
        guard = await http.get("/api/search", params={"q": request, "k": 1})
        print("Got guardrail response")
        if guard.json()["hits"][0]["score"] > 0.5:
            print("Getting LLM response")
            answer = await ask(llm, "gpt-a", request)
            print("Got LLM response")
            out.append(answer)
        else:
            out.append("blocked")
    return out


async def map_prompts(llm: openai.AsyncOpenAI, http: httpx.AsyncClient,
                      prompts: list[str]) -> list[str]:
    results = []
    for p in prompts:
        r = await llm.chat.completions.create(
            model="gpt-a", messages=[{"role": "user", "content": p}], max_tokens=5)
        results.append((r.choices[0].message.content or "").strip())
    return results


# -- the same programs written by hand with asyncio.gather -------------------------


async def ensemble_by_hand(llm: openai.AsyncOpenAI, http: httpx.AsyncClient,
                           question: str, models: list[str]) -> str:
    replies = await asyncio.gather(*(
        llm.chat.completions.create(model=m, messages=[{"role": "user", "content": question}])
        for m in models))
    answers = [r.choices[0].message.content for r in replies]
    verdict = await llm.chat.completions.create(
        model="judge",
        messages=[{"role": "system", "content": "Pick the best answer."},
                  {"role": "user", "content": f"{question}: {answers}"}])
    return f"{verdict.choices[0].message.content} / {len(answers)}"


async def guardrail_by_hand(llm: openai.AsyncOpenAI, http: httpx.AsyncClient,
                            requests: list[str]) -> list[str]:
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
    return [answer for _, answer in done]


async def map_by_hand(llm: openai.AsyncOpenAI, http: httpx.AsyncClient,
                      prompts: list[str]) -> list[str]:
    replies = await asyncio.gather(*(llm.chat.completions.create(
        model="gpt-a", messages=[{"role": "user", "content": p}], max_tokens=5)
        for p in prompts))
    return [(r.choices[0].message.content or "").strip() for r in replies]


Program = Callable[..., Awaitable[Any]]
# name, program, by hand, arguments, requests on the critical path, requests in all
PROGRAMS: list[tuple[str, Program, Program, tuple[Any, ...], int, int]] = [
    ("ensemble of 4 + judge", ensemble_and_judge, ensemble_by_hand,
     ("Why is the sky blue?", ["gpt-a", "gpt-b", "gpt-c", "gpt-d"]), 2, 5),
    ("guardrail then answer, prints", guardrail_then_answer, guardrail_by_hand,
     (["dogs", "cats", "horses", "birds"],), 2, 8),
    ("map over 100 prompts", map_prompts, map_by_hand,
     ([f"prompt {i}" for i in range(100)],), 1, 100),
]


async def measure(base_url: str, latency: float, rounds: int) -> list[dict[str, Any]]:
    """Every program's walls per peer, on this one event loop with warm clients."""
    llm = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-test", max_retries=0)
    http = httpx.AsyncClient(base_url=base_url)
    try:
        await ask(llm, "gpt-a", "warm-up")  # connections opened, SDK code paths run
        await http.get("/api/search", params={"q": "warm-up", "k": 1})

        async def timed(fn: Program, args: tuple[Any, ...]) -> tuple[Any, str, float]:
            out = io.StringIO()
            started = time.perf_counter()
            with contextlib.redirect_stdout(out):
                value = await fn(llm, http, *args)
            return value, out.getvalue(), time.perf_counter() - started

        results = []
        for name, program, by_hand, args, critical, requests in PROGRAMS:
            jitted = wavejit.jit(program)
            expected = await timed(program, args)
            await timed(jitted, args)  # warm: compiled, callees measured
            await timed(by_hand, args)
            peers: dict[str, Program] = {"plain": program, "jit": jitted, "by hand": by_hand}
            walls: dict[str, list[float]] = {peer: [] for peer in peers}
            order = list(peers)
            for _ in range(rounds):
                for peer in order:
                    value, stdout, wall = await timed(peers[peer], args)
                    assert (value, stdout) == expected[:2], (name, peer, value, expected)
                    walls[peer].append(wall)
                order = order[1:] + order[:1]  # rotated each round
            results.append({"program": name, "latency": latency, "critical": critical,
                            "requests": requests, "walls": walls})
        return results
    finally:
        await http.aclose()
        await llm.close()


def report(result: dict[str, Any]) -> tuple[str, bool]:
    """The program's line, and whether it met its target (see the module docstring)."""
    walls, latency = result["walls"], result["latency"]
    ideal = result["critical"] * latency
    med = {peer: statistics.median(w) for peer, w in walls.items()}
    jit = walls["jit"]
    client_ms = (med["by hand"] - ideal) / result["requests"] * 1e3
    efficiency, by_hand = ideal / med["jit"], ideal / med["by hand"]
    relative = med["by hand"] / med["jit"]
    if by_hand >= 0.9:
        target, met = "target >= 0.9", efficiency >= 0.9
    else:
        target, met = "client-bound: target jit / by hand >= 0.9", relative >= 0.9
    return (f"{result['program']}: plain {med['plain']:.2f} s, jit {med['jit']:.2f} s "
            f"({min(jit):.2f}-{max(jit):.2f}), by hand (asyncio.gather) "
            f"{med['by hand']:.2f} s, ideal {ideal:.2f} s; efficiency: jit "
            f"{efficiency:.2f}, by hand {by_hand:.2f}; jit / by hand {relative:.2f} "
            f"({target}: {'met' if met else 'MISSED'}); beyond the latency, by hand: "
            f"{client_ms:.1f} ms per request"), met


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--latency", type=float, nargs="+", default=[0.2],
                        help="seconds per request (several: one run each)")
    parser.add_argument("--rounds", type=int, default=5, help="timed calls per peer")
    options = parser.parse_args()
    missed: list[str] = []
    for latency in options.latency:
        model = LatencyModel(llm=latency, api=latency, fetch=latency, per_token=0.0,
                             jitter=0.0)
        print(f"async programs, L = {latency} s per request, warm clients, medians of "
              f"{options.rounds} rounds")
        with ServerProcess(model) as server:
            for result in asyncio.run(measure(server.base_url, latency, options.rounds)):
                line, met = report(result)
                print(line)
                if not met:
                    missed.append(f"{result['program']} at L = {latency}")
    print("targets missed: " + ", ".join(missed) if missed else "every target met")


if __name__ == "__main__":
    main()
