# ruff: noqa
"""Orchestrating agents: routines and handoffs -- OpenAI cookbook (a tool-calling agent).

Source: openai/openai-cookbook, examples/Orchestrating_agents.ipynb
(https://github.com/openai/openai-cookbook/blob/139ed451f9749c5dcfd094ae62bc6f1a41310565/examples/Orchestrating_agents.ipynb),
MIT License, Copyright (c) 2023 OpenAI: `function_to_schema`, `Agent`, `Response`, the
handoff version of `run_full_turn` and `execute_tool_call`, the triage / sales / issues
and repairs agents with their tools, and the final conversation loop.
Changed: the final loop reads the user's turns from a list instead of `input("User: ")`
(`while True: user = input(...)` became `for user in USER_TURNS:`, echoing each turn),
and the order confirmation `input("Confirm order? y/n: ")` is answered "y" by a
module-level `input` defined below; it is the body of `main()`.

Critical path: 9 LLM rounds -- every request in an agent loop carries the whole
conversation so far (3 user turns: triage -> sales; sales -> order; sales -> triage ->
issues -> look up -> refund -> answer).
Shape: `while True` agent loop (sequential by nature) that prints, branches on
`message.tool_calls`, runs local tools and switches agents on `type(result) is Agent`.
"""
import inspect
import json
from typing import Optional

from openai import OpenAI
from pydantic import BaseModel

client = OpenAI()


def function_to_schema(func) -> dict:
    type_map = {
        str: "string",
        int: "integer",
        float: "number",
        bool: "boolean",
        list: "array",
        dict: "object",
        type(None): "null",
    }

    try:
        signature = inspect.signature(func)
    except ValueError as e:
        raise ValueError(
            f"Failed to get signature for function {func.__name__}: {str(e)}"
        )

    parameters = {}
    for param in signature.parameters.values():
        try:
            param_type = type_map.get(param.annotation, "string")
        except KeyError as e:
            raise KeyError(
                f"Unknown type annotation {param.annotation} for parameter {param.name}: {str(e)}"
            )
        parameters[param.name] = {"type": param_type}

    required = [
        param.name
        for param in signature.parameters.values()
        if param.default == inspect._empty
    ]

    return {
        "type": "function",
        "function": {
            "name": func.__name__,
            "description": (func.__doc__ or "").strip(),
            "parameters": {
                "type": "object",
                "properties": parameters,
                "required": required,
            },
        },
    }


class Agent(BaseModel):
    name: str = "Agent"
    model: str = "gpt-4o-mini"
    instructions: str = "You are a helpful Agent"
    tools: list = []


class Response(BaseModel):
    agent: Optional[Agent]
    messages: list


def run_full_turn(agent, messages):

    current_agent = agent
    num_init_messages = len(messages)
    messages = messages.copy()

    while True:

        # turn python functions into tools and save a reverse map
        tool_schemas = [function_to_schema(tool) for tool in current_agent.tools]
        tools = {tool.__name__: tool for tool in current_agent.tools}

        # === 1. get openai completion ===
        response = client.chat.completions.create(
            model=agent.model,
            messages=[{"role": "system", "content": current_agent.instructions}]
            + messages,
            tools=tool_schemas or None,
        )
        message = response.choices[0].message
        messages.append(message)

        if message.content:  # print agent response
            print(f"{current_agent.name}:", message.content)

        if not message.tool_calls:  # if finished handling tool calls, break
            break

        # === 2. handle tool calls ===

        for tool_call in message.tool_calls:
            result = execute_tool_call(tool_call, tools, current_agent.name)

            if type(result) is Agent:  # if agent transfer, update current agent
                current_agent = result
                result = (
                    f"Transfered to {current_agent.name}. Adopt persona immediately."
                )

            result_message = {
                "role": "tool",
                "tool_call_id": tool_call.id,
                "content": result,
            }
            messages.append(result_message)

    # ==== 3. return last agent used and new messages =====
    return Response(agent=current_agent, messages=messages[num_init_messages:])


def execute_tool_call(tool_call, tools, agent_name):
    name = tool_call.function.name
    args = json.loads(tool_call.function.arguments)

    print(f"{agent_name}:", f"{name}({args})")

    return tools[name](**args)  # call corresponding function with provided arguments


def escalate_to_human(summary):
    """Only call this if explicitly asked to."""
    print("Escalating to human agent...")
    print("\n=== Escalation Report ===")
    print(f"Summary: {summary}")
    print("=========================\n")
    exit()


def transfer_to_sales_agent():
    """User for anything sales or buying related."""
    return sales_agent


