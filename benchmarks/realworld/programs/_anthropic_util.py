# ruff: noqa
# Transcribed from anthropics/anthropic-cookbook, patterns/agents/util.py
# (commit 4b36a1e1f64361397f4cbe4fbc7cdace338f16f8), MIT License, Copyright (c) 2023 Anthropic.
# Changed: the provider only. The original calls anthropic's `client.messages.create` with
# `system=system_prompt`; here the openai SDK (configured from OPENAI_BASE_URL /
# OPENAI_API_KEY, as a user would) receives the system prompt as a system message.
from openai import OpenAI
import os
import re

client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])

def llm_call(prompt: str, system_prompt: str = "", model="claude-3-5-sonnet-20241022") -> str:
    """
    Calls the model with the given prompt and returns the response.

    Args:
        prompt (str): The user prompt to send to the model.
        system_prompt (str, optional): The system prompt to send to the model. Defaults to "".
        model (str, optional): The model to use for the call. Defaults to "claude-3-5-sonnet-20241022".

    Returns:
        str: The response from the language model.
    """
    client = OpenAI(api_key=os.environ["OPENAI_API_KEY"])
    messages = [{"role": "system", "content": system_prompt}, {"role": "user", "content": prompt}]
    response = client.chat.completions.create(
        model=model,
        max_tokens=4096,
        messages=messages,
        temperature=0.1,
    )
    return response.choices[0].message.content

def extract_xml(text: str, tag: str) -> str:
    """
    Extracts the content of the specified XML tag from the given text. Used for parsing structured responses 

    Args:
        text (str): The text containing the XML.
        tag (str): The XML tag to extract content from.

    Returns:
        str: The content of the specified XML tag, or an empty string if the tag is not found.
    """
    match = re.search(f'<{tag}>(.*?)</{tag}>', text, re.DOTALL)
    return match.group(1) if match else ""
