"""``python -m wavejit bench`` and ``python -m wavejit demo``.

`wavejit.__main__` parses the arguments with the standard library only and imports this
module when one of these subcommands runs, so ``python -m wavejit --help`` needs none of
the benchmark's third-party packages.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from .clients import open_clients
from .cold import ColdStart
from .latency import LatencyModel
from .report import plot_timeline, timeline_scenario, write_report
from .results import JIT_FIRST, BenchResult
from .runner import resolve_jit, run_all, run_scenario
from .scenarios import Settings, build_scenarios, select
from .server import ServerProcess
from .table import format_table

__all__ = ["run_bench", "run_demo", "QUICK_SCALE"]

QUICK_SCALE = 0.1
OPENAI_URL = "https://api.openai.com/v1"


def _log(message: str) -> None:
    print(f"  running {message}", file=sys.stderr, flush=True)


def run_bench(args: argparse.Namespace) -> int:
    scale = QUICK_SCALE if args.quick else args.scale
    repeat = args.repeat if args.repeat is not None else (1 if args.quick else 5)
    settings = Settings(
        sleep_seconds=0.100 * scale,
        fan_out_sizes=(10, 100) if args.quick else (10, 100, 1000),
    )
    scenarios = select(build_scenarios(settings), args.scenario)
    llm_base_url, api_key, models = None, "wavejit-bench", None
    if args.provider == "openai":
        api_key = os.environ.get("OPENAI_API_KEY", "")
        if not api_key:
            print("--provider openai needs OPENAI_API_KEY in the environment", file=sys.stderr)
            return 2
        llm_base_url, models = OPENAI_URL, [args.model] * 5
    model = LatencyModel(seed=args.seed, capacity=args.capacity).scaled(scale)
    started = time.perf_counter()
    load_before = os.getloadavg()[0]
    with (
        ServerProcess(model) as server,
        open_clients(
            server.base_url, llm_base_url=llm_base_url, api_key=api_key, models=models
        ) as clients,
    ):
        cold = ColdStart(
            server.base_url,
            settings,
            llm_base_url=llm_base_url,
            models=tuple(models) if models else None,
            # --quick: only wavejit's first call in a fresh process (each costs ~1 s).
            peers=(JIT_FIRST,) if args.quick else None,
        )
        bench = run_all(
            scenarios,
            server,
            clients,
            repeat=repeat,
            cold=cold,
            settings={
                "scale": scale,
                "quick": args.quick,
                "provider": args.provider,
                "workloads": asdict(settings),
                "server": "own process",
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
                "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            },
            log=_log,
        )
    # The machine's 1-minute load average before and after: how busy it was besides us.
    bench.settings["load_average"] = [load_before, os.getloadavg()[0]]
    print(format_table(bench))
    print(f"\n{len(scenarios)} scenarios in {time.perf_counter() - started:.1f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(bench.to_dict(), indent=2) + "\n")
        print(f"JSON: {args.json}")
    if args.report:
        print(f"report: {write_report(bench, Path(args.report))}")
    return 0


def run_demo(args: argparse.Namespace) -> int:
    """The LLM ensemble + judge, every peer side by side, and a timeline picture."""
    out = Path(args.out) if args.out else Path(tempfile.mkdtemp(prefix="wavejit-demo-"))
    out.mkdir(parents=True, exist_ok=True)
    (scenario,) = select(build_scenarios(), ["llm_ensemble"])
    jit, available = resolve_jit()
    print(f"wavejit demo: {scenario.title}, against an embedded OpenAI-compatible server")
    with (
        ServerProcess(LatencyModel(seed=args.seed)) as server,
        open_clients(server.base_url) as clients,
    ):
        result = run_scenario(scenario, server, clients, repeat=args.repeat, jit=jit)
    bench = BenchResult([result], {"demo": True}, available)
    print(format_table(bench))
    chosen = timeline_scenario(bench)
    if chosen is not None:
        print(f"timeline: {plot_timeline(chosen, out / 'timeline.png')}")
    return 0