def transfer_to_issues_and_repairs():
    """User for issues, repairs, or refunds."""
    return issues_and_repairs_agent


def transfer_back_to_triage():
    """Call this if the user brings up a topic outside of your purview,
    including escalating to human."""
    return triage_agent


triage_agent = Agent(
    name="Triage Agent",
    instructions=(
        "You are a customer service bot for ACME Inc. "
        "Introduce yourself. Always be very brief. "
        "Gather information to direct the customer to the right department. "
        "But make your questions subtle and natural."
    ),
    tools=[transfer_to_sales_agent, transfer_to_issues_and_repairs, escalate_to_human],
)


def execute_order(product, price: int):
    """Price should be in USD."""
    print("\n\n=== Order Summary ===")
    print(f"Product: {product}")
    print(f"Price: ${price}")
    print("=================\n")
    confirm = input("Confirm order? y/n: ").strip().lower()
    if confirm == "y":
        print("Order execution successful!")
        return "Success"
    else:
        print("Order cancelled!")
        return "User cancelled order."


sales_agent = Agent(
    name="Sales Agent",
    instructions=(
        "You are a sales agent for ACME Inc."
        "Always answer in a sentence or less."
        "Follow the following routine with the user:"
        "1. Ask them about any problems in their life related to catching roadrunners.\n"
        "2. Casually mention one of ACME's crazy made-up products can help.\n"
        " - Don't mention price.\n"
        "3. Once the user is bought in, drop a ridiculous price.\n"
        "4. Only after everything, and if the user says yes, "
        "tell them a crazy caveat and execute their order.\n"
        ""
    ),
    tools=[execute_order, transfer_back_to_triage],
)


def look_up_item(search_query):
    """Use to find item ID.
    Search query can be a description or keywords."""
    item_id = "item_132612938"
    print("Found item:", item_id)
    return item_id


def execute_refund(item_id, reason="not provided"):
    print("\n\n=== Refund Summary ===")
    print(f"Item ID: {item_id}")
    print(f"Reason: {reason}")
    print("=================\n")
    print("Refund execution successful!")
    return "success"


issues_and_repairs_agent = Agent(
    name="Issues and Repairs Agent",
    instructions=(
        "You are a customer support agent for ACME Inc."
        "Always answer in a sentence or less."
        "Follow the following routine with the user:"
        "1. First, ask probing questions and understand the user's problem deeper.\n"
        " - unless the user has already provided a reason.\n"
        "2. Propose a fix (make one up).\n"
        "3. ONLY if not satisfied, offer a refund.\n"
        "4. If accepted, search for the ID and then execute refund."
        ""
    ),
    tools=[execute_refund, look_up_item, transfer_back_to_triage],
)


def main():
    agent = triage_agent
    messages = []

    for user in USER_TURNS:
        print("User:", user)
        messages.append({"role": "user", "content": user})

        response = run_full_turn(agent, messages)
        agent = response.agent
        messages.extend(response.messages)
    return agent.name, len(messages)


# --- benchmark harness (not part of the original) -------------------------------------
import hashlib

USER_TURNS = [
    "Hi, I'd like to buy something to catch a roadrunner.",
    "Yes, that sounds great, I'll take the rocket skates.",
    "Actually the skates broke on day one. I want a refund, they are useless.",
]


def input(prompt=""):
    print(prompt + "y")
    return "y"


ENTRY = "main"
ROUNDS = 9


def _call(name, **arguments):
    ident = "call_" + hashlib.sha256((name + json.dumps(arguments)).encode()).hexdigest()[:12]
    return {"content": None, "tool_calls": [{"id": ident, "type": "function", "function": {
        "name": name, "arguments": json.dumps(arguments)}}]}


def reply(endpoint, body):
    messages = body["messages"]
    system, last = messages[0]["content"], messages[-1]
    said = str(last.get("content") or "")
    if system.startswith("You are a customer service bot"):  # triage
        if last["role"] == "user":
            return _call("transfer_to_sales_agent")
        return _call("transfer_to_issues_and_repairs")
    if system.startswith("You are a sales agent"):
        if said.startswith("Transfered"):
            return "Trouble with roadrunners? ACME Rocket Skates might help."
        if last["role"] == "user" and "refund" in said:
            return _call("transfer_back_to_triage")
        if last["role"] == "user":
            return _call("execute_order", product="ACME Rocket Skates", price=4999)
        return "Done! Caveat: they only go forward. Enjoy."
    # issues and repairs
    if said.startswith("Transfered"):
        return _call("look_up_item", search_query="rocket skates")
    if said.startswith("item_"):
        return _call("execute_refund", item_id=said, reason="broke on day one")
    return "Your refund has been processed."
