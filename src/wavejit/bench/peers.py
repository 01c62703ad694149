"""The alternatives, written by hand the way a user would: thread pool, asyncio, Dask.

Each function here is the parallel rewrite of one plain function in
`wavejit.bench.workloads` and must return exactly what it returns (the runner checks).
Like wavejit's shared pool, the thread pools are created once, outside any timed call,
and passed in (`wavejit.bench.clients.Clients.pool` / ``dask_pool``).

* ThreadPoolExecutor: ``submit`` / ``map`` on the persistent pool.
* asyncio: the async clients (``openai.AsyncOpenAI``, ``httpx.AsyncClient``,
  ``asyncio.sleep``) and ``asyncio.gather``, on the run's persistent event loop.
* Dask: ``dask.delayed`` with the threaded scheduler on its persistent pool
  (Dask's default, one worker per core, would serialise I/O-bound work).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from concurrent.futures import Executor
from typing import Any, cast

import httpx
from dask.base import compute as _dask_compute
from dask.delayed import delayed
from openai import AsyncOpenAI, OpenAI

from .workloads import (
    ask,
    combine,
    fetch,
    get_json,
    judge,
    nap,
    reduce_summaries,
    score_hits,
    summarize,
)

__all__ = [
    "pool_sleep_ensemble",
    "async_sleep_ensemble",
    "dask_sleep_ensemble",
    "pool_llm_ensemble",
    "async_llm_ensemble",
    "dask_llm_ensemble",
    "pool_city_brief",
    "async_city_brief",
    "dask_city_brief",
    "pool_map_reduce",
    "async_map_reduce",
    "dask_map_reduce",
    "pool_mixed_search",
    "async_mixed_search",
    "dask_mixed_search",
    "async_refine_chain",
    "dask_refine_chain",
    "pool_fan_out",
    "async_fan_out",
    "dask_fan_out",
]

_NAMES = ("first", "second", "third")

# dask.base.compute carries no annotations; this is its signature as used here.
_compute = cast(Callable[..., tuple[Any, ...]], _dask_compute)


def _threads(pool: Executor, tasks: list[Any]) -> tuple[Any, ...]:
    return tuple(_compute(*tasks, scheduler="threads", pool=pool))


# -- async building blocks (the async twins of the workloads' helpers) ------------------


async def aask(client: AsyncOpenAI, model: str, prompt: str) -> str:
    response = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=32,
    )
    return response.choices[0].message.content or ""


async def ajudge(client: AsyncOpenAI, model: str, question: str, answers: list[str]) -> str:
    numbered = "\n".join(f"{i + 1}. {answer}" for i, answer in enumerate(answers))
    prompt = f"Question: {question}\nCandidate answers:\n{numbered}\nWhich one is best, and why?"
    return await aask(client, model, prompt)


async def aget_json(http: httpx.AsyncClient, path: str, **params: str) -> Any:
    response = await http.get(path, params=params)
    response.raise_for_status()
    return response.json()


async def acombine(http: httpx.AsyncClient, parts: dict[str, Any]) -> Any:
    response = await http.post("/api/combine", json=parts)
    response.raise_for_status()
    return response.json()


# -- 1. sleep ensemble --------------------------------------------------------------------


def pool_sleep_ensemble(pool: Executor, seconds: float) -> list[str]:
    futures = [pool.submit(nap, name, seconds) for name in _NAMES]
    return [future.result() for future in futures]


async def _anap(name: str, seconds: float) -> str:
    await asyncio.sleep(seconds)
    return f"{name} slept {seconds:.3f}s"


async def async_sleep_ensemble(seconds: float) -> list[str]:
    return list(await asyncio.gather(*(_anap(name, seconds) for name in _NAMES)))


def dask_sleep_ensemble(pool: Executor, seconds: float) -> list[str]:
    tasks = [delayed(nap)(name, seconds) for name in _NAMES]
    return list(_threads(pool, tasks))


# -- 2. LLM ensemble + judge --------------------------------------------------------------


def pool_llm_ensemble(
    pool: Executor, client: OpenAI, models: list[str], judge_model: str, question: str
) -> str:
    answers = list(pool.map(lambda model: ask(client, model, question), models))
    return judge(client, judge_model, question, answers)


async def async_llm_ensemble(
    client: AsyncOpenAI, models: list[str], judge_model: str, question: str
) -> str:
    answers = await asyncio.gather(*(aask(client, model, question) for model in models))
    return await ajudge(client, judge_model, question, list(answers))


def dask_llm_ensemble(
    pool: Executor, client: OpenAI, models: list[str], judge_model: str, question: str
) -> str:
    answers = [delayed(ask)(client, model, question) for model in models]
    verdict = delayed(judge)(client, judge_model, question, answers)
    return str(_threads(pool, [verdict])[0])


# -- 3. API aggregation -------------------------------------------------------------------


def _brief(city: str, weather: Any, summary: Any) -> dict[str, Any]:
    return {"city": city, "temp_c": weather["temp_c"], "summary": summary}


def pool_city_brief(pool: Executor, http: httpx.Client, city: str) -> dict[str, Any]:
    weather = pool.submit(get_json, http, "/api/weather", city=city)
    news = pool.submit(get_json, http, "/api/search", q=f"{city} news")
    events = pool.submit(get_json, http, "/api/search", q=f"{city} events")
    profile = pool.submit(get_json, http, "/api/retrieve", id=city.lower())
    parts = {
        "weather": weather.result(),
        "news": news.result(),
        "events": events.result(),
        "profile": profile.result(),
    }
    return _brief(city, parts["weather"], combine(http, parts))


async def async_city_brief(http: httpx.AsyncClient, city: str) -> dict[str, Any]:
    weather, news, events, profile = await asyncio.gather(
        aget_json(http, "/api/weather", city=city),
        aget_json(http, "/api/search", q=f"{city} news"),
        aget_json(http, "/api/search", q=f"{city} events"),
        aget_json(http, "/api/retrieve", id=city.lower()),
    )
    parts = {"weather": weather, "news": news, "events": events, "profile": profile}
    return _brief(city, weather, await acombine(http, parts))


def dask_city_brief(pool: Executor, http: httpx.Client, city: str) -> dict[str, Any]:
    get = delayed(get_json)
    weather = get(http, "/api/weather", city=city)
    parts = {
        "weather": weather,
        "news": get(http, "/api/search", q=f"{city} news"),
        "events": get(http, "/api/search", q=f"{city} events"),
        "profile": get(http, "/api/retrieve", id=city.lower()),
    }
    brief = delayed(_brief)(city, weather, delayed(combine)(http, parts))
    result: dict[str, Any] = _threads(pool, [brief])[0]
    return result


# -- 4. map-reduce ------------------------------------------------------------------------


def pool_map_reduce(pool: Executor, client: OpenAI, model: str, documents: list[str]) -> str:
    summaries = list(pool.map(lambda doc: summarize(client, model, doc), documents))
    return reduce_summaries(client, model, summaries)


async def async_map_reduce(client: AsyncOpenAI, model: str, documents: list[str]) -> str:
    summaries = await asyncio.gather(
        *(aask(client, model, f"Summarize in one line:\n{doc}") for doc in documents)
    )
    bullets = "\n".join(f"- {s}" for s in summaries)
    stream = await client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": f"Merge these summaries:\n{bullets}"}],
        max_tokens=64,
        stream=True,
    )
    pieces = []
    async for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    return "".join(pieces)


def dask_map_reduce(pool: Executor, client: OpenAI, model: str, documents: list[str]) -> str:
    summaries = [delayed(summarize)(client, model, doc) for doc in documents]
    merged = delayed(reduce_summaries)(client, model, summaries)
    return str(_threads(pool, [merged])[0])


# -- 5. mixed -----------------------------------------------------------------------------


def pool_mixed_search(
    pool: Executor, http: httpx.Client, queries: list[str], rounds: int
) -> dict[str, int]:
    def one(query: str) -> int:
        return score_hits(get_json(http, "/api/search", q=query), rounds)

    return dict(zip(queries, pool.map(one, queries), strict=True))


async def async_mixed_search(
    http: httpx.AsyncClient, queries: list[str], rounds: int
) -> dict[str, int]:
    async def one(query: str) -> int:
        return score_hits(await aget_json(http, "/api/search", q=query), rounds)

    return dict(zip(queries, await asyncio.gather(*(one(q) for q in queries)), strict=True))


def dask_mixed_search(
    pool: Executor, http: httpx.Client, queries: list[str], rounds: int
) -> dict[str, int]:
    scores = [
        delayed(score_hits)(delayed(get_json)(http, "/api/search", q=q), rounds) for q in queries
    ]
    return dict(zip(queries, _threads(pool, scores), strict=True))


# -- 7. dependent chain (no thread-pool version: there is nothing to parallelise) ---------


async def async_refine_chain(client: AsyncOpenAI, model: str, question: str) -> str:
    draft = await aask(client, model, question)
    critique = await aask(client, model, f"Critique this draft: {draft}")
    revision = await aask(client, model, f"Revise '{draft}' using this critique: {critique}")
    return await aask(client, model, f"Polish: {revision.strip()}")


def dask_refine_chain(pool: Executor, client: OpenAI, model: str, question: str) -> str:
    step = delayed(ask)
    draft = step(client, model, question)
    critique = step(client, model, delayed("Critique this draft: {}".format)(draft))
    revision = step(
        client,
        model,
        delayed("Revise '{}' using this critique: {}".format)(draft, critique),
    )
    final = step(client, model, delayed(lambda text: f"Polish: {text.strip()}")(revision))
    return str(_threads(pool, [final])[0])


# -- 8. fan-out ---------------------------------------------------------------------------


def pool_fan_out(pool: Executor, http: httpx.Client, count: int) -> list[str]:
    return list(pool.map(lambda i: fetch(http, f"doc-{i}"), range(count)))


async def async_fan_out(http: httpx.AsyncClient, count: int) -> list[str]:
    async def one(doc_id: str) -> str:
        response = await http.get("/api/retrieve", params={"id": doc_id})
        response.raise_for_status()
        return str(response.json()["text"])

    return list(await asyncio.gather(*(one(f"doc-{i}") for i in range(count))))


def dask_fan_out(pool: Executor, http: httpx.Client, count: int) -> list[str]:
    tasks = [delayed(fetch)(http, f"doc-{i}") for i in range(count)]
    return [str(text) for text in _threads(pool, tasks)]
