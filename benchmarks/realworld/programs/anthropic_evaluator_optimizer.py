# ruff: noqa
"""Evaluator-optimizer -- Anthropic cookbook, "Evaluator-Optimizer Workflow".

Source: anthropics/anthropic-cookbook, patterns/agents/evaluator_optimizer.ipynb
(`generate`, `evaluate`, `loop` and the "Iterative coding loop" example), commit
4b36a1e1f64361397f4cbe4fbc7cdace338f16f8, MIT License, Copyright (c) 2023 Anthropic.
Changed: the provider (see _anthropic_util.py); the example cell is the body of `main()`.

Critical path: 6 LLM rounds. The scripted evaluator passes the third attempt: generate,
evaluate, generate (with feedback), evaluate, generate, evaluate -- every call needs the
previous one's output, so nothing can overlap.
Shape: a while-loop with an early return on a parsed result (sequential by nature);
helpers print each result.
"""
from _anthropic_util import llm_call, extract_xml

def generate(prompt: str, task: str, context: str = "") -> tuple[str, str]:
    """Generate and improve a solution based on feedback."""
    full_prompt = f"{prompt}\n{context}\nTask: {task}" if context else f"{prompt}\nTask: {task}"
    response = llm_call(full_prompt)
    thoughts = extract_xml(response, "thoughts")
    result = extract_xml(response, "response")
    
    print("\n=== GENERATION START ===")
    print(f"Thoughts:\n{thoughts}\n")
    print(f"Generated:\n{result}")
    print("=== GENERATION END ===\n")
    
    return thoughts, result

def evaluate(prompt: str, content: str, task: str) -> tuple[str, str]:
    """Evaluate if a solution meets requirements."""
    full_prompt = f"{prompt}\nOriginal task: {task}\nContent to evaluate: {content}"
    response = llm_call(full_prompt)
    evaluation = extract_xml(response, "evaluation")
    feedback = extract_xml(response, "feedback")
    
    print("=== EVALUATION START ===")
    print(f"Status: {evaluation}")
    print(f"Feedback: {feedback}")
    print("=== EVALUATION END ===\n")
    
    return evaluation, feedback

def loop(task: str, evaluator_prompt: str, generator_prompt: str) -> tuple[str, list[dict]]:
    """Keep generating and evaluating until requirements are met."""
    memory = []
    chain_of_thought = []
    
    thoughts, result = generate(generator_prompt, task)
    memory.append(result)
    chain_of_thought.append({"thoughts": thoughts, "result": result})
    
    while True:
        evaluation, feedback = evaluate(evaluator_prompt, result, task)
        if evaluation == "PASS":
            return result, chain_of_thought
            
        context = "\n".join([
            "Previous attempts:",
            *[f"- {m}" for m in memory],
            f"\nFeedback: {feedback}"
        ])
        
        thoughts, result = generate(generator_prompt, task, context)
        memory.append(result)
        chain_of_thought.append({"thoughts": thoughts, "result": result})


evaluator_prompt = """
Evaluate this following code implementation for:
1. code correctness
2. time complexity
3. style and best practices

You should be evaluating only and not attemping to solve the task.
Only output "PASS" if all criteria are met and you have no further suggestions for improvements.
Output your evaluation concisely in the following format.

<evaluation>PASS, NEEDS_IMPROVEMENT, or FAIL</evaluation>
<feedback>
What needs improvement and why.
</feedback>
"""

generator_prompt = """
Your goal is to complete the task based on <user input>. If there are feedback 
from your previous generations, you should reflect on them to improve your solution

Output your answer concisely in the following format: 

<thoughts>
[Your understanding of the task and feedback and how you plan to improve]
</thoughts>

<response>
[Your code implementation here]
</response>
"""

task = """
<user input>
Implement a Stack with:
1. push(x)
2. pop()
3. getMin()
All operations should be O(1).
</user input>
"""


def main():
    return loop(task, evaluator_prompt, generator_prompt)


# --- benchmark harness (not part of the original) -------------------------------------
from _support import last_user, words

ENTRY = "main"
ROUNDS = 6


def reply(endpoint, body):
    prompt = last_user(body)
    if prompt.lstrip().startswith("Evaluate this following code"):
        content = prompt.split("Content to evaluate: ", 1)[1]
        if "attempt 3" in content:
            return "<evaluation>PASS</evaluation>\n<feedback>\nNone.\n</feedback>"
        return (f"<evaluation>NEEDS_IMPROVEMENT</evaluation>\n<feedback>\n"
                f"{words(content, 6)}\n</feedback>")
    attempt = 1 + prompt.count("\n- ")
    return (f"<thoughts>\nAttempt {attempt}: {words(prompt, 5)}\n</thoughts>\n\n<response>\n"
            f"class MinStack:  # attempt {attempt}\n    pass\n</response>")
