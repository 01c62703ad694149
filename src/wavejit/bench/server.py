"""An embedded OpenAI-compatible server and a small JSON API, on loopback.

`BenchServer` runs an aiohttp application on its own event loop in one background
thread, bound to ``127.0.0.1`` on a free port. Endpoints:

* ``POST /v1/chat/completions`` -- non-streaming and streaming (SSE) replies in the
  shapes the official ``openai`` SDK parses. The reply text and its token count derive
  from the request's digest (see `wavejit.bench.latency`), so equal requests get equal
  answers.
* ``GET /api/search?q=&k=``, ``GET /api/retrieve?id=``, ``GET /api/weather?city=``,
  ``POST /api/combine`` -- deterministic JSON.

Each request waits for a capacity slot (an ``asyncio.Semaphore``), then sleeps for the
latency the model assigns it. The applied latency (the sleep as measured) is reported in the response header
``x-wavejit-latency`` (seconds) and recorded, with its start and end times on the
process's ``time.perf_counter`` clock, in `BenchServer.requests`: the benchmark computes
the ideal wall time (the critical path) and draws timelines from that record.

``serve(...)`` is the context-manager form yielding only the base URL.

`ServerProcess` runs the same server in a child process (``python -m
wavejit.bench.server``), so that the benchmark's clients do not share a GIL with it:
in one process, at fan-out 100 and more, the server's Python work per request (parsing,
routing, the JSON reply) competes with the clients' and every peer measures that
contention instead of its own ability to overlap calls. The child prints its port on
stdout and runs until its stdin closes; the parent reads the request record through
``GET /_bench/requests``. ``time.perf_counter`` is a system-wide monotonic clock (Linux
``CLOCK_MONOTONIC``, macOS ``mach_absolute_time``), so the child's times compare with
the parent's.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass

from aiohttp import web

from .latency import LatencyModel, canonical, reply_words, request_digest

__all__ = ["BenchServer", "ServerProcess", "ServedRequest", "serve", "LATENCY_HEADER"]

LATENCY_HEADER = "x-wavejit-latency"
_CREATED = 1_700_000_000  # a fixed timestamp keeps replies byte-for-byte deterministic
_BACKLOG = 4096  # the default (128) drops connections when 1000 clients connect at once


@dataclass(frozen=True)
class ServedRequest:
    """One request as the server saw it (times on ``time.perf_counter``)."""

    path: str
    label: str
    arrived: float
    started: float
    finished: float
    latency: float  # the wait as measured (timers overshoot; more on a busy machine)
    planned: float = 0.0  # the wait the latency model assigned


class BenchServer:
    """The embedded server. Use as a context manager, or call `start` and `stop`.

    `port` 0 (the default) binds a free port; `port` is the bound one once started.
    """

    def __init__(self, latency: LatencyModel | None = None, *, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        self.model = latency if latency is not None else LatencyModel()
        self.host = host
        self.port = port
        self._lock = threading.Lock()
        self._requests: list[ServedRequest] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None
        self._slots: asyncio.Semaphore | None = None

    # -- lifecycle -------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        if self._thread is None:
            raise RuntimeError("the server is not running: call start() or use `with`")
        return f"http://{self.host}:{self.port}"

    def start(self) -> BenchServer:
        if self._thread is not None:
            raise RuntimeError("the server is already running")
        loop = asyncio.new_event_loop()
        started = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            asyncio.set_event_loop(loop)
            try:
                self.port = loop.run_until_complete(self._open())
            except BaseException as exc:  # handed back to start()'s thread
                failure.append(exc)
                started.set()
                return
            started.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="wavejit-bench-server", daemon=True)
        self._thread.start()
        started.wait()
        if failure:
            self._thread.join()
            loop.close()
            self._thread = None
            self._loop = None
            raise failure[0]
        return self

    def stop(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self._close(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        self._loop = None
        self._thread = None

    def __enter__(self) -> BenchServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _open(self) -> int:
        self._slots = asyncio.Semaphore(self.model.capacity)
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/api/search", self._search)
        app.router.add_get("/api/retrieve", self._retrieve)
        app.router.add_get("/api/weather", self._weather)
        app.router.add_post("/api/combine", self._combine)
        app.router.add_get("/healthz", self._health)
        app.router.add_get("/_bench/requests", self._record)
        self._runner = web.AppRunner(
            app, access_log=None, shutdown_timeout=1.0, keepalive_timeout=600.0
        )
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port, backlog=_BACKLOG)
        await site.start()
        address = self._runner.addresses[0]
        return int(address[1])

    async def _close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    # -- the request record ----------------------------------------------------------

    @property
    def requests(self) -> list[ServedRequest]:
        """A snapshot of every request served so far, in order of arrival."""
        with self._lock:
            return sorted(self._requests, key=lambda r: r.arrived)

    def mark(self) -> int:
        """A position in the record; pass it to `requests_since`."""
        with self._lock:
            return len(self._requests)

    def requests_since(self, mark: int, until: int | None = None) -> list[ServedRequest]:
        """Requests *finished* after `mark` (and before `until`) was taken, by arrival."""
        with self._lock:
            return sorted(self._requests[mark:until], key=lambda r: r.arrived)

    # -- the latency model -----------------------------------------------------------

    async def _serve(
        self, path: str, label: str, base: float, digest: bytes, tokens: int = 0
    ) -> float:
        """Queue for a slot, then wait the applied latency; record it; return it."""
        assert self._slots is not None
        arrived = time.perf_counter()
        async with self._slots:
            started = time.perf_counter()
            planned = self.model.latency(base, digest, tokens)
            await asyncio.sleep(planned)
            finished = time.perf_counter()
        # What the request actually waited: the event loop's timers overshoot, by up to a
        # millisecond on an idle machine and by far more on a busy one. The benchmark's
        # ideal is computed from `planned`, so that the server's own delays count
        # against every peer rather than raising the bar they are measured by.
        latency = finished - started
        with self._lock:
            self._requests.append(
                ServedRequest(path, label, arrived, started, finished, latency, planned)
            )
        return latency

    # -- handlers --------------------------------------------------------------------

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        model = str(body.get("model", "model"))
        messages = body.get("messages", [])
        key = canonical({"model": model, "messages": messages})
        digest = request_digest(self.model.seed, key)
        limit = int(body.get("max_tokens") or body.get("max_completion_tokens") or 64)
        count = max(1, min(limit, 6 + digest[0] % 11))
        words = reply_words(digest[1:], count)
        prompt_tokens = sum(len(str(m.get("content", "")).split()) for m in messages)
        completion_id = "chatcmpl-" + digest.hex()[:24]
        if body.get("stream"):
            return await self._chat_stream(request, model, completion_id, words, digest)
        latency = await self._serve(request.path, f"chat {model}", self.model.llm, digest, count)
        payload = {
            "id": completion_id,
            "object": "chat.completion",
            "created": _CREATED,
            "model": model,
            "choices": [
                {
                    "index": 0,
                    "message": {"role": "assistant", "content": f"{model}: " + " ".join(words)},
                    "finish_reason": "stop",
                    "logprobs": None,
                }
            ],
            "usage": {
                "prompt_tokens": prompt_tokens,
                "completion_tokens": count,
                "total_tokens": prompt_tokens + count,
            },
        }
        return web.json_response(payload, headers={LATENCY_HEADER: f"{latency:.6f}"})

    async def _chat_stream(
        self,
        request: web.Request,
        model: str,
        completion_id: str,
        words: list[str],
        digest: bytes,
    ) -> web.StreamResponse:
        # The whole latency is applied before the first byte: the record and the header
        # then mean the same thing as for a non-streaming reply.
        latency = await self._serve(
            request.path, f"chat {model} (stream)", self.model.llm, digest, len(words)
        )
        response = web.StreamResponse(
            headers={
                "Content-Type": "text/event-stream",
                "Cache-Control": "no-cache",
                LATENCY_HEADER: f"{latency:.6f}",
            }
        )
        await response.prepare(request)
        pieces = [f"{model}:"] + [f" {w}" for w in words]
        for index, piece in enumerate(pieces):
            delta: dict[str, str] = {"content": piece}
            if index == 0:
                delta["role"] = "assistant"
            await response.write(_sse(_chunk(completion_id, model, delta, None)))
        await response.write(_sse(_chunk(completion_id, model, {}, "stop")))
        await response.write(b"data: [DONE]\n\n")
        await response.write_eof()
        return response

    async def _search(self, request: web.Request) -> web.Response:
        query = request.query.get("q", "")
        k = max(1, min(20, int(request.query.get("k", "5"))))
        digest = request_digest(self.model.seed, canonical({"search": query, "k": k}))
        latency = await self._serve(request.path, f"search {query}", self.model.api, digest)
        words = reply_words(digest, 3 * k)
        hits = [
            {
                "id": f"doc-{digest[i] * 7 + i}",
                "title": " ".join(words[3 * i : 3 * i + 3]),
                "score": round(1.0 - i / (k + 1), 4),
            }
            for i in range(k)
        ]
        return _json({"query": query, "hits": hits}, latency)

    async def _retrieve(self, request: web.Request) -> web.Response:
        doc_id = request.query.get("id", "")
        digest = request_digest(self.model.seed, canonical({"retrieve": doc_id}))
        latency = await self._serve(request.path, f"retrieve {doc_id}", self.model.fetch, digest)
        text = " ".join(reply_words(digest, 12))
        return _json({"id": doc_id, "text": text}, latency)

    async def _weather(self, request: web.Request) -> web.Response:
        city = request.query.get("city", "")
        digest = request_digest(self.model.seed, canonical({"weather": city}))
        latency = await self._serve(request.path, f"weather {city}", self.model.api, digest)
        payload = {
            "city": city,
            "temp_c": digest[0] % 35 - 5,
            "conditions": reply_words(digest[1:], 1)[0],
        }
        return _json(payload, latency)

    async def _combine(self, request: web.Request) -> web.Response:
        body = await request.json()
        key = canonical(body)
        digest = request_digest(self.model.seed, canonical({"combine": key}))
        latency = await self._serve(request.path, "combine", self.model.api, digest)
        parts = sorted(body) if isinstance(body, dict) else []
        return _json({"digest": digest.hex()[:16], "parts": parts}, latency)

    async def _health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    async def _record(self, request: web.Request) -> web.Response:
        """The request record for `ServerProcess`: ``since`` / ``until`` are marks."""
        with self._lock:
            count = len(self._requests)
        if "since" not in request.query:
            return web.json_response({"mark": count})
        since = int(request.query["since"])
        until = int(request.query["until"]) if "until" in request.query else None
        served = self.requests_since(since, until)
        return web.json_response({"mark": count, "requests": [asdict(r) for r in served]})


def _json(payload: object, latency: float) -> web.Response:
    return web.json_response(payload, headers={LATENCY_HEADER: f"{latency:.6f}"})


def _chunk(
    completion_id: str, model: str, delta: dict[str, str], finish: str | None
) -> dict[str, object]:
    return {
        "id": completion_id,
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}],
    }


def _sse(payload: object) -> bytes:
    return f"data: {json.dumps(payload)}\n\n".encode()


class ServerProcess:
    """`BenchServer` in a child process, with the same record interface.

    ``mark()`` and ``requests_since()`` are HTTP calls to the child (a millisecond
    each): take them outside any timed region.
    """

    def __init__(self, latency: LatencyModel | None = None, *, host: str = "127.0.0.1") -> None:
        self.model = latency if latency is not None else LatencyModel()
        self.host = host
        self.port = 0
        self._process: subprocess.Popen[str] | None = None

    @property
    def base_url(self) -> str:
        if self._process is None:
            raise RuntimeError("the server is not running: call start() or use `with`")
        return f"http://{self.host}:{self.port}"

    def start(self) -> ServerProcess:
        if self._process is not None:
            raise RuntimeError("the server is already running")
        command = [sys.executable, "-m", "wavejit.bench.server", "--host", self.host,
                   "--latency", json.dumps(asdict(self.model))]
        process = subprocess.Popen(command, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                   text=True)
        assert process.stdout is not None
        line = process.stdout.readline()
        if not line.strip().isdigit():
            process.kill()
            process.wait()
            raise RuntimeError(f"the server process did not start (exit {process.returncode})")
        self.port = int(line)
        self._process = process
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None:
            return
        assert process.stdin is not None and process.stdout is not None
        process.stdin.close()  # the child's signal to stop
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _get(self, query: str) -> dict[str, object]:
        with urllib.request.urlopen(f"{self.base_url}/_bench/requests{query}",
                                    timeout=60) as reply:
            data: dict[str, object] = json.loads(reply.read())
        return data

    @property
    def requests(self) -> list[ServedRequest]:
        return self.requests_since(0)

    def mark(self) -> int:
        mark = self._get("")["mark"]
        assert isinstance(mark, int)
        return mark

    def requests_since(self, mark: int, until: int | None = None) -> list[ServedRequest]:
        query = f"?since={mark}" + (f"&until={until}" if until is not None else "")
        served = self._get(query)["requests"]
        assert isinstance(served, list)
        return [ServedRequest(**r) for r in served]


@contextlib.contextmanager
def serve(latency: LatencyModel | None = None, *, host: str = "127.0.0.1") -> Iterator[str]:
    """Run the embedded server for the duration of the block; yield its base URL."""
    with BenchServer(latency, host=host) as server:
        yield server.base_url


def _main(argv: Sequence[str] | None = None) -> None:
    """The child of `ServerProcess`: serve until stdin closes."""
    parser = argparse.ArgumentParser(description="the embedded server, for ServerProcess")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--latency", default="{}", help="a LatencyModel's fields, as JSON")
    args = parser.parse_args(argv)
    with BenchServer(LatencyModel(**json.loads(args.latency)), host=args.host) as server:
        print(server.port, flush=True)
        sys.stdin.read()


if __name__ == "__main__":
    _main()
