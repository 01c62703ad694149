# ruff: noqa
"""Chain of Verification (CoVe) -- instructor's prompting guide, async.

Source: instructor-ai/instructor, docs/prompting/self_criticism/chain_of_verification.md
(commit 1dbdcfd4046329827b7078b80868564ec08f3de6), MIT License, Copyright (c) 2024 Jason Liu.
Changed: the provider -- `instructor.from_provider("openai/gpt-5-nano", async_client=True)`
and its `response_model=...` became `openai.AsyncOpenAI()` with a JSON response format,
validated into the author's pydantic models by a small `create(response_model, messages)`
helper (what instructor does for the author); the `if __name__ == "__main__":` block,
which calls `asyncio.run` once per step, is `async def main()` with one `await` per step,
returning the final answer.

Critical path: 4 LLM rounds, each step needs the previous one's result: the initial
answer -> the verification questions -> their answers (the author's gather, 1 round) ->
the final answer. Sequential by nature.
Shape: async chain on fresh results (`initial_response.correct_answer`,
`verification_questions.question`) with a print of each step's JSON; a nested
`async def verify_question` fanned out with `asyncio.gather` inside a helper.
"""
from openai import AsyncOpenAI
from pydantic import BaseModel, Field
import asyncio

client = AsyncOpenAI()


async def create(response_model, messages):
    """Stands in for instructor's `client.chat.completions.create(response_model=...)`."""
    completion = await client.chat.completions.create(
        model="gpt-4o",
        messages=messages,
        response_format={"type": "json_object"},
    )
    return response_model.model_validate_json(completion.choices[0].message.content)


class QueryResponse(BaseModel):
    correct_answer: str


class ValidationQuestions(BaseModel):
    question: list[str] = Field(
        description="""A list of questions that need to be
        answered to validate the response"""
    )


class ValidationAnswer(BaseModel):
    answer: str


class FinalResponse(BaseModel):
    correct_answer: str


async def generate_initial_response(query: str):
    return await create(
        response_model=QueryResponse,
        messages=[
            {
                "role": "system",
                "content": "You are an expert question answering system",
            },
            {"role": "user", "content": query},
        ],
    )


async def generate_verification_questions(llm_response: str):
    return await create(
        response_model=ValidationQuestions,
        messages=[
            {
                "role": "system",
                "content": """You are an expert AI system that excels at
                generating follow up questions to validate a response.
                These questions should validate key assumptions, facts
                and other important portions of the generated response""",
            },
            {"role": "user", "content": llm_response},
        ],
    )


async def generate_verification_response(questions: list[str]):
    async def verify_question(question: str) -> tuple[ValidationAnswer, str]:
        return (
            await create(
                response_model=ValidationAnswer,
                messages=[
                    {
                        "role": "system",
                        "content": """You are an expert AI system that
                        excels at answering validation questions.""",
                    },
                    {"role": "user", "content": question},
                ],
            ),
            question,
        )

    coros = [verify_question(question) for question in questions]
    return await asyncio.gather(*coros)


async def generate_final_response(
    answers: list[tuple[ValidationAnswer, str]],
    initial_response: QueryResponse,
    original_query: str,
):
    formatted_answers = "\n".join(
        [f"Q: {question}\nA: {answer.answer}" for answer, question in answers]
    )
    return await create(
        response_model=FinalResponse,
        messages=[
            {
                "role": "system",
                "content": """You are an expert AI system that excels at
                validating and verifying if an initial answer answers an
                initial query based off some Verification Questions and
                Answers provided. Return the original answer if it is
                valid else generate a new response off the verification
                questions and answers provided.""",
            },
            {
                "role": "user",
                "content": f"""
                Initial query: {original_query}
                Initial Answer : {initial_response.correct_answer}
                Verification Questions and Answers:
                {formatted_answers}
            """,
            },
        ],
    )


async def main():
    query = "What was the primary cause of the Mexican-American war and how long did it last?"
    initial_response = await generate_initial_response(query)
    print(initial_response.model_dump_json())

    verification_questions = await generate_verification_questions(initial_response.correct_answer)
    print(verification_questions.model_dump_json())

    responses = await generate_verification_response(verification_questions.question)

    final_answer = await generate_final_response(responses, initial_response, query)
    print(final_answer.model_dump_json())
    return final_answer


# --- benchmark harness (not part of the original) ---------------------------------------
import json
from _support import words

ENTRY = "main"
ROUNDS = 4


def reply(endpoint, body):
    system = body["messages"][0]["content"]
    user = body["messages"][-1]["content"]
    if system.startswith("You are an expert question answering system"):
        return json.dumps({"correct_answer": "The annexation of Texas; it lasted from 1846 to 1848."})
    if "generating follow up questions" in system:
        return json.dumps({"question": [f"Is it true that {part.strip()}?" for part in user.split(";")]
                           + ["Did the war end with the Treaty of Guadalupe Hidalgo?"]})
    if "answering validation questions" in system:
        return json.dumps({"answer": "Yes: " + words(user, 6)})
    return json.dumps({"correct_answer": "Verified: " + words(user, 10)})
