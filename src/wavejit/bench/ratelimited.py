"""A rate-limited OpenAI-compatible server on loopback: a concurrency cap, and HTTP 429
with ``Retry-After`` above it (as providers answer when a key's limit is exceeded).

``POST /v1/chat/completions`` answers after ``latency`` seconds with a reply that is a
function of the request (``"<model>: <last message>"``), so equal requests get equal
answers and a test can compare the jitted function's results with plain Python's. A
request arriving while ``cap`` others are in flight is refused at once: status 429,
an OpenAI-shaped error body, and ``Retry-After`` (seconds, as a decimal) plus
``retry-after-ms``. `counts()` reports served and refused requests and the most that
were in flight at once.

Used by ``tests/test_production.py`` and ``benchmarks/bench_ratelimit.py``.
"""

from __future__ import annotations

import asyncio
import threading
from types import TracebackType

from aiohttp import web

__all__ = ["RateLimitedServer"]


class RateLimitedServer:
    """Use as a context manager; ``base_url`` is ``http://127.0.0.1:<port>/v1``."""

    def __init__(self, *, cap: int = 20, latency: float = 0.05,
                 retry_after: float = 0.1) -> None:
        self.cap = cap
        self.latency = latency
        self.retry_after = retry_after
        self.served = 0
        self.refused = 0
        self.peak = 0
        self.in_flight = 0
        self.port = 0
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._runner: web.AppRunner | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/v1"

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"served": self.served, "refused": self.refused, "peak": self.peak}

    def reset_counts(self) -> None:
        with self._lock:
            self.served = self.refused = self.peak = 0

    async def _chat(self, request: web.Request) -> web.Response:
        body = await request.json()
        with self._lock:
            if self.in_flight >= self.cap:
                self.refused += 1
                refused = True
            else:
                refused = False
                self.in_flight += 1
                self.peak = max(self.peak, self.in_flight)
        if refused:
            return web.json_response(
                {"error": {"message": "Rate limit reached: too many concurrent requests",
                           "type": "rate_limit_exceeded", "code": "rate_limit_exceeded",
                           "param": None}},
                status=429,
                headers={"retry-after": f"{self.retry_after:g}",
                         "retry-after-ms": f"{self.retry_after * 1000:.0f}"})
        try:
            await asyncio.sleep(self.latency)
        finally:
            with self._lock:
                self.in_flight -= 1
                self.served += 1
        model = str(body.get("model", "model"))
        messages = body.get("messages") or [{}]
        text = f"{model}: {messages[-1].get('content', '')}"
        return web.json_response({
            "id": "chatcmpl-rl", "object": "chat.completion", "created": 1_700_000_000,
            "model": model,
            "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                         "message": {"role": "assistant", "content": text}}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
        })

    async def _open(self) -> int:
        app = web.Application()
        app.router.add_post("/v1/chat/completions", self._chat)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0, backlog=4096)
        await site.start()
        return int(self._runner.addresses[0][1])

    def __enter__(self) -> RateLimitedServer:
        loop = asyncio.new_event_loop()
        started = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            self.port = loop.run_until_complete(self._open())
            started.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="wavejit-ratelimited", daemon=True)
        self._thread.start()
        if not started.wait(10):
            raise RuntimeError("the rate-limited server did not start")
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), loop).result()
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()
        self._loop = self._thread = None
