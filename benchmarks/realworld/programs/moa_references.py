# ruff: noqa
"""Mixture-of-Agents with reference rounds -- togethercomputer/MoA.

Source: togethercomputer/MoA, commit 1b5cab0f0905d9da821e37322ac6df96ba65e1a7, Apache
License 2.0: utils.py (`generate_together`, `inject_references_to_messages`,
`generate_with_references`) and generate_for_alpaca_eval.py (`process_fn`), called as
`run_eval_alpaca_eval.sh` does (4 reference models, rounds=1 there; rounds=2 here to
exercise the multi-layer path the code supports).
Changed: the provider -- `generate_together` posted to Together's endpoint with
`requests.post(...)` and read `res.json()["choices"][0]["message"]["content"]`; it now
makes the same request through the openai SDK (`client.chat.completions.create`, base
URL from OPENAI_BASE_URL). The retry loop, logging and None handling are the author's.

Critical path: 3 LLM rounds. Round 1: 4 reference models answer the instruction
(independent). Round 2: the same 4 models answer again with round 1's answers injected
(each needs all of round 1). Then the aggregator model answers with round 2's answers.
Shape: nested loops in the entry; the inner loop calls a helper and appends the result
only `if reference is not None:` -- a branch on each result before the next call.
"""
import os
import json
import time
import copy

import openai
from loguru import logger

DEBUG = int(os.environ.get("DEBUG", "0"))

client = openai.OpenAI()


def generate_together(
    model,
    messages,
    max_tokens=2048,
    temperature=0.7,
    streaming=False,
):

    output = None

    for sleep_time in [1, 2, 4, 8, 16, 32]:

        try:

            if DEBUG:
                logger.debug(
                    f"Sending messages ({len(messages)}) (last message: `{messages[-1]['content'][:20]}...`) to `{model}`."
                )

            res = client.chat.completions.create(
                model=model,
                max_tokens=max_tokens,
                temperature=(temperature if temperature > 1e-4 else 0),
                messages=messages,
            )

            output = res.choices[0].message.content

            break

        except Exception as e:
            logger.error(e)
            if DEBUG:
                logger.debug(f"Msgs: `{messages}`")

            logger.info(f"Retry in {sleep_time}s..")
            time.sleep(sleep_time)

    if output is None:

        return output

    output = output.strip()

    if DEBUG:
        logger.debug(f"Output: `{output[:20]}...`.")

    return output


def inject_references_to_messages(
    messages,
    references,
):

    messages = copy.deepcopy(messages)

    system = f"""You have been provided with a set of responses from various open-source models to the latest user query. Your task is to synthesize these responses into a single, high-quality response. It is crucial to critically evaluate the information provided in these responses, recognizing that some of it may be biased or incorrect. Your response should not simply replicate the given answers but should offer a refined, accurate, and comprehensive reply to the instruction. Ensure your response is well-structured, coherent, and adheres to the highest standards of accuracy and reliability.

Responses from models:"""

    for i, reference in enumerate(references):

        system += f"\n{i+1}. {reference}"

    if messages[0]["role"] == "system":

        messages[0]["content"] += "\n\n" + system

    else:

        messages = [{"role": "system", "content": system}] + messages

    return messages


def generate_with_references(
    model,
    messages,
    references=[],
    max_tokens=2048,
    temperature=0.7,
    generate_fn=generate_together,
):

    if len(references) > 0:

        messages = inject_references_to_messages(messages, references)

    return generate_fn(
        model=model,
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
    )


def process_fn(
    item,
    model,
    reference_models=[],
    temperature=0.7,
    max_tokens=2048,
    rounds=1,
):

    messages = [{"role": "user", "content": item["instruction"]}]

    references = item.get("references", [])

    if len(references) == 0 and len(reference_models) > 0:

        prev_references = []

        for i_round in range(rounds):

            if DEBUG:
                logger.info(
                    f"Round {i_round+1}/{rounds} to collecting reference responses."
                )

            references = []

            for reference_model in reference_models:

                reference = generate_with_references(
                    model=reference_model,
                    messages=messages,
                    references=prev_references,
                    temperature=temperature,
                    max_tokens=max_tokens,
                )

                if reference is not None:

                    references.append(reference)

            if i_round < rounds - 1:

                prev_references = references

                references = []

    output = generate_with_references(
        model=model,
        messages=messages,
        references=references,
    )

    return {"output": output, "generator": model + "-together"}


# --- benchmark harness (not part of the original) -------------------------------------
from _support import user_text, words

ENTRY = "process_fn"
ARGS = (
    {"instruction": "What are 3 fun things to do in SF?"},
    "Qwen/Qwen1.5-110B-Chat",
)
KWARGS = {
    "reference_models": [
        "microsoft/WizardLM-2-8x22B",
        "Qwen/Qwen1.5-110B-Chat",
        "Qwen/Qwen1.5-72B-Chat",
        "meta-llama/Llama-3-70b-chat-hf",
    ],
    "rounds": 2,
}
ROUNDS = 3


def reply(endpoint, body):
    text = user_text(body)
    return f"  {body['model']} suggests: {words(text + body['model'], 10)}  "
