"""The plain functions: sequential Python the way a user writes it.

Nothing here is pre-parallelised. Each scenario's entry point is an ordinary function
(module-level helpers, comprehensions, loops with ``append``, f-strings) that the
benchmark times as is ("plain") and decorated with ``wavejit.jit``. The clients (an
``openai.OpenAI``, an ``httpx.Client``) are passed in, as shared read-only arguments.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
from openai import OpenAI

__all__ = [
    "nap",
    "sleep_ensemble",
    "ask",
    "judge",
    "llm_ensemble",
    "get_json",
    "combine",
    "city_brief",
    "summarize",
    "reduce_summaries",
    "map_reduce",
    "score_hits",
    "mixed_search",
    "tokenize",
    "text_stats",
    "refine_chain",
    "fetch",
    "fan_out",
]


# -- 1. sleep ensemble ----------------------------------------------------------------


def nap(name: str, seconds: float) -> str:
    time.sleep(seconds)
    return f"{name} slept {seconds:.3f}s"


def sleep_ensemble(seconds: float) -> list[str]:
    first = nap("first", seconds)
    second = nap("second", seconds)
    third = nap("third", seconds)
    return [first, second, third]


# -- 2. LLM ensemble + judge ------------------------------------------------------------


def ask(client: OpenAI, model: str, prompt: str) -> str:
    response = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": prompt}],
        max_tokens=32,
    )
    return response.choices[0].message.content or ""


def judge(client: OpenAI, model: str, question: str, answers: list[str]) -> str:
    numbered = "\n".join(f"{i + 1}. {answer}" for i, answer in enumerate(answers))
    prompt = f"Question: {question}\nCandidate answers:\n{numbered}\nWhich one is best, and why?"
    return ask(client, model, prompt)


def llm_ensemble(client: OpenAI, models: list[str], judge_model: str, question: str) -> str:
    answers = [ask(client, model, question) for model in models]
    return judge(client, judge_model, question, answers)


# -- 3. API aggregation -----------------------------------------------------------------


def get_json(http: httpx.Client, path: str, **params: str) -> Any:
    response = http.get(path, params=params)
    response.raise_for_status()
    return response.json()


def combine(http: httpx.Client, parts: dict[str, Any]) -> Any:
    response = http.post("/api/combine", json=parts)
    response.raise_for_status()
    return response.json()


def city_brief(http: httpx.Client, city: str) -> dict[str, Any]:
    weather = get_json(http, "/api/weather", city=city)
    news = get_json(http, "/api/search", q=f"{city} news")
    events = get_json(http, "/api/search", q=f"{city} events")
    profile = get_json(http, "/api/retrieve", id=city.lower())
    summary = combine(
        http, {"weather": weather, "news": news, "events": events, "profile": profile}
    )
    return {"city": city, "temp_c": weather["temp_c"], "summary": summary}


# -- 4. map-reduce ------------------------------------------------------------------------


def summarize(client: OpenAI, model: str, document: str) -> str:
    return ask(client, model, f"Summarize in one line:\n{document}")


def reduce_summaries(client: OpenAI, model: str, summaries: list[str]) -> str:
    # The reduce step streams its answer, as a user showing progress would.
    bullets = "\n".join(f"- {s}" for s in summaries)
    stream = client.chat.completions.create(
        model=model,
        messages=[{"role": "user", "content": f"Merge these summaries:\n{bullets}"}],
        max_tokens=64,
        stream=True,
    )
    pieces = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            pieces.append(chunk.choices[0].delta.content)
    return "".join(pieces)


def map_reduce(client: OpenAI, model: str, documents: list[str]) -> str:
    summaries = []
    for document in documents:
        summaries.append(summarize(client, model, document))
    return reduce_summaries(client, model, summaries)


# -- 5. mixed: each call followed by CPU work on its result -------------------------------


def score_hits(result: dict[str, Any], rounds: int) -> int:
    """Deterministic CPU work on a search result (a stand-in for parsing and ranking)."""
    total = 0
    for hit in result["hits"]:
        data = hit["title"].encode()
        for _ in range(rounds):
            for byte in data:
                total = (total * 131 + byte) % 1_000_000_007
    return total


def mixed_search(http: httpx.Client, queries: list[str], rounds: int) -> dict[str, int]:
    scores = {}
    for query in queries:
        result = get_json(http, "/api/search", q=query)
        scores[query] = score_hits(result, rounds)
    return scores


# -- 6. CPU only --------------------------------------------------------------------------


def tokenize(text: str) -> list[str]:
    return [word.strip(".,;:!?").lower() for word in text.split()]


def text_stats(texts: list[str]) -> list[tuple[str, int]]:
    counts: dict[str, int] = {}
    for text in texts:
        for word in tokenize(text):
            if word:
                counts[word] = counts.get(word, 0) + 1
    ranked = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return ranked[:20]


# -- 7. dependent chain -------------------------------------------------------------------


def refine_chain(client: OpenAI, model: str, question: str) -> str:
    draft = ask(client, model, question)
    critique = ask(client, model, f"Critique this draft: {draft}")
    revision = ask(client, model, f"Revise '{draft}' using this critique: {critique}")
    return ask(client, model, f"Polish: {revision.strip()}")


# -- 8. fan-out at scale ------------------------------------------------------------------


def fetch(http: httpx.Client, doc_id: str) -> str:
    response = http.get("/api/retrieve", params={"id": doc_id})
    response.raise_for_status()
    return str(response.json()["text"])


def fan_out(http: httpx.Client, count: int) -> list[str]:
    return [fetch(http, f"doc-{i}") for i in range(count)]
