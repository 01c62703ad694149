# ruff: noqa
"""How to handle rate limits -- OpenAI cookbook (manual backoff, serial and batched requests).

Source: openai/openai-cookbook, examples/How_to_handle_rate_limits.ipynb
(https://github.com/openai/openai-cookbook/blob/116092969ce1ef80407ba68e101fdbb9b3c58d42/examples/How_to_handle_rate_limits.ipynb),
MIT License, Copyright (c) 2023 OpenAI: "Example 3: Manual backoff implementation"
(`retry_with_exponential_backoff`, `completions_with_backoff` and its call), "Example
without batching" and "Example with batching", in notebook order, as the body of `main()`.
Changed: nothing but the wrapping into `main()`; the client is `OpenAI()` from the
environment, as in the notebook.

Critical path: 1 LLM round. The backoff call, the ten serial story requests and the one
batched request are all independent of each other (12 requests).
Shape: calls through a hand-written retry decorator (a closure with `while True: try:
return func(...)`); a `for _ in range(num_stories)` loop that prints each story as soon
as its response arrives (`print(content + response.choices[0].message.content)`).
"""
# imports
import random
import time

import openai
from openai import OpenAI
client = OpenAI()

# define a retry decorator
def retry_with_exponential_backoff(
    func,
    initial_delay: float = 1,
    exponential_base: float = 2,
    jitter: bool = True,
    max_retries: int = 10,
    errors: tuple = (openai.RateLimitError,),
):
    """Retry a function with exponential backoff."""

    def wrapper(*args, **kwargs):
        # Initialize variables
        num_retries = 0
        delay = initial_delay

        # Loop until a successful response or max_retries is hit or an exception is raised
        while True:
            try:
                return func(*args, **kwargs)

            # Retry on specified errors
            except errors as e:
                # Increment retries
                num_retries += 1

                # Check if max retries has been reached
                if num_retries > max_retries:
                    raise Exception(
                        f"Maximum number of retries ({max_retries}) exceeded."
                    )

                # Increment the delay
                delay *= exponential_base * (1 + jitter * random.random())

                # Sleep for the delay
                time.sleep(delay)

            # Raise exceptions for any errors not specified
            except Exception as e:
                raise e

    return wrapper


@retry_with_exponential_backoff
def completions_with_backoff(**kwargs):
    return client.chat.completions.create(**kwargs)


def main():
    first = completions_with_backoff(model="gpt-3.5-turbo", messages=[{"role": "user", "content": "Once upon a time,"}])

    num_stories = 10
    content = "Once upon a time,"

    # serial example, with one story completion per request
    for _ in range(num_stories):
        response = client.chat.completions.create(
            model="gpt-3.5-turbo",
            messages=[{"role": "user", "content": content}],
            max_tokens=20,
        )

        # print story
        print(content + response.choices[0].message.content)

    num_stories = 10
    prompts = ["Once upon a time,"] * num_stories

    # batched example, with 10 stories completions per request
    response = client.completions.create(
        model="curie",
        prompt=prompts,
        max_tokens=20,
    )

    # match completions to prompts by index
    stories = [""] * len(prompts)
    for choice in response.choices:
        stories[choice.index] = prompts[choice.index] + choice.text

    # print stories
    for story in stories:
        print(story)
    return first, stories


# --- benchmark harness (not part of the original) -------------------------------------
from _support import last_user, words

ENTRY = "main"
ROUNDS = 1


def reply(endpoint, body):
    if endpoint == "completions":
        return " in " + words(body["prompt"] + body["model"], 8)
    return " in " + words(last_user(body) + str(body.get("max_tokens")), 8)
