"""An async ensemble: drafts, a critique of each draft, then a judge (AsyncOpenAI).

Each awaited call becomes a task started at once; a critique waits only for its own
draft, the judge for everything it reads. Run it against any OpenAI-compatible
endpoint, e.g. ``python -m wavejit serve`` (see the README's Quickstart).
"""

import asyncio

from openai import AsyncOpenAI

import wavejit

client = AsyncOpenAI()


async def ask(model: str, prompt: str) -> str:
    reply = await client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}]
    )
    return reply.choices[0].message.content or ""


@wavejit.jit
async def debate(question: str, models: list[str]) -> str:
    drafts = [await ask(m, question) for m in models]  # concurrent
    critiques = [await ask("critic", f"Find the flaw in: {d}") for d in drafts]  # concurrent
    summary = f"Question: {question}\nDrafts: {drafts}\nCritiques: {critiques}"
    return await ask("judge", summary)  # waits for all of them


async def main() -> None:
    verdict = await debate("Why is the sky blue?", ["gpt-a", "gpt-b", "gpt-c"])
    print(verdict)
    print(debate.explain())


if __name__ == "__main__":
    asyncio.run(main())
