# ruff: noqa
"""Routing -- Anthropic cookbook, "Basic Multi-LLM Workflows", example 3.

Source: anthropics/anthropic-cookbook, patterns/agents/basic_workflows.ipynb (`route` and
the "customer support ticket handling" cell), commit
4b36a1e1f64361397f4cbe4fbc7cdace338f16f8, MIT License, Copyright (c) 2023 Anthropic.
Changed: the provider (see _anthropic_util.py); the example cell is the body of `main()`.

Critical path: 2 LLM rounds. For each of the 3 tickets, `route` makes a selector call and
then the specialist call that depends on its <selection>; the tickets are independent of
each other, so all three selector calls can run together, then all three specialists.
Shape: the loop prints each ticket's response right away; the two calls per iteration
live in a helper (`route`) that prints and branches (dict lookup) on the first result.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import List, Dict, Callable
from _anthropic_util import llm_call, extract_xml

def route(input: str, routes: Dict[str, str]) -> str:
    """Route input to specialized prompt using content classification."""
    # First determine appropriate route using LLM with chain-of-thought
    print(f"\nAvailable routes: {list(routes.keys())}")
    selector_prompt = f"""
    Analyze the input and select the most appropriate support team from these options: {list(routes.keys())}
    First explain your reasoning, then provide your selection in this XML format:

    <reasoning>
    Brief explanation of why this ticket should be routed to a specific team.
    Consider key terms, user intent, and urgency level.
    </reasoning>

    <selection>
    The chosen team name
    </selection>

    Input: {input}""".strip()
    
    route_response = llm_call(selector_prompt)
    reasoning = extract_xml(route_response, 'reasoning')
    route_key = extract_xml(route_response, 'selection').strip().lower()
    
    print("Routing Analysis:")
    print(reasoning)
    print(f"\nSelected route: {route_key}")
    
    # Process input with selected specialized prompt
    selected_prompt = routes[route_key]
    return llm_call(f"{selected_prompt}\nInput: {input}")


def main():
    # Example 3: Route workflow for customer support ticket handling
    # Route support tickets to appropriate teams based on content analysis

    support_routes = {
        "billing": """You are a billing support specialist. Follow these guidelines:
        1. Always start with "Billing Support Response:"
        2. First acknowledge the specific billing issue
        3. Explain any charges or discrepancies clearly
        4. List concrete next steps with timeline
        5. End with payment options if relevant
        
        Keep responses professional but friendly.
        
        Input: """,
        
        "technical": """You are a technical support engineer. Follow these guidelines:
        1. Always start with "Technical Support Response:"
        2. List exact steps to resolve the issue
        3. Include system requirements if relevant
        4. Provide workarounds for common problems
        5. End with escalation path if needed
        
        Use clear, numbered steps and technical details.
        
        Input: """,
        
        "account": """You are an account security specialist. Follow these guidelines:
        1. Always start with "Account Support Response:"
        2. Prioritize account security and verification
        3. Provide clear steps for account recovery/changes
        4. Include security tips and warnings
        5. Set clear expectations for resolution time
        
        Maintain a serious, security-focused tone.
        
        Input: """,
        
        "product": """You are a product specialist. Follow these guidelines:
        1. Always start with "Product Support Response:"
        2. Focus on feature education and best practices
        3. Include specific examples of usage
        4. Link to relevant documentation sections
        5. Suggest related features that might help
        
        Be educational and encouraging in tone.
        
        Input: """
    }

    # Test with different support tickets
    tickets = [
        """Subject: Can't access my account
        Message: Hi, I've been trying to log in for the past hour but keep getting an 'invalid password' error. 
        I'm sure I'm using the right password. Can you help me regain access? This is urgent as I need to 
        submit a report by end of day.
        - John""",
        
        """Subject: Unexpected charge on my card
        Message: Hello, I just noticed a charge of $49.99 on my credit card from your company, but I thought
        I was on the $29.99 plan. Can you explain this charge and adjust it if it's a mistake?
        Thanks,
        Sarah""",
        
        """Subject: How to export data?
        Message: I need to export all my project data to Excel. I've looked through the docs but can't
        figure out how to do a bulk export. Is this possible? If so, could you walk me through the steps?
        Best regards,
        Mike"""
    ]

    print("Processing support tickets...\n")
    for i, ticket in enumerate(tickets, 1):
        print(f"\nTicket {i}:")
        print("-" * 40)
        print(ticket)
        print("\nResponse:")
        print("-" * 40)
        response = route(ticket, support_routes)
        print(response)
        print("+" * 80)


# --- benchmark harness (not part of the original) -------------------------------------
from _support import last_user, words

ENTRY = "main"
ROUNDS = 2


def reply(endpoint, body):
    prompt = last_user(body)
    if prompt.startswith("Analyze the input and select"):
        ticket = prompt.split("Input: ", 1)[1]
        team = ("account" if "password" in ticket else "billing" if "charge" in ticket
                else "product")
        return (f"<reasoning>\nThe ticket mentions {words(ticket, 4)}; it belongs to {team}.\n"
                f"</reasoning>\n\n<selection>\n{team.title()}\n</selection>")
    team = prompt.split("Always start with \"", 1)[1].split(" ", 1)[0]
    return f"{team} Support Response:\n1. {words(prompt, 6)}\n2. {words(prompt + '2', 6)}"
