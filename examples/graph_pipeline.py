"""An explicit `wavejit.Graph`: retrieve from two sources, draft, review, answer.

A node is a call; passing a node (alone or inside a list) as an argument makes it a
dependency. `run()` starts each node as soon as its inputs are ready; the sequential
scheduler, one node after another, is the reference the result is checked against.
Run it against any OpenAI-compatible endpoint, e.g. ``python -m wavejit serve``.
"""

import time

from openai import OpenAI

import wavejit

client = OpenAI()


def ask(model: str, prompt: str) -> str:
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": prompt}]
    )
    return reply.choices[0].message.content or ""


def draft(model: str, question: str, notes: list[str]) -> str:
    return ask(model, f"{question} Use these notes: {notes}")


def build(question: str) -> tuple[wavejit.Graph, wavejit.Node]:
    g = wavejit.Graph()
    notes = [g.add(ask, source, f"Notes on: {question}", name=f"notes_{source}")
             for source in ("wiki", "papers", "news")]
    drafts = [g.add(draft, model, question, notes, name=f"draft_{model}")
              for model in ("gpt-a", "gpt-b", "gpt-c")]
    reviews = [g.add(ask, "reviewer", d, name=f"review_{i}") for i, d in enumerate(drafts)]
    answer = g.add(ask, "judge", [drafts, reviews], name="answer")
    return g, answer


if __name__ == "__main__":
    g, answer = build("Why is the sky blue?")
    print("waves:", [[node.name for node in wave] for wave in g.waves()])
    started = time.perf_counter()
    results = g.run()  # dataflow, on wavejit's thread pool
    concurrent = time.perf_counter() - started
    started = time.perf_counter()
    reference = g.run(scheduler="sequential")
    sequential = time.perf_counter() - started
    print(results[answer])
    print(f"dataflow {concurrent:.2f} s, sequential {sequential:.2f} s, "
          f"same answer: {results[answer] == reference[answer]}")
    print(g.to_mermaid())
