# ruff: noqa
"""A tool-calling agent over a REST API described by Swagger -- seekbot-ai/agent-todo-list-example.

Source: seekbot-ai/agent-todo-list-example (MIT License, Copyright (c) 2025 seekbot-ai):
`agent/loop.py`, `agent/openai_client.py`, `agent/tool_executor.py` (commit
3856cf24da68ed7317bc348ac9c17c5ae93639b3), `agent/tool_schema_converter.py`,
`agent/swagger_loader.py`, `api_gateway/main.py` and `todo_server/swagger.json` (commit
6209d9dfbf92f0598acf1937ed25cc04e203bcbd).
Changed: the provider -- `AsyncOpenAI(api_key=os.getenv("OPENAI_API_KEY"))` reads its
base URL from OPENAI_BASE_URL as the SDK does; the tool executor's
`API="http://localhost:8001"` (the author's FastAPI todo server) is the scripted server's
`/api` (from OPENAI_BASE_URL), still called with `httpx.AsyncClient`; the swagger file is
inlined (`load_swagger` is kept, given the file's text); the modules are one file; FastAPI's
decorator on the gateway's `chat` is dropped. `main()` is the harness's client: it posts one
user message and returns the reply and the conversation `run_agent` built.

Critical path: 5 rounds. Model (asks for `get__todos`) -> the list -> model (asks for
two `put__todos_id` and one `post__todos` in one message) -> the three tool calls, which
need nothing from each other (1 round) -> model's final answer. Plain: 7 rounds.
Shape: async; `while True` agent loop (sequential by nature across turns); within a turn
`for call in ai_msg.tool_calls: result = await execute_tool(...); messages.append(...)` --
each awaited tool call's result is appended to the shared `messages` list before the next
call; `execute_tool` opens an `httpx.AsyncClient` per call (`async with`) and branches on
the HTTP method. (Note: overlapping the PUT / POST requests is only right because they
touch different resources; nothing in the client tells the jit so.)
"""
import json
import os

import httpx
from openai import AsyncOpenAI

# --- agent/swagger_loader.py -------------------------------------------------------------
def load_swagger(path):
    with open(path,'r') as f: return json.load(f)


# --- agent/tool_schema_converter.py ------------------------------------------------------
def swagger_to_tools(spec):
    tools=[]
    for path, methods in spec.get("paths",{}).items():
        clean=path.strip("/")
        for method,info in methods.items():
            # Remove invalid characters from tool name
            name=f"{method}__{clean.replace('/','_').replace('{','').replace('}','')}"
            schema={"type":"object","properties":{}, "required":[]}

            for p in info.get("parameters",[]):
                pname=p["name"]
                schema["properties"][pname]={"type":p["schema"]["type"]}
                if p.get("required"): schema["required"].append(pname)

            if "requestBody" in info:
                body=info["requestBody"]["content"]["application/json"]["schema"]
                schema["properties"].update(body.get("properties",{}))
                schema["required"]+=body.get("required",[])

            tools.append({
                "type":"function",
                "function":{
                    "name":name,
                    "description": info.get("summary", f"{method} {path}"),
                    "parameters": schema
                }
            })
    return tools


# --- agent/openai_client.py --------------------------------------------------------------
client = AsyncOpenAI(api_key=os.getenv("OPENAI_API_KEY"))

SYSTEM_PROMPT = """You are a helpful assistant that manages a todo list through API calls.

You have access to these tools:
- get__todos: List all todos
- post__todos: Create a new todo
- get__todos_id: Get a specific todo by ID
- put__todos_id: Update a todo by ID
- delete__todos_id: Delete a todo by ID

IMPORTANT: When a user refers to a todo by its title (not ID), you MUST:
1. First call get__todos to list all todos and find the matching ID
2. Then use that ID to perform the requested operation (update, delete, etc.)

Always complete multi-step tasks by calling multiple tools as needed."""

async def call_openai(messages, tools):
    # Convert string messages to proper format
    formatted_messages = [{"role": "system", "content": SYSTEM_PROMPT}]
    for msg in messages:
        if isinstance(msg, str):
            formatted_messages.append({"role": "user", "content": msg})
        else:
            formatted_messages.append(msg)

    response = await client.chat.completions.create(
        model="gpt-4o",
        messages=formatted_messages,
        tools=tools,
        tool_choice="auto"
    )
    return response.choices[0].message


# --- agent/tool_executor.py --------------------------------------------------------------
API=os.environ.get("OPENAI_BASE_URL", "http://localhost:8001/v1").removesuffix("/v1") + "/api"

