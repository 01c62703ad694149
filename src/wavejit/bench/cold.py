"""One peer's first call in a fresh process: ``python -m wavejit.bench.cold``.

A warm process hides what a program pays on its first call: connections to open,
threads to start, and for wavejit the compile and the first measurements. The parent
(`measure_cold`) starts a new interpreter per peer; the child imports everything,
opens the clients and pools untimed (as a program does at start-up), decorates the
function for the jit, then times exactly one call and hands back ``(seconds, result)``
as a pickle, which the parent checks against plain's result.
"""

from __future__ import annotations

import argparse
import json
import os
import pickle
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

__all__ = ["ColdStart", "measure_cold"]


@dataclass(frozen=True)
class ColdStart:
    """What a fresh process needs to rebuild a scenario and reach the server."""

    base_url: str
    settings: Any  # wavejit.bench.scenarios.Settings
    llm_base_url: str | None = None
    models: tuple[str, ...] | None = None
    # The peers to measure (names as in `wavejit.bench.results`); None: every one.
    peers: tuple[str, ...] | None = None
    timeout: float = 600.0


def measure_cold(cold: ColdStart, scenario: str, peer: str) -> tuple[float, Any]:
    """Seconds of `peer`'s first call on `scenario` in a new interpreter, and its result."""
    with tempfile.TemporaryDirectory(prefix="wavejit-cold-") as directory:
        out = Path(directory) / "result.pickle"
        settings = asdict(cold.settings)
        command = [
            sys.executable, "-m", "wavejit.bench.cold", "--url", cold.base_url,
            "--scenario", scenario, "--peer", peer, "--settings", json.dumps(settings),
            "--out", str(out),
        ]
        if cold.llm_base_url is not None:
            command += ["--llm-base-url", cold.llm_base_url]
        if cold.models:
            command += ["--models", ",".join(cold.models)]
        subprocess.run(command, check=True, timeout=cold.timeout)
        with out.open("rb") as f:
            wall, result = pickle.load(f)
    return float(wall), result


def _main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="time one peer's first call (see measure_cold)")
    parser.add_argument("--url", required=True)
    parser.add_argument("--scenario", required=True)
    parser.add_argument("--peer", required=True)
    parser.add_argument("--settings", required=True, help="Settings fields as JSON")
    parser.add_argument("--out", required=True)
    parser.add_argument("--llm-base-url")
    parser.add_argument("--models")
    args = parser.parse_args(argv)

    import wavejit

    from .clients import open_clients
    from .results import JIT_FIRST
    from .scenarios import Settings, build_scenarios, select

    fields = json.loads(args.settings)
    fields["fan_out_sizes"] = tuple(fields["fan_out_sizes"])
    (scenario,) = select(build_scenarios(Settings(**fields)), [args.scenario])
    models = args.models.split(",") if args.models else None
    api_key = os.environ.get("OPENAI_API_KEY", "") if args.llm_base_url else "wavejit-bench"
    with open_clients(args.url, llm_base_url=args.llm_base_url, api_key=api_key,
                      models=models) as clients:
        call: Callable[[], Any]
        if args.peer == JIT_FIRST:
            jitted = wavejit.jit(scenario.plain)
            plain_args = scenario.args(clients)
            call = lambda: jitted(*plain_args)  # noqa: E731
        else:
            call = scenario.peer_calls(clients)[args.peer]
        start = time.perf_counter()
        result = call()
        wall = time.perf_counter() - start
    with open(args.out, "wb") as f:
        pickle.dump((wall, result), f)


if __name__ == "__main__":
    _main()
