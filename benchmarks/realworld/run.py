"""Run the real-world corpus plain and jitted; print the table and write JSON results.

    python benchmarks/realworld/run.py [--latency S] [--only NAME] [--repeat N] [--json PATH]

Starts the scripted server (``server.py``) in a child process, then for each program
(``programs/*.py``): plain first call, plain warm call, jit first call, jit warm call
(see ``harness.compare_program``), then ``--repeat - 1`` more timing-only warm calls per
side. Efficiency = ideal / jit warm wall, where ideal = ROUNDS x latency (the program's
critical path, derived in its header comment); speedup = plain warm wall / jit warm wall;
"warm" times are the fastest warm call of each side. Exits 1 if any jitted run differs from the plain one.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from harness import Outcome, ServerProcess, compare_program, program_names  # noqa: E402


def row(outcome: Outcome, latency: float) -> dict[str, object]:
    ideal = outcome.rounds * latency
    return {
        "program": outcome.name,
        "rounds": outcome.rounds,
        "requests": outcome.plain.requests,
        # Warm plain calls: the first call in the process also pays one-time imports and
        # connection set-up that the jitted calls (run later) would not.
        "plain_s": round(outcome.plain_best, 3),
        "plain_first_s": round(outcome.plain.seconds, 3),
        "jit_first_s": round(outcome.jit_first.seconds, 3),
        "jit_warm_s": round(outcome.jit_best, 3),
        "ideal_s": round(ideal, 3),
        "efficiency": round(ideal / outcome.jit_best, 3),
        "efficiency_first": round(ideal / outcome.jit_first.seconds, 3),
        "speedup": round(outcome.plain_best / outcome.jit_best, 3),
        # Client-side cost per request, from the plain run: what bounds efficiency below
        # 1 even for a perfect schedule (the ideal counts only the server's latency).
        "client_ms_per_request": round(
            1000 * (outcome.plain_best - outcome.plain_warm.requests * latency)
            / max(1, outcome.plain_warm.requests), 1
        ),
        "equal": outcome.equal,
        "same_requests": outcome.same_requests,
        "mismatches": outcome.mismatches,
    }


def summary(rows: list[dict[str, object]]) -> str:
    efficiencies = [float(r["efficiency"]) for r in rows]  # type: ignore[arg-type]
    speedups = [float(r["speedup"]) for r in rows]  # type: ignore[arg-type]
    geomean = math.exp(sum(math.log(s) for s in speedups) / len(speedups))
    all_equal = all(r["equal"] for r in rows)
    same = all(r["same_requests"] for r in rows)
    return (
        f"{len(rows)} programs, all equal: {'yes' if all_equal else 'no'}, "
        f"same request counts: {'yes' if same else 'no'}, "
        f"median efficiency {statistics.median(efficiencies):.2f}, "
        f"geomean speedup {geomean:.2f}x"
    )


def table(rows: list[dict[str, object]]) -> str:
    head = ("| program | rounds | requests | plain s | jit first s | jit warm s | efficiency "
            "| speedup | equal? | client ms/req |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---|---:|"]
    for r in rows:
        ok = "yes" if r["equal"] and r["same_requests"] else "**NO**"
        # Negative when the plain program already overlaps its own requests (asyncio.gather).
        ms = float(r["client_ms_per_request"])  # type: ignore[arg-type]
        client = f"{ms:.0f}" if ms >= 0 else "-"
        lines.append(
            f"| {r['program']} | {r['rounds']} | {r['requests']} | {r['plain_s']:.2f} "
            f"| {r['jit_first_s']:.2f} | {r['jit_warm_s']:.2f} | {r['efficiency']:.2f} "
            f"| {r['speedup']:.2f}x | {ok} | {client} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency", type=float, default=0.1, help="seconds per request (L)")
    parser.add_argument("--only", action="append", help="run only this program (repeatable)")
    parser.add_argument(
        "--repeat",
        type=int,
        default=3,
        help="warm calls timed per side (the fastest counts; only the first is compared)",
    )
    parser.add_argument(
        "--json",
        type=Path,
        default=Path(__file__).resolve().parent / "results.json",
        help="where to write the results",
    )
    args = parser.parse_args(argv)
    names = args.only or program_names()
    load_before = os.getloadavg()[0]
    rows = []
    with ServerProcess(args.latency) as server:
        for name in names:
            try:
                outcome = compare_program(name, server, repeat=args.repeat)
            except ModuleNotFoundError as missing:  # e.g. langchain-openai: the frameworks extra
                print(f"{name}: skipped, {missing} (pip install -e '.[frameworks]')",
                      file=sys.stderr)
                continue
            r = row(outcome, args.latency)
            rows.append(r)
            status = "ok" if outcome.equal and outcome.same_requests else "MISMATCH"
            print(
                f"{name}: {status}, efficiency {r['efficiency']:.2f}, speedup {r['speedup']:.2f}x",
                file=sys.stderr,
            )
            for mismatch in outcome.mismatches:
                print("   ", mismatch, file=sys.stderr)
    print(table(rows))
    print()
    line = summary(rows)
    print(line)
    load = (load_before, os.getloadavg()[0])
    print(f"(load average {load[0]:.1f} before, {load[1]:.1f} after, on {os.cpu_count()} CPUs)")
    report = {
        "latency": args.latency,
        "repeat": args.repeat,
        "load_average": load,
        "cpus": os.cpu_count(),
        "summary": line,
        "programs": rows,
    }
    args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0 if all(r["equal"] and r["same_requests"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
