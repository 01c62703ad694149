"""async def programs with the real `openai.AsyncOpenAI` and `httpx.AsyncClient`.

Against the embedded OpenAI-compatible server on loopback (each request sleeps
`LATENCY`): every jitted coroutine gives the plain coroutine's result and stdout and
makes the same requests, and none may hang -- each runs under `BOUND` (a hang is this
test's failure, not the whole run's timeout). Overlap is checked against the critical
path as a speedup over the plain run measured beside it (both share the machine's
load), best of three runs, each bound well between what the program reaches in order
(x1) and overlapped; the server answers in this process, under the same GIL.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import openai
import pytest

import wavejit
from wavejit.bench.latency import LatencyModel
from wavejit.bench.server import BenchServer

LATENCY = 0.1
BOUND = 20.0  # seconds: far above any of these programs, far below the test timeout
MODEL = LatencyModel(llm=LATENCY, api=LATENCY, fetch=LATENCY, per_token=0.0, jitter=0.0)


@pytest.fixture(scope="module")
def server() -> Iterator[BenchServer]:
    with BenchServer(MODEL) as running:
        yield running


def run_bounded(make: Callable[[], Awaitable[Any]]) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(make(), BOUND)
    return asyncio.run(bounded())


def client(server: BenchServer) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=server.base_url + "/v1", api_key="sk-test",
                              max_retries=0)


async def ask(llm: openai.AsyncOpenAI, model: str, prompt: str) -> str:
    reply = await llm.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}])
    return reply.choices[0].message.content or ""


# -- the programs (as a user writes them: sequential awaits) -------------------------


async def ensemble_and_judge(base_url: str, question: str, models: list[str]) -> str:
    llm = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-test", max_retries=0)
    answers = []
    for m in models:
        reply = await llm.chat.completions.create(
            model=m, messages=[{"role": "user", "content": question}])
        answers.append(reply.choices[0].message.content)
    verdict = await llm.chat.completions.create(
        model="judge",
        messages=[{"role": "system", "content": "Pick the best answer."},
                  {"role": "user", "content": f"{question}: {answers}"}])
    await llm.close()
    return f"{verdict.choices[0].message.content} / {len(answers)}"


async def guardrail_then_answer(base_url: str, requests: list[str]) -> list[str]:
    llm = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-test", max_retries=0)
    http = httpx.AsyncClient(base_url=base_url)
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
    await http.aclose()
    await llm.close()
    return out


async def map_prompts(base_url: str, prompts: list[str]) -> list[str]:
    llm = openai.AsyncOpenAI(base_url=base_url + "/v1", api_key="sk-test", max_retries=0)
    results = []
    for p in prompts:
        r = await llm.chat.completions.create(
            model="gpt-a", messages=[{"role": "user", "content": p}], max_tokens=5)
        results.append((r.choices[0].message.content or "").strip())
    await llm.close()
    return results


def compare(server: BenchServer, program: Callable[..., Awaitable[Any]], *args: Any,
            rounds: int, tries: int = 3) -> tuple[float, float]:
    """Plain vs jitted: equal results, stdout and request counts; the best efficiency
    and the best speedup over the plain run (which shares the machine's load) of
    `tries` jitted runs."""
    def once(fn: Callable[..., Awaitable[Any]]) -> tuple[Any, str, int, float]:
        before = len(server.requests)
        out = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(out):
            value = run_bounded(lambda: fn(server.base_url, *args))
        return value, out.getvalue(), len(server.requests) - before, (
            time.perf_counter() - started)

    expected = once(program)
    jitted = wavejit.jit(program)
    best = speedup = 0.0
    for _ in range(tries):
        value, stdout, requests, wall = once(jitted)
        assert value == expected[0]
        assert stdout == expected[1]
        assert requests == expected[2]
        best = max(best, rounds * LATENCY / wall)
        speedup = max(speedup, expected[3] / wall)
    return best, speedup


@pytest.mark.concurrency
def test_an_async_ensemble_and_judge(server: BenchServer) -> None:
    efficiency, speedup = compare(server, ensemble_and_judge, "Why is the sky blue?",
                                  ["gpt-a", "gpt-b", "gpt-c", "gpt-d"], rounds=2)
    # 5 rounds in order, 2 overlapped: x2.5 at best; in order x1.
    assert speedup > 1.6, f"x{speedup:.2f} (efficiency {efficiency:.2f}): no overlap"


@pytest.mark.concurrency
def test_an_async_guardrail_then_answer_program_prints_in_order(server: BenchServer) -> None:
    efficiency, speedup = compare(server, guardrail_then_answer,
                                  ["dogs", "cats", "horses", "birds"], rounds=2)
    # 8 rounds in order, 2 overlapped: x4 at best; in order x1.
    assert speedup > 2.0, f"x{speedup:.2f} (efficiency {efficiency:.2f}): no overlap"


@pytest.mark.concurrency
def test_an_async_map_over_100_prompts(server: BenchServer) -> None:
    # One try: its margin is wide, and in order (the mutation check) each try is 10 s.
    efficiency, speedup = compare(server, map_prompts, [f"prompt {i}" for i in range(100)],
                                  rounds=1, tries=1)
    # 100 rounds in order, 1 overlapped; client and server share this process (one GIL),
    # so their own work per request bounds it far below x100; in order x1.
    assert speedup > 5, f"x{speedup:.2f} (efficiency {efficiency:.2f}): no overlap"


@pytest.mark.parametrize("shape", ["list", "dict", "tuple", "nested", "kwargs", "shared",
                                   "mutated"])
def test_awaited_calls_with_container_arguments(shape: str) -> None:
    """The hang of issue 10: a task waited for itself as the borrower of its argument."""
    async def fetch(params: Any, **extra: Any) -> list[str]:
        await asyncio.sleep(0.01)
        return sorted(map(str, params)) + sorted(extra)

    async def program(q: str) -> Any:
        if shape == "list":
            return await fetch([q, "x"])
        if shape == "dict":
            return await fetch({"q": q})
        if shape == "tuple":
            return await fetch((q, [q]))
        if shape == "nested":
            return await fetch([{"role": "user", "content": q}, [q, {"k": q}]])
        if shape == "kwargs":
            return await fetch([q], **{"query": {"q": q}, "headers": [q]})
        if shape == "shared":
            messages = [q]
            a = await fetch(messages)
            b = await fetch(messages)
            return a + b
        messages = [q]
        a = await fetch(messages)
        messages.append("more")
        b = await fetch(messages)
        return a + b

    expected = run_bounded(lambda: program("q"))
    assert run_bounded(lambda: wavejit.jit(program)("q")) == expected


def test_cancelling_a_jitted_coroutine_cancels_its_tasks() -> None:
    finished: list[int] = []

    async def slow(i: int) -> int:
        await asyncio.sleep(5)
        finished.append(i)
        return i

    async def program() -> list[int]:
        out = []
        for i in range(5):
            out.append(await slow(i))
        return out

    jitted = wavejit.jit(program)

    async def main() -> float:
        task = asyncio.ensure_future(jitted())
        await asyncio.sleep(0.1)
        started = time.perf_counter()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        elapsed = time.perf_counter() - started
        await asyncio.sleep(0.05)  # a task still running would get here
        deferred = [t for t in asyncio.all_tasks()
                    if getattr(t.get_coro(), "__name__", "") == "_run_deferred"]
        assert all(t.done() for t in deferred)
        return elapsed

    assert run_bounded(main) < 1.0  # promptly: not after the 5 s calls
    assert finished == []
