# ruff: noqa
"""Basic critique-revise with LangChain runnables -- langchain-ai/langchain cookbook.

Source: langchain-ai/langchain, cookbook/basic_critique_revise.ipynb (commit
31de53d3d5da007a4e847a7bb9d8258369873195), MIT License, Copyright (c) LangChain, Inc.:
the Pydantic schema, the function-calling chain, `output_validator`, the revise chain and
the critique-revise loop under `trace_as_chain_group`, as the body of `main()`.
Changed: only import paths -- the notebook's `langchain.chains.openai_functions`,
`langchain.chat_models`, `langchain.prompts`, `langchain.output_parsers.openai_functions`
and `langchain.callbacks.manager` now live in `langchain_core` / `langchain_openai`
(`ChatOpenAI` from OPENAI_BASE_URL / OPENAI_API_KEY, as a user would configure it).

Critical path: 3 LLM rounds: the first answer, then two revisions, each needing the
previous answer and the validator's error (the scripted model fixes the date first, then
the task type).
Shape: LangChain runnables (`prompt | model | parser`, `.invoke`) in a `while` loop that
validates each result before the next call (sequential by nature); pydantic v1-style
`Tasks.validate` (a deprecation warning per call).
"""
from typing import Sequence
from enum import Enum
from datetime import datetime
from pydantic import BaseModel, Field, ValidationError


class TaskType(str, Enum):
    call = "Call"
    message = "Message"
    todo = "Todo"
    in_person_meeting = "In-Person Meeting"
    email = "Email"
    mail = "Mail"
    text = "Text"
    open_house = "Open House"


class Task(BaseModel):
    title: str = Field(..., description="The title of the tasks, reminders and alerts")
    due_date: datetime = Field(
        ..., description="Due date. Must be a valid ISO date string with timezone"
    )
    task_type: TaskType = Field(None, description="The type of task")


class Tasks(BaseModel):
    """JSON definition for creating tasks, reminders and alerts"""

    tasks: Sequence[Task]


from langchain_core.utils.function_calling import convert_to_openai_function
from langchain_openai import ChatOpenAI
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.output_parsers.openai_functions import JsonOutputFunctionsParser


template = """Respond to the following user query to the best of your ability:

{query}"""

generate_prompt = ChatPromptTemplate.from_template(template)

user_query = "Set a reminder to renew our online property ads next week."

function_args = {"functions": [convert_to_openai_function(Tasks)]}

task_function_call_model = ChatOpenAI(model="gpt-3.5-turbo").bind(**function_args)

output_parser = JsonOutputFunctionsParser()

chain = generate_prompt | task_function_call_model | output_parser


def output_validator(output):
    try:
        Tasks.validate(output)
    except ValidationError as e:
        return (False, str(e))

    return [True]


revise_template = """Original prompt:
--------------
{original_prompt}
--------------

Completion:
--------------
{completion}
--------------

Above, the completion did not satisfy the constraints given by the original prompt and provided schema.

Error:
--------------
{error}
--------------

Try again. Only respond with an answer that satisfies the constraints laid out in the original prompt and provided schema:"""

revise_prompt = ChatPromptTemplate.from_template(revise_template)

revise_chain = (
    revise_prompt | task_function_call_model | JsonOutputFunctionsParser()
).with_config(run_name="ReviseChain")


from langchain_core.callbacks.manager import (
    trace_as_chain_group,
)
import json


def main():
    with trace_as_chain_group(
        "CritiqueRevise", inputs={"query": user_query}
    ) as group_manager:
        fix_count = 0
        formatted_original_prompt = generate_prompt.format(query=user_query)
        result = chain.invoke({"query": user_query}, config={"callbacks": group_manager})
        validator_result = output_validator(result)
        while validator_result[0] == False and fix_count < 5:
            result = revise_chain.invoke(
                {
                    "original_prompt": formatted_original_prompt,
                    "completion": json.dumps(result),
                    "error": json.dumps(validator_result[1]),
                },
                config={"callbacks": group_manager},
            )
            print(result)
            validator_result = output_validator(result)
            fix_count += 1
    return result


# --- benchmark harness (not part of the original) -------------------------------------
ENTRY = "main"
ROUNDS = 3


def reply(endpoint, body):
    prompt = body["messages"][-1]["content"]
    task = {"title": "Renew online property ads", "due_date": "next week", "task_type": "Reminder"}
    if prompt.startswith("Original prompt:"):
        previous = prompt.split("Completion:\n--------------\n", 1)[1].split("\n--------------", 1)[0]
        task = json.loads(previous)["tasks"][0]
        if task["due_date"] == "next week":
            task["due_date"] = "2022-12-12"
        else:
            task["task_type"], task["due_date"] = "Todo", "2022-12-12T12:00:00Z"
    return {"content": None,
            "function_call": {"name": "Tasks", "arguments": json.dumps({"tasks": [task]})}}
