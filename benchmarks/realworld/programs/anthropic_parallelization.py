# ruff: noqa
"""Parallelization -- Anthropic cookbook, "Basic Multi-LLM Workflows", example 2.

Source: anthropics/anthropic-cookbook, patterns/agents/basic_workflows.ipynb (`parallel`
and the "stakeholder impact analysis" cell), commit
4b36a1e1f64361397f4cbe4fbc7cdace338f16f8, MIT License, Copyright (c) 2023 Anthropic.
Changed: the provider (see _anthropic_util.py); the example cell is the body of `main()`.

Critical path: 2 LLM rounds. The author already fans out with a ThreadPoolExecutor of
n_workers=3 over 4 independent stakeholders: 3 calls, then the 4th -- the program's own
pool caps the concurrency, and the jit must not make it worse (nor break it).
Shape: hand-written thread pool inside a helper; the loop after it prints each result.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import List, Dict, Callable
from _anthropic_util import llm_call, extract_xml

def parallel(prompt: str, inputs: List[str], n_workers: int = 3) -> List[str]:
    """Process multiple inputs concurrently with the same prompt."""
    with ThreadPoolExecutor(max_workers=n_workers) as executor:
        futures = [executor.submit(llm_call, f"{prompt}\nInput: {x}") for x in inputs]
        return [f.result() for f in futures]


def main():
    # Example 2: Parallelization workflow for stakeholder impact analysis
    # Process impact analysis for multiple stakeholder groups concurrently

    stakeholders = [
        """Customers:
        - Price sensitive
        - Want better tech
        - Environmental concerns""",
        
        """Employees:
        - Job security worries
        - Need new skills
        - Want clear direction""",
        
        """Investors:
        - Expect growth
        - Want cost control
        - Risk concerns""",
        
        """Suppliers:
        - Capacity constraints
        - Price pressures
        - Tech transitions"""
    ]

    impact_results = parallel(
        """Analyze how market changes will impact this stakeholder group.
        Provide specific impacts and recommended actions.
        Format with clear sections and priorities.""",
        stakeholders
    )

    for result in impact_results:
        print(result)
        print('+' * 80)
    return impact_results


# --- benchmark harness (not part of the original) -------------------------------------
from _support import last_user, words

ENTRY = "main"
ROUNDS = 2


def reply(endpoint, body):
    prompt = last_user(body)
    group = prompt.split("Input: ", 1)[1].split(":", 1)[0]
    return (f"## Impacts on {group}\n- High priority: {words(prompt, 5)}\n"
            f"## Recommended actions\n- {words(prompt + 'a', 7)}")
