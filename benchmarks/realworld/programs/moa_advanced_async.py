# ruff: noqa
"""Advanced Mixture-of-Agents, 3 layers, async -- togethercomputer/MoA advanced-moa.py.

Source: togethercomputer/MoA, advanced-moa.py, commit
1b5cab0f0905d9da821e37322ac6df96ba65e1a7, Apache License 2.0.
Changed: the provider -- `Together` / `AsyncTogether` became `openai.OpenAI` /
`openai.AsyncOpenAI` (configured from OPENAI_BASE_URL / OPENAI_API_KEY) and
`together.error.RateLimitError` became `openai.RateLimitError`; the module's last line
`asyncio.run(main())` is left to the caller (the runner awaits `main()`).

Critical path: 3 LLM rounds. Layer 1: 4 reference models (asyncio.gather); layer 2: the
4 models again with layer 1's answers (gather); then the aggregator's streamed answer.
Shape: async; the author already overlaps each layer with asyncio.gather; `run_llm`
prints after each response, so the order of "Model:" lines follows completion order
even in plain runs (the runner compares this program's stdout as a multiset of lines);
the final call is a *synchronous* streaming call inside the async function.
"""
import asyncio
import os
import openai
from openai import AsyncOpenAI, OpenAI

client = OpenAI(api_key=os.environ.get("OPENAI_API_KEY"))
async_client = AsyncOpenAI(api_key=os.environ.get("OPENAI_API_KEY"))

user_prompt = "What are 3 fun things to do in SF?"
reference_models = [
    "meta-llama/Llama-3.3-70B-Instruct-Turbo",
    "Qwen/Qwen2.5-72B-Instruct-Turbo",
    "Qwen/Qwen2.5-Coder-32B-Instruct",
    "deepseek-ai/DeepSeek-V3"
]
aggregator_model = "deepseek-ai/DeepSeek-V3"
aggreagator_system_prompt = """You have been provided with a set of responses from various open-source models to the latest user query. Your task is to synthesize these responses into a single, high-quality response. It is crucial to critically evaluate the information provided in these responses, recognizing that some of it may be biased or incorrect. Your response should not simply replicate the given answers but should offer a refined, accurate, and comprehensive reply to the instruction. Ensure your response is well-structured, coherent, and adheres to the highest standards of accuracy and reliability.

Responses from models:"""
layers = 3


def getFinalSystemPrompt(system_prompt, results):
    """Construct a system prompt for layers 2+ that includes the previous responses to synthesize."""
    return (
        system_prompt
        + "\n"
        + "\n".join([f"{i+1}. {str(element)}" for i, element in enumerate(results)])
    )


async def run_llm(model, prev_response=None):
    """Run a single LLM call with a model while accounting for previous responses + rate limits."""
    for sleep_time in [1, 2, 4]:
        try:
            messages = (
                [
                    {
                        "role": "system",
                        "content": getFinalSystemPrompt(
                            aggreagator_system_prompt, prev_response
                        ),
                    },
                    {"role": "user", "content": user_prompt},
                ]
                if prev_response
                else [{"role": "user", "content": user_prompt}]
            )
            response = await async_client.chat.completions.create(
                model=model,
                messages=messages,
                temperature=0.7,
                max_tokens=512,
            )
            print("Model: ", model)
            break
        except openai.RateLimitError as e:
            print(e)
            await asyncio.sleep(sleep_time)
    return response.choices[0].message.content


async def main():
    """Run the main loop of the MOA process."""
    results = await asyncio.gather(*[run_llm(model) for model in reference_models])

    for _ in range(1, layers - 1):
        results = await asyncio.gather(
            *[run_llm(model, prev_response=results) for model in reference_models]
        )

    finalStream = client.chat.completions.create(
        model=aggregator_model,
        messages=[
            {
                "role": "system",
                "content": getFinalSystemPrompt(aggreagator_system_prompt, results),
            },
            {"role": "user", "content": user_prompt},
        ],
        stream=True,
    )
    for chunk in finalStream:
        print(chunk.choices[0].delta.content or "", end="", flush=True)


# --- benchmark harness (not part of the original) -------------------------------------
from _support import user_text, words

ENTRY = "main"
ROUNDS = 3
UNORDERED_STDOUT = True  # "Model: ..." lines print in completion order, even when plain


def reply(endpoint, body):
    text = user_text(body)
    return f"{body['model']}: {words(text + body['model'], 12)}"
