# ruff: noqa
"""Prompt chaining -- Anthropic cookbook, "Basic Multi-LLM Workflows", example 1.

Source: anthropics/anthropic-cookbook, patterns/agents/basic_workflows.ipynb (`chain` and
the "Chain workflow for structured data extraction and formatting" cell), commit
4b36a1e1f64361397f4cbe4fbc7cdace338f16f8, MIT License, Copyright (c) 2023 Anthropic.
Changed: the provider (see _anthropic_util.py); the notebook's example cell is the body of
`main()` so it can be called (and jitted) as a function.

Critical path: 4 LLM rounds. Each step's prompt contains the previous step's output
(`result = llm_call(f"{prompt}\\nInput: {result}")`), so the four calls form a chain.
Shape: a chain (sequential by nature); the loop prints each result as it arrives.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import List, Dict, Callable
from _anthropic_util import llm_call, extract_xml

def chain(input: str, prompts: List[str]) -> str:
    """Chain multiple LLM calls sequentially, passing results between steps."""
    result = input
    for i, prompt in enumerate(prompts, 1):
        print(f"\nStep {i}:")
        result = llm_call(f"{prompt}\nInput: {result}")
        print(result)
    return result


def main():
    # Example 1: Chain workflow for structured data extraction and formatting
    # Each step progressively transforms raw text into a formatted table

    data_processing_steps = [
        """Extract only the numerical values and their associated metrics from the text.
        Format each as 'value: metric' on a new line.
        Example format:
        92: customer satisfaction
        45%: revenue growth""",
        
        """Convert all numerical values to percentages where possible.
        If not a percentage or points, convert to decimal (e.g., 92 points -> 92%).
        Keep one number per line.
        Example format:
        92%: customer satisfaction
        45%: revenue growth""",
        
        """Sort all lines in descending order by numerical value.
        Keep the format 'value: metric' on each line.
        Example:
        92%: customer satisfaction
        87%: employee satisfaction""",
        
        """Format the sorted data as a markdown table with columns:
        | Metric | Value |
        |:--|--:|
        | Customer Satisfaction | 92% |"""
    ]

    report = """
Q3 Performance Summary:
Our customer satisfaction score rose to 92 points this quarter.
Revenue grew by 45% compared to last year.
Market share is now at 23% in our primary market.
Customer churn decreased to 5% from 8%.
New user acquisition cost is $43 per user.
Product adoption rate increased to 78%.
Employee satisfaction is at 87 points.
Operating margin improved to 34%.
"""

    print("\nInput text:")
    print(report)
    formatted_result = chain(report, data_processing_steps)
    return formatted_result


# --- benchmark harness (not part of the original) -------------------------------------
from _support import last_user, number, words

ENTRY = "main"
ROUNDS = 4


def reply(endpoint, body):
    prompt = last_user(body)
    step = prompt.split("\n", 1)[0]
    lines = [f"{number(step + str(i), 5, 95)}%: {words(prompt + str(i), 2)}" for i in range(4)]
    if step.startswith("Format the sorted data"):
        return "| Metric | Value |\n|:--|--:|\n" + "\n".join(
            f"| {l.split(': ')[1].title()} | {l.split(':')[0]} |" for l in lines)
    return "\n".join(lines)
