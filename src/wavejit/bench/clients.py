"""What every peer keeps for the whole run: clients, an event loop, thread pools.

Everything here is created once, before any timed call, as a user's program would at
start-up: the sync and async clients, the event loop the async clients belong to, and
one persistent ``ThreadPoolExecutor`` each for the thread-pool and Dask peers (sized
like wavejit's shared pool, `POOL_WORKERS` threads started on demand and kept).

``httpx``'s default pool allows 100 connections (and the ``openai`` SDK's 1000, with
100 kept alive), so a fan-out of 1000 would queue inside the client, not at the
server. Every client here gets one explicit, generous `LIMITS`, and the server keeps
idle connections open at least as long.

The async clients belong to one event loop, kept for the whole run (`Clients.run`), so
the asyncio peer reuses its connections across calls the way the thread peers do.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import Coroutine, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx
import openai
from openai import AsyncOpenAI, OpenAI

__all__ = ["Clients", "open_clients", "LIMITS", "EMBEDDED_MODELS", "POOL_WORKERS"]

T = TypeVar("T")

# httpx closes connections idle for 5 s by default; between two calls of one peer the
# other peers run for longer than that at fan-out 1000, and reopening 1000 connections
# would be timed as if it were the peer's own cost.
LIMITS = httpx.Limits(max_connections=2048, max_keepalive_connections=2048, keepalive_expiry=300.0)
TIMEOUT = httpx.Timeout(120.0)
EMBEDDED_MODELS = ("atlas", "borealis", "cirrus", "dorado", "eridanus")
# wavejit's shared pool allows 1024 threads (WAVEJIT_MAX_WORKERS); the hand-written
# peers' pools get as many. ThreadPoolExecutor starts a thread only when none is idle,
# so a pool this size holds as many threads as the largest fan-out it has run.
POOL_WORKERS = 1024


def _sdk_limits() -> Any:
    """`LIMITS` in the HTTP library this ``openai`` release is built on.

    ``openai`` 1.x and 2.x are built on ``httpx``, later releases on ``httpx2``; the
    SDK's ``http_client=`` must be a client of its own library.
    """
    library = openai.DefaultHttpxClient.__mro__[1].__module__.split(".")[0]
    return importlib.import_module(library).Limits(
        max_connections=LIMITS.max_connections,
        max_keepalive_connections=LIMITS.max_keepalive_connections,
        keepalive_expiry=LIMITS.keepalive_expiry,
    )


@dataclass
class Clients:
    """Sync and async clients for the LLM endpoint and the JSON API."""

    llm: OpenAI
    http: httpx.Client
    allm: AsyncOpenAI
    ahttp: httpx.AsyncClient
    loop: asyncio.AbstractEventLoop
    models: list[str]
    judge_model: str
    real_provider: bool = False
    # The thread-pool peer's pool and the Dask peer's (``compute(..., pool=)``).
    pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(POOL_WORKERS, thread_name_prefix="peer-pool")
    )
    dask_pool: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(POOL_WORKERS, thread_name_prefix="peer-dask")
    )
    _closed: bool = field(default=False, repr=False)

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine to completion on the clients' event loop."""
        return self.loop.run_until_complete(coroutine)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.pool.shutdown()
        self.dask_pool.shutdown()
        self.llm.close()
        self.http.close()
        self.run(self.allm.close())
        self.run(self.ahttp.aclose())
        self.loop.run_until_complete(self.loop.shutdown_asyncgens())
        self.loop.close()


@contextlib.contextmanager
def open_clients(
    base_url: str,
    *,
    llm_base_url: str | None = None,
    api_key: str = "wavejit-bench",
    models: list[str] | None = None,
) -> Iterator[Clients]:
    """Clients for the embedded server at ``base_url``.

    ``llm_base_url`` (with a real ``api_key`` and ``models``) points the LLM clients at
    a real provider instead; the JSON API stays on the embedded server.
    """
    real = llm_base_url is not None
    llm_url = llm_base_url if llm_base_url is not None else f"{base_url}/v1"
    chosen = list(models) if models else list(EMBEDDED_MODELS)
    loop = asyncio.new_event_loop()
    clients = Clients(
        llm=OpenAI(
            base_url=llm_url,
            api_key=api_key,
            max_retries=0,
            http_client=openai.DefaultHttpxClient(limits=_sdk_limits(), timeout=120.0),
        ),
        http=httpx.Client(base_url=base_url, limits=LIMITS, timeout=TIMEOUT),
        allm=AsyncOpenAI(
            base_url=llm_url,
            api_key=api_key,
            max_retries=0,
            http_client=openai.DefaultAsyncHttpxClient(limits=_sdk_limits(), timeout=120.0),
        ),
        ahttp=httpx.AsyncClient(base_url=base_url, limits=LIMITS, timeout=TIMEOUT),
        loop=loop,
        models=chosen,
        judge_model=chosen[0],
        real_provider=real,
    )
    try:
        yield clients
    finally:
        clients.close()