async def execute_tool(name,args):
    method, path = name.split("__",1)
    url=f"{API}/{path.replace('_','/')}"
    m=method.upper()

    # Parse args if it's a string
    if isinstance(args, str):
        args = json.loads(args) if args else {}

    async with httpx.AsyncClient() as c:
        if m=="GET":
            r=await c.get(url, params=args)
        else:
            r=await c.request(m, url, json=args)
        # Return as JSON string for tool message content
        return json.dumps(r.json())


# --- agent/loop.py -----------------------------------------------------------------------
async def run_agent(messages, tools):
    while True:
        ai_msg = await call_openai(messages, tools)

        if ai_msg.tool_calls:
            # Add assistant message with tool calls
            messages.append({
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": call.id,
                        "type": "function",
                        "function": {
                            "name": call.function.name,
                            "arguments": call.function.arguments
                        }
                    }
                    for call in ai_msg.tool_calls
                ]
            })

            for call in ai_msg.tool_calls:
                name = call.function.name
                args = call.function.arguments
                result = await execute_tool(name, args)

                messages.append({
                    "role": "tool",
                    "tool_call_id": call.id,
                    "content": result
                })
            continue

        return ai_msg.content


# --- todo_server/swagger.json (inlined) --------------------------------------------------
SWAGGER_JSON = """{
  "openapi": "3.0.0",
  "info": {"title": "Todo API", "version": "1.0.0"},
  "paths": {
    "/todos": {
      "get": {"summary": "List all todos", "responses": {"200": {"description": "List of todos"}}},
      "post": {
        "summary": "Create a new todo",
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object",
          "properties": {
            "title": {"type": "string", "description": "The todo title"},
            "done": {"type": "boolean", "description": "Whether the todo is completed", "default": false}
          },
          "required": ["title"]}}}},
        "responses": {"200": {"description": "Created todo"}}
      }
    },
    "/todos/{id}": {
      "get": {
        "summary": "Get a todo by ID",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}, "description": "Todo ID"}],
        "responses": {"200": {"description": "The todo"}}
      },
      "put": {
        "summary": "Update a todo by ID",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}, "description": "Todo ID"}],
        "requestBody": {"required": true, "content": {"application/json": {"schema": {
          "type": "object",
          "properties": {
            "title": {"type": "string", "description": "The todo title"},
            "done": {"type": "boolean", "description": "Whether the todo is completed"}
          },
          "required": ["title", "done"]}}}},
        "responses": {"200": {"description": "Updated todo"}}
      },
      "delete": {
        "summary": "Delete a todo by ID",
        "parameters": [{"name": "id", "in": "path", "required": true, "schema": {"type": "integer"}, "description": "Todo ID"}],
        "responses": {"200": {"description": "Deleted"}}
      }
    }
  }
}"""


# --- api_gateway/main.py -----------------------------------------------------------------
swagger=json.loads(SWAGGER_JSON)  # was: load_swagger("todo_server/swagger.json")
tools=swagger_to_tools(swagger)

async def chat(messages:list):
    return {"reply": await run_agent(messages, tools)}


# --- benchmark harness (not part of the original) ---------------------------------------
ENTRY = "main"
ROUNDS = 5

TODOS = [
    {"id": 1, "title": "buy milk", "done": False},
    {"id": 2, "title": "water plants", "done": False},
    {"id": 3, "title": "call mom", "done": False},
]


async def main():
    messages = ["I bought the milk and called mom: mark both done, and add 'book dentist'."]
    response = await chat(messages)
    return response, messages


def _call(i, name, arguments):
    return {"id": f"call_{i}", "type": "function",
            "function": {"name": name, "arguments": json.dumps(arguments)}}


def reply(endpoint, body):
    if endpoint == "api":
        if body["method"] == "GET" and body["path"] == "todos":
            return TODOS
        args = body["json"] or {}
        if body["method"] == "POST":
            return {"id": 4, "title": args["title"], "done": args.get("done", False)}
        return {"id": args.get("id"), "title": args.get("title"), "done": args.get("done")}
    tool_results = [m for m in body["messages"] if m["role"] == "tool"]
    if not tool_results:
        return {"content": None, "tool_calls": [_call(1, "get__todos", {})]}
    if len(tool_results) == 1:
        todos = json.loads(tool_results[0]["content"])
        ids = {t["title"]: t["id"] for t in todos}
        return {"content": None, "tool_calls": [
            _call(2, "put__todos_id", {"id": ids["buy milk"], "title": "buy milk", "done": True}),
            _call(3, "put__todos_id", {"id": ids["call mom"], "title": "call mom", "done": True}),
            _call(4, "post__todos", {"title": "book dentist"}),
        ]}
    done = [json.loads(m["content"]) for m in tool_results[1:]]
    return "Done: " + "; ".join(f"#{t['id']} {t['title']} ({'done' if t['done'] else 'open'})" for t in done)
