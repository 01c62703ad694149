# ruff: noqa
"""Batch processing with asyncio (for loop, gather, semaphore) -- instructor's learn-async example.

Source: instructor-ai/instructor, examples/learn-async/run.py (commit
469abec9e5d4a66d67b479f03153a296b338dd6e; the blog post "Introduction to Batch Processing
using asyncio and Instructor", docs/blog/posts/learn-async.md), MIT License, Copyright (c)
2023 Jason Liu.
Changed: the provider -- `instructor.apatch(AsyncOpenAI())` and its
`response_model=Person` became the plain `openai.AsyncOpenAI()` with a JSON response
format, validated into the same pydantic model (`Person.model_validate_json`); `Timer`
prints the section's name without its measured seconds (they differ from run to run);
cut: the two `asyncio.as_completed` sections (their lists are in completion order, which
varies even between two plain runs); `main()` returns the three lists it prints; the
`if __name__ == "__main__":` block is left to the caller.

Critical path: 6 LLM rounds. The 7 extractions of the for loop are independent (1
round); the gather (1 round); the gather limited by the author's `Semaphore(2)` needs
ceil(7 / 2) = 4 rounds. The sections stay in order (each is bracketed by the author's
Timer: what it measures is the point of the program). Plain: 7 + 1 + 4 = 12 rounds.
Shape: async; `for text in dataset: person = await extract_person(text);
persons.append(person)` inside `async with Timer(...)`; then the author's own gather and
semaphore-limited gather (a nested `async def` closing over the semaphore).
"""
import time
import asyncio

from pydantic import BaseModel
from openai import AsyncOpenAI


client = AsyncOpenAI()


class Timer:
    def __init__(self, name):
        self.name = name
        self.start = None
        self.end = None

    async def __aenter__(self):
        self.start = time.time()

    async def __aexit__(self, *args, **kwargs):
        self.end = time.time()
        print(f"{self.name} took ... seconds")


class Person(BaseModel):
    name: str
    age: int


async def extract_person(text: str) -> Person:
    completion = await client.chat.completions.create(
        model="gpt-3.5-turbo",
        messages=[
            {"role": "user", "content": text},
        ],
        response_format={"type": "json_object"},
    )
    return Person.model_validate_json(completion.choices[0].message.content)


async def main():
    """We'll use this to run the example. and time how long each one takes!

    0. for loop
    1. asyncio.gather
    2. asyncio.as_completed
    """
    dataset = [
        "My name is John and I am 20 years old",
        "My name is Mary and I am 21 years old",
        "My name is Bob and I am 22 years old",
        "My name is Alice and I am 23 years old",
        "My name is Jane and I am 24 years old",
        "My name is Joe and I am 25 years old",
        "My name is Jill and I am 26 years old",
    ]

    """
    This is the simplest way to run multiple async functions in series.
    It will wait for each function to complete before continuing.
    """
    async with Timer("for loop"):
        persons = []
        for text in dataset:
            person = await extract_person(text)
            persons.append(person)
        print("for loop:", persons)

    """
    This is the simplest way to run multiple async functions in parallel.
    It will wait for all of the functions to complete before continuing.
    """
    async with Timer("asyncio.gather"):
        tasks_get_persons = [extract_person(text) for text in dataset]
        all_person = await asyncio.gather(*tasks_get_persons)
        print("asyncio.gather:", all_person)

    """
    If we want to rate limit our requests, we can use the
    semaphore to limit the number of concurrent requests.
    """

    # Create a semaphore that will only allow 2 concurrent requests
    sem = asyncio.Semaphore(2)

    async def rate_limited_extract_person(text: str) -> Person:
        async with sem:
            return await extract_person(text)

    async with Timer("asyncio.gather (rate limited)"):
        tasks_get_persons = [rate_limited_extract_person(text) for text in dataset]
        resp = await asyncio.gather(*tasks_get_persons)
        print("asyncio.gather (rate limited):", resp)

    return persons, all_person, resp


# --- benchmark harness (not part of the original) ---------------------------------------
import json
import re

ENTRY = "main"
ROUNDS = 6


def reply(endpoint, body):
    text = body["messages"][-1]["content"]
    match = re.match(r"My name is (\w+) and I am (\d+) years old", text)
    return json.dumps({"name": match.group(1), "age": int(match.group(2))})
