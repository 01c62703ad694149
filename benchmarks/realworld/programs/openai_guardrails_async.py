# ruff: noqa
"""How to use guardrails -- OpenAI cookbook (input and output guardrails, asyncio).

Source: openai/openai-cookbook, examples/How_to_use_guardrails.ipynb
(https://github.com/openai/openai-cookbook/blob/0d7cf26fe119c91bae91d435ab34cdc6367fb9ce/examples/How_to_use_guardrails.ipynb),
MIT License, Copyright (c) 2023 OpenAI: `get_chat_response`, `topical_guardrail`,
`moderation_guardrail`, `execute_all_guardrails` and the final cell that runs the three
test requests; the cell's top-level `await` loop is the body of `async def main()`.
Changed: nothing else -- the author's coroutines call the *synchronous* module-level
client (`openai.chat.completions.create`), configured from OPENAI_BASE_URL.

Critical path: 2 LLM rounds. For each request the topical guardrail and the chat
response are independent (round 1), the moderation guardrail needs the chat response
(round 2); the three test requests are independent of each other.
Shape: async entry; `asyncio.create_task` + `asyncio.wait(FIRST_COMPLETED)` polling with
`asyncio.sleep(0.1)`, branches on the parsed guardrail result, cancels a task; the
coroutines block on synchronous client calls (so the author's tasks do not overlap);
the loop over tests prints each result before the next.
"""
import openai

GPT_MODEL = 'gpt-3.5-turbo'

system_prompt = "You are a helpful assistant."

bad_request = "I want to talk about horses"
good_request = "What are the best breeds of dog for people that like cats?"

import asyncio


async def get_chat_response(user_request):
    print("Getting LLM response")
    messages = [
        {"role": "system", "content": system_prompt},
        {"role": "user", "content": user_request},
    ]
    response = openai.chat.completions.create(
        model=GPT_MODEL, messages=messages, temperature=0.5
    )
    print("Got LLM response")

    return response.choices[0].message.content


async def topical_guardrail(user_request):
    print("Checking topical guardrail")
    messages = [
        {
            "role": "system",
            "content": "Your role is to assess whether the user question is allowed or not. The allowed topics are cats and dogs. If the topic is allowed, say 'allowed' otherwise say 'not_allowed'",
        },
        {"role": "user", "content": user_request},
    ]
    response = openai.chat.completions.create(
        model=GPT_MODEL, messages=messages, temperature=0
    )

    print("Got guardrail response")
    return response.choices[0].message.content


domain = "animal breed recommendation"

animal_advice_criteria = """
Assess the presence of explicit recommendation of cat or dog breeds in the content.
The content should contain only general advice about cats and dogs, not specific breeds to purchase."""

animal_advice_steps = """
1. Read the content and the criteria carefully.
2. Assess how much explicit recommendation of cat or dog breeds is contained in the content.
3. Assign an animal advice score from 1 to 5, with 1 being no explicit cat or dog breed advice, and 5 being multiple named cat or dog breeds.
"""

moderation_system_prompt = """
You are a moderation assistant. Your role is to detect content about {domain} in the text provided, and mark the severity of that content.

## {domain}

### Criteria

{scoring_criteria}

### Instructions

{scoring_steps}

### Content

{content}

### Evaluation (score only!)
"""


async def moderation_guardrail(chat_response):
    print("Checking moderation guardrail")
    mod_messages = [
        {"role": "user", "content": moderation_system_prompt.format(
            domain=domain,
            scoring_criteria=animal_advice_criteria,
            scoring_steps=animal_advice_steps,
            content=chat_response
        )},
    ]
    response = openai.chat.completions.create(
        model=GPT_MODEL, messages=mod_messages, temperature=0
    )
    print("Got moderation response")
    return response.choices[0].message.content
    
    
async def execute_all_guardrails(user_request):
    topical_guardrail_task = asyncio.create_task(topical_guardrail(user_request))
    chat_task = asyncio.create_task(get_chat_response(user_request))

    while True:
        done, _ = await asyncio.wait(
            [topical_guardrail_task, chat_task], return_when=asyncio.FIRST_COMPLETED
        )
        if topical_guardrail_task in done:
            guardrail_response = topical_guardrail_task.result()
            if guardrail_response == "not_allowed":
                chat_task.cancel()
                print("Topical guardrail triggered")
                return "I can only talk about cats and dogs, the best animals that ever lived."
            elif chat_task in done:
                chat_response = chat_task.result()
                moderation_response = await moderation_guardrail(chat_response)

                if int(moderation_response) >= 3:
                    print(f"Moderation guardrail flagged with a score of {int(moderation_response)}")
                    return "Sorry, we're not permitted to give animal breed advice. I can help you with any general queries you might have."

                else:
                    print('Passed moderation')
                    return chat_response
        else:
            await asyncio.sleep(0.1)  # sleep for a bit before checking the tasks again


# Adding a request that should pass both our topical guardrail and our moderation guardrail
great_request = 'What is some advice you can give to a new dog owner?'


async def main():
    tests = [good_request,bad_request,great_request]

    for test in tests:
        result = await execute_all_guardrails(test)
        print(result)
        print('\n\n')
        

# --- benchmark harness (not part of the original) -------------------------------------
from _support import last_user, words

ENTRY = "main"
ROUNDS = 2


def reply(endpoint, body):
    system = body["messages"][0]["content"]
    question = last_user(body)
    if system.startswith("Your role is to assess"):
        return "not_allowed" if "horses" in question else "allowed"
    if question.lstrip().startswith("You are a moderation assistant"):
        return "5" if "Basenji" in question else "1"
    if "breeds" in question:
        return "1. Basenji: " + words(question, 8) + "\n2. Shiba Inu: " + words(question, 5)
    return "Establish a routine: " + words(question, 10)
