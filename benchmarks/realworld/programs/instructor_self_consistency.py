# ruff: noqa
"""Self-consistency (majority vote over sampled answers) -- instructor's prompting guide.

Source: instructor-ai/instructor, docs/prompting/ensembling/self_consistency.md
(commit 1dbdcfd4046329827b7078b80868564ec08f3de6), MIT License, Copyright (c) 2024 Jason Liu.
Changed: the provider -- `instructor.from_provider(..., async_client=True)` and its
`response_model=SelfConsistencyResponse` became `openai.AsyncOpenAI()` with a JSON
response format, validated into the same pydantic model; the `if __name__ == "__main__":`
block is `async def main()` (its `asyncio.run(...)` an `await`), returning the answer.

Critical path: 1 LLM round: five independent samples, then a local majority vote.
Shape: async; the author already fans out with `asyncio.gather` over a comprehension of
coroutines inside a helper; the result is parsed into a pydantic model per call.
"""
from openai import AsyncOpenAI
from pydantic import BaseModel, Field
import asyncio
from collections import Counter
from textwrap import dedent

class SelfConsistencyResponse(BaseModel):
    chain_of_thought: str = Field(
        description="reasoning behind the final correct answer"
    )
    correct_answer: int


client = AsyncOpenAI()


async def generate_self_consistent_response(prompt: str):
    completion = await client.chat.completions.create(
        model="gpt-4o",
        messages=[
            {
                "role": "system",
                "content": """You are an intelligent question
                answering AI system that excels at answering
                user queries. Make sure to generate a
                comprehensive explanation of your thought
                process before providing the final answer""",
            },
            {"role": "user", "content": prompt},
        ],
        response_format={"type": "json_object"},
        temperature=0.5,
    )
    return SelfConsistencyResponse.model_validate_json(completion.choices[0].message.content)


async def generate_self_consistent_responses(prompt: str, num_responses: int):
    coros = [generate_self_consistent_response(prompt) for _ in range(num_responses)]
    responses = await asyncio.gather(*coros)
    return responses


async def main():
    prompt = dedent(
        """
        Janet's ducks lay 16 eggs per day.
        She eats three for breakfast every
        morning and bakes muffins for her
        friends every day with four. She sells
        the remainder for $2 per egg. How
        much does she make every day?
        """
    )
    responses = await generate_self_consistent_responses(prompt, 5)
    answer_counts = Counter([response.correct_answer for response in responses])
    most_common_answer, _ = answer_counts.most_common(1)[0]

    print(most_common_answer)
    #> 18
    return most_common_answer


# --- benchmark harness (not part of the original) -------------------------------------
import json
from _support import last_user, words

ENTRY = "main"
ROUNDS = 1


def reply(endpoint, body):
    # Five identical requests get the same answer: a deterministic server cannot sample.
    prompt = last_user(body)
    return json.dumps({"chain_of_thought": "16 - 3 - 4 = 9 eggs; 9 * 2 = 18. " + words(prompt, 6),
                       "correct_answer": 18})
