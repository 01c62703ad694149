"""A scripted OpenAI-compatible server for the real-world corpus, run as its own process.

Each program in ``programs/`` defines ``reply(endpoint, body)``: given the endpoint
(``"chat"``, ``"completions"``, ``"responses"``, ``"embeddings"``, ``"search"`` or ``"api"``) and
the request's JSON body (or query for ``search``), it returns what the model (or the
search API) answers. Replies depend only on the request, so a plain run and a jitted run
see the same answers whatever order their requests arrive in.

The runner selects the program under test with ``POST /_control/select`` (runs are
sequential), reads the request count with ``GET /_control/count``, and talks to the
model endpoints under ``/v1`` like any OpenAI client. Every request sleeps a fixed
latency ``L`` (``--latency``) before it is answered; the count is taken on arrival.

Run as a process (``python server.py --latency 0.1``): it prints ``PORT <n>`` once it
listens on loopback, and stops on SIGTERM or when its stdin closes. A separate process
keeps the server's CPU work off the client's GIL.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from aiohttp import web

PROGRAMS = Path(__file__).resolve().parent / "programs"
_CREATED = 1_700_000_000  # fixed, so replies are byte-for-byte deterministic


def load_program(name: str, *, unique: str | None = None) -> ModuleType:
    """Import ``programs/<name>.py`` as a new module object (fresh globals each call)."""
    path = PROGRAMS / f"{name}.py"
    if not path.exists():
        raise FileNotFoundError(f"no program {name!r} in {PROGRAMS}")
    if str(PROGRAMS) not in sys.path:
        sys.path.insert(0, str(PROGRAMS))  # the programs' shared reply helpers
    module_name = f"realworld_{name}" + (f"_{unique}" if unique else "")
    spec = importlib.util.spec_from_file_location(module_name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # dataclasses / pickling look modules up by name
    spec.loader.exec_module(module)
    return module


class Scripted:
    """The aiohttp application's state: the selected program and the request count."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.program: ModuleType | None = None
        self.modules: dict[str, ModuleType] = {}
        self.count = 0

    def reply(self, endpoint: str, body: Any) -> Any:
        if self.program is None:
            raise web.HTTPBadRequest(text="no program selected: POST /_control/select first")
        return self.program.reply(endpoint, body)

    async def wait(self) -> None:
        self.count += 1
        await asyncio.sleep(self.latency)

    # -- control -------------------------------------------------------------------

    async def select(self, request: web.Request) -> web.Response:
        name = (await request.json())["program"]
        if name not in self.modules:
            self.modules[name] = load_program(name, unique="server")
        self.program = self.modules[name]
        return web.json_response({"program": name})

    async def get_count(self, request: web.Request) -> web.Response:
        return web.json_response({"count": self.count})

    # -- model endpoints -------------------------------------------------------------

    async def chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await self.wait()
        answer = self.reply("chat", body)
        answers = answer if isinstance(answer, list) else [answer]
        model = body.get("model", "model")
        cid = "chatcmpl-" + _digest(body)
        if body.get("stream"):
            return await _stream_chat(request, cid, model, _message(answers[0])["content"] or "")
        choices = [
            {"index": i, "message": _message(a), "finish_reason": _finish(a), "logprobs": None}
            for i, a in enumerate(answers)
        ]
        return web.json_response(
            {
                "id": cid,
                "object": "chat.completion",
                "created": _CREATED,
                "model": model,
                "choices": choices,
                "usage": _usage(body, answers),
            }
        )

    async def completions(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.wait()
        prompts = body["prompt"] if isinstance(body["prompt"], list) else [body["prompt"]]
        texts = [self.reply("completions", {**body, "prompt": p}) for p in prompts]
        choices = [
            {"index": i, "text": t, "finish_reason": "stop", "logprobs": None}
            for i, t in enumerate(texts)
        ]
        return web.json_response(
            {
                "id": "cmpl-" + _digest(body),
                "object": "text_completion",
                "created": _CREATED,
                "model": body.get("model", "model"),
                "choices": choices,
                "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
            }
        )

    async def responses(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        await self.wait()
        text = self.reply("responses", body)
        rid = "resp_" + _digest(body)
        payload = _response_object(rid, body.get("model", "model"), text)
        if body.get("stream"):
            return await _stream_response(request, payload, text)
        return web.json_response(payload)

    async def embeddings(self, request: web.Request) -> web.Response:
        body = await request.json()
        await self.wait()
        vectors = self.reply("embeddings", body)
        data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
        return web.json_response(
            {
                "object": "list",
                "data": data,
                "model": body.get("model", "model"),
                "usage": {"prompt_tokens": 1, "total_tokens": 1},
            }
        )

    async def search(self, request: web.Request) -> web.Response:
        query = dict(request.query)
        await self.wait()
        return web.json_response(self.reply("search", query))

    async def api(self, request: web.Request) -> web.Response:
        """Any method under ``/api/``: a program's own REST service (e.g. a todo API)."""
        body = await request.json() if request.can_read_body else None
        await self.wait()
        call = {"method": request.method, "path": request.match_info["tail"],
                "query": dict(request.query), "json": body}
        return web.json_response(self.reply("api", call))


def _digest(body: Any) -> str:
    import hashlib

    text = json.dumps(body, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:24]


def _message(answer: Any) -> dict[str, Any]:
    if isinstance(answer, dict):  # a scripted message with tool calls
        return {"role": "assistant", "content": answer.get("content"), **answer}
    return {"role": "assistant", "content": str(answer)}


def _finish(answer: Any) -> str:
    return "tool_calls" if isinstance(answer, dict) and answer.get("tool_calls") else "stop"


def _usage(body: dict[str, Any], answers: list[Any]) -> dict[str, int]:
    prompt = sum(len(str(m.get("content", "")).split()) for m in body.get("messages", []))
    completion = sum(len(str(_message(a)["content"] or "").split()) for a in answers)
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
    }


def _response_object(rid: str, model: str, text: str) -> dict[str, Any]:
    return {
        "id": rid,
        "object": "response",
        "created_at": _CREATED,
        "model": model,
        "status": "completed",
        "output": [
            {
                "type": "message",
                "id": "msg_" + rid[5:],
                "status": "completed",
                "role": "assistant",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            }
        ],
        "parallel_tool_calls": True,
        "tool_choice": "auto",
        "tools": [],
        "error": None,
        "incomplete_details": None,
        "instructions": None,
        "metadata": {},
        "temperature": None,
        "top_p": None,
    }


def _sse(payload: Any) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


async def _stream_chat(request: web.Request, cid: str, model: str, text: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    pieces = text.split(" ")
    for i, piece in enumerate(pieces):
        delta = {"content": piece if i == 0 else " " + piece}
        if i == 0:
            delta["role"] = "assistant"
        chunk = {
            "id": cid,
            "object": "chat.completion.chunk",
            "created": _CREATED,
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": None, "logprobs": None}],
        }
        await response.write(_sse(chunk))
    final = {
        "id": cid,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": {}, "finish_reason": "stop", "logprobs": None}],
    }
    await response.write(_sse(final))
    await response.write(b"data: [DONE]\n\n")
    await response.write_eof()
    return response


async def _stream_response(
    request: web.Request, payload: dict[str, Any], text: str
) -> web.StreamResponse:
    response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
    await response.prepare(request)
    item_id = payload["output"][0]["id"]
    pieces = text.split(" ")
    for seq, piece in enumerate(pieces):
        event = {
            "type": "response.output_text.delta",
            "item_id": item_id,
            "output_index": 0,
            "content_index": 0,
            "delta": piece if seq == 0 else " " + piece,
            "sequence_number": seq,
            "logprobs": [],
        }
        await response.write(f"event: {event['type']}\n".encode() + _sse(event))
    done = {"type": "response.completed", "response": payload, "sequence_number": len(pieces)}
    await response.write(f"event: {done['type']}\n".encode() + _sse(done))
    await response.write_eof()
    return response


async def _serve(latency: float) -> None:
    state = Scripted(latency)
    app = web.Application(client_max_size=64 * 1024 * 1024)
    app.router.add_post("/_control/select", state.select)
    app.router.add_get("/_control/count", state.get_count)
    app.router.add_post("/v1/chat/completions", state.chat)
    app.router.add_post("/v1/completions", state.completions)
    app.router.add_post("/v1/responses", state.responses)
    app.router.add_post("/v1/embeddings", state.embeddings)
    app.router.add_get("/search", state.search)
    app.router.add_route("*", "/api/{tail:.*}", state.api)
    runner = web.AppRunner(app, access_log=None, keepalive_timeout=600.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=4096)
    await site.start()
    port = runner.addresses[0][1]
    print(f"PORT {port}", flush=True)
    # Stop when the parent closes our stdin (or dies): no orphaned servers.
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await runner.cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request")
    args = parser.parse_args()
    asyncio.run(_serve(args.latency))


if __name__ == "__main__":
    main()
