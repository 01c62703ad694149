"""async def programs with the real AsyncOpenAI / httpx.AsyncClient: efficiency of the jit.

    .venv/bin/python benchmarks/bench_async.py [--latency S] [--rounds N]

The three programs of `tests/test_async_real.py` (an ensemble of four and a judge; a
guardrail-then-answer loop that prints; a map over 100 prompts), written as a user
writes them (sequential awaits), run plain and jitted against the embedded server in
its own process (so the client alone competes for this process's GIL). Efficiency =
ideal / jitted wall, ideal = LLM rounds on the critical path x latency; each figure is
the median of `--rounds` warm calls (min-max beside it), every result checked equal to
the plain run's. Target (issue 10): efficiency >= 0.9.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))

import wavejit  # noqa: E402
from test_async_real import ensemble_and_judge, guardrail_then_answer, map_prompts  # noqa: E402
from wavejit.bench.latency import LatencyModel  # noqa: E402
from wavejit.bench.server import ServerProcess  # noqa: E402

PROGRAMS: list[tuple[str, Any, tuple[Any, ...], int]] = [
    ("ensemble of 4 + judge", ensemble_and_judge,
     ("Why is the sky blue?", ["gpt-a", "gpt-b", "gpt-c", "gpt-d"]), 2),
    ("guardrail then answer, prints", guardrail_then_answer,
     (["dogs", "cats", "horses", "birds"],), 2),
    ("map over 100 prompts", map_prompts, ([f"prompt {i}" for i in range(100)],), 1),
]


def timed(fn: Any, base_url: str, args: tuple[Any, ...]) -> tuple[Any, float]:
    started = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()):
        value = asyncio.run(fn(base_url, *args))
    return value, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--latency", type=float, default=0.2, help="seconds per request")
    parser.add_argument("--rounds", type=int, default=5, help="timed warm calls per peer")
    options = parser.parse_args()
    latency = options.latency
    model = LatencyModel(llm=latency, api=latency, fetch=latency, per_token=0.0, jitter=0.0)
    print(f"async programs, L = {latency} s per request, medians of {options.rounds} warm calls")
    with ServerProcess(model) as server:
        for name, program, args, rounds in PROGRAMS:
            jitted = wavejit.jit(program)
            expected, _ = timed(program, server.base_url, args)
            timed(jitted, server.base_url, args)  # warm: compiled, callees measured
            plain, jit = [], []
            for _ in range(options.rounds):
                value, wall = timed(program, server.base_url, args)
                assert value == expected
                plain.append(wall)
                value, wall = timed(jitted, server.base_url, args)
                assert value == expected, (name, value, expected)
                jit.append(wall)
            ideal = rounds * latency
            med = statistics.median(jit)
            print(f"{name}: plain {statistics.median(plain):.2f} s, jit {med:.2f} s "
                  f"({min(jit):.2f}-{max(jit):.2f}), ideal {ideal:.2f} s, efficiency "
                  f"{ideal / med:.2f} (target >= 0.9)")


if __name__ == "__main__":
    main()
