"""A global initialized once (``if _client is None: _client = OpenAI()``) does not keep
every caller in program order once it is set (`wavejit._hints.Scan.lazy`).

The lazy client singleton is how real services build their client (rag-fusion's
``get_client``). While the global is unset the helper writes it: the call runs in
program order (and creates it once, as plain Python does); afterwards it only reads
it, and calls overlap. The overlap test makes four calls of `LATENCY`: in order
4 x LATENCY, jitted within `FAST` (three latencies of slack on a loaded 2-core machine).
"""

from __future__ import annotations

import time
from typing import Any

import pytest

import wavejit
from overlap import assert_overlapped
from wavejit._hints import classify

LATENCY = 0.05
FAST = 3 * LATENCY

_cache: dict[str, str] = {}


class Client:
    created: list[int] = []  # (not a module global: the helper must write only _client)

    def __init__(self) -> None:
        Client.created.append(1)

    def ask(self, q: str) -> str:
        time.sleep(LATENCY)
        return q.upper()


wavejit.register_io(Client, shareable=True)
_client: Client | None = None


def get_client() -> Client:
    global _client
    if _client is None:
        _client = Client()
    return _client


def generate(q: str) -> str:
    return get_client().ask(q)


def cached_generate(q: str) -> str:
    global _cache
    if not _cache:
        _cache = {}
    _cache[q] = get_client().ask(q)  # a real write to a global: keeps program order
    return _cache[q]


def fan_out(qs: list[str]) -> list[str]:
    return [generate(q) for q in qs]


def loop(qs: list[str]) -> list[str]:
    out = []
    for q in qs:
        out.append(generate(q))
    return out


@pytest.fixture(autouse=True)
def _unset() -> None:
    global _client
    _client = None
    Client.created.clear()


def test_the_helper_writes_globals_only_while_the_client_is_unset() -> None:
    assert classify(generate).writes_globals
    get_client()
    assert not classify(generate).writes_globals
    assert classify(cached_generate).writes_globals


@pytest.mark.concurrency
@pytest.mark.parametrize("fn", [fan_out, loop], ids=["comprehension", "loop"])
def test_callers_of_a_lazy_singleton_overlap_once_it_is_set(fn: Any) -> None:
    jitted = wavejit.jit(fn)
    assert jitted(["a", "b", "c", "d"]) == ["A", "B", "C", "D"]
    assert Client.created == [1]  # created once, by the first call, as plain Python does
    start = time.perf_counter()
    assert jitted(["e", "f", "g", "h"]) == fn(["e", "f", "g", "h"])
    wall = time.perf_counter() - start - 4 * LATENCY  # (minus plain's own run)
    assert_overlapped(jitted, deferred=4, together=2)
    assert wall < FAST, f"4 calls of {LATENCY}s took {wall:.3f}s: they ran in order"


def test_a_singleton_reset_between_calls_is_created_again_in_order() -> None:
    global _client
    jitted = wavejit.jit(fan_out)
    assert jitted(["a", "b"]) == ["A", "B"]
    _client = None
    assert jitted(["c", "d"]) == ["C", "D"]
    assert Client.created == [1, 1]


def test_a_real_global_write_keeps_program_order() -> None:
    def run(qs: list[str]) -> list[str]:
        return [cached_generate(q) for q in qs]

    jitted = wavejit.jit(run)
    for _ in range(2):
        assert jitted(["a", "b"]) == ["A", "B"]
    assert _cache == {"a": "A", "b": "B"}
