"""The real-world corpus as a correctness net: every program, plain and jitted, agrees.

Each program in ``benchmarks/realworld/programs`` (transcribed from a public cookbook or
repository) runs plain twice and jitted twice against the scripted OpenAI-compatible
server (a child process, real ``openai`` clients over loopback) at a small latency. The
jitted first and warm calls must match the plain first and warm calls: return value,
stdout, the module state the program mutates, and the number of requests the server saw
(see ``benchmarks/realworld/harness.py``). No timing is asserted here: efficiency is
reported by ``benchmarks/realworld/run.py``.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("openai")
pytest.importorskip("aiohttp")

REALWORLD = Path(__file__).resolve().parent.parent / "benchmarks" / "realworld"
sys.path.insert(0, str(REALWORLD))

from harness import ServerProcess, compare_program, program_names  # noqa: E402

# Small enough to keep the whole corpus near 30 s on two idle cores (about 50-65 s at a load
# average of 8-10), large enough that every request is still a real wait the jit could
# overlap.
LATENCY = 0.01


@pytest.fixture(scope="module")
def server() -> Iterator[ServerProcess]:
    with ServerProcess(LATENCY) as running:
        yield running


def test_the_corpus_is_large_enough() -> None:
    assert len(program_names()) >= 16


@pytest.mark.parametrize("name", program_names())
def test_jitted_program_matches_plain(name: str, server: ServerProcess) -> None:
    outcome = compare_program(name, server)
    assert outcome.plain.error is None, f"{name}: the plain run itself failed: {outcome.plain.error}"
    assert outcome.plain.requests > 0, f"{name}: the plain run made no request"
    assert not outcome.mismatches, f"{name}:\n" + "\n".join(outcome.mismatches)
