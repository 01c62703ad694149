"""The Markdown report and its plots (matplotlib, Agg canvas, no pyplot state).

Three pictures: the speedup over plain of every peer per scenario, the fan-out scaling
curve (wall time against the number of concurrent calls), and a timeline of one warm
jitted run (from ``fn.last_run`` when the JIT records one, else from the server's own
record of request start and end times).
"""

from __future__ import annotations

import json
from pathlib import Path

from matplotlib.figure import Figure

from .results import JIT_WARM, PEERS, PLAIN, BenchResult, ScenarioResult
from .table import format_markdown

__all__ = ["write_report", "plot_speedups", "plot_fan_out", "plot_timeline", "timeline_scenario"]

_COLORS = {
    "threadpool": "#4c72b0",
    "asyncio": "#55a868",
    "dask": "#c44e52",
    "wavejit first": "#f0b27a",
    "wavejit warm": "#dd8452",
    "plain": "#8c8c8c",
    "ideal": "#222222",
}


def plot_speedups(bench: BenchResult, path: Path) -> Path:
    scenarios = bench.scenarios
    peers = [p for p in PEERS if p != PLAIN]
    fig = Figure(figsize=(10, 0.6 * len(scenarios) * len(peers) / 3 + 2))
    ax = fig.add_subplot()
    height = 0.8 / (len(peers) + 1)
    for i, peer in enumerate(peers):
        ys = [k + i * height for k in range(len(scenarios))]
        xs = [s.speedup(peer) or 0.0 for s in scenarios]
        ax.barh(ys, xs, height=height, label=peer, color=_COLORS[peer])
    ideal_x = [(s.wall(PLAIN) or 0.0) / s.ideal if s.ideal else 0.0 for s in scenarios]
    ideal_y = [k + len(peers) * height for k in range(len(scenarios))]
    ax.barh(ideal_y, ideal_x, height=height, label="ideal", color=_COLORS["ideal"], alpha=0.3)
    ax.set_yticks([k + 0.4 for k in range(len(scenarios))], [s.name for s in scenarios])
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=0.8)
    ax.set_xscale("log")
    ax.set_xlabel("speedup over plain sequential (log scale; >1 is faster)")
    ax.legend(loc="lower right", fontsize="small")
    ax.set_title("wavejit benchmarks: speedup per scenario")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def plot_fan_out(bench: BenchResult, path: Path) -> Path | None:
    runs = sorted((s for s in bench.scenarios if s.fan_out), key=lambda s: s.fan_out or 0)
    if not runs:
        return None
    fig = Figure(figsize=(7, 4.5))
    ax = fig.add_subplot()
    sizes = [s.fan_out or 0 for s in runs]
    for peer in PEERS:
        walls = [s.wall(peer) for s in runs]
        if all(w is not None for w in walls):
            ax.plot(
                sizes,
                [(w or 0.0) * 1e3 for w in walls],
                marker="o",
                label=peer,
                color=_COLORS[peer],
            )
    ax.plot(
        sizes,
        [(s.ideal or 0.0) * 1e3 for s in runs],
        linestyle="--",
        label="ideal",
        color=_COLORS["ideal"],
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("concurrent calls")
    ax.set_ylabel("wall time (ms, log scale)")
    ax.set_title("fan-out scaling")
    ax.legend(fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def timeline_scenario(bench: BenchResult, preferred: str = "llm_ensemble") -> ScenarioResult | None:
    """The scenario whose jitted run to draw: ``preferred`` if it has a timeline."""
    drawable = [s for s in bench.scenarios if s.timeline or s.server_timeline]
    for scenario in drawable:
        if scenario.name == preferred:
            return scenario
    return drawable[0] if drawable else None


def plot_timeline(result: ScenarioResult, path: Path) -> Path:
    """Gantt lanes: the JIT's deferred calls (if recorded) above the server's requests."""
    lanes = [
        (f"deferred calls (fn.last_run of {result.name})", result.timeline, _COLORS[JIT_WARM]),
        ("requests as the server saw them", result.server_timeline, _COLORS["threadpool"]),
    ]
    lanes = [lane for lane in lanes if lane[1]]
    rows = [len(spans) for _, spans, _ in lanes]
    fig = Figure(figsize=(10, 0.28 * sum(rows) + 1.4 * len(lanes) + 0.4))
    axes = fig.subplots(
        len(lanes),
        1,
        sharex=True,
        squeeze=False,
        gridspec_kw={"height_ratios": [max(r, 1) for r in rows]},
    )
    wall = result.wall(JIT_WARM)
    for ax, (title, spans, color) in zip(axes[:, 0], lanes, strict=True):
        ordered = sorted(spans, key=lambda s: (s.start, s.name))
        for row, span in enumerate(ordered):
            ax.barh(
                row, (span.end - span.start) * 1e3, left=span.start * 1e3, height=0.7, color=color
            )
        labels = [s.name if len(s.name) <= 48 else s.name[:45] + "..." for s in ordered]
        ax.set_yticks(range(len(ordered)), labels, fontsize="x-small")
        ax.invert_yaxis()
        if wall is not None:
            ax.axvline(wall * 1e3, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(title, fontsize="small")
    axes[-1, 0].set_xlabel("ms since the call started (dashed: median warm wall time)")
    fig.suptitle(f"{result.name}: one warm jitted run")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    return path


def write_report(bench: BenchResult, directory: Path) -> Path:
    """Write ``report.md``, ``results.json`` and the PNGs into ``directory``."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "results.json").write_text(json.dumps(bench.to_dict(), indent=2) + "\n")
    parts = [
        "# wavejit benchmark report",
        "",
        "All peers ran side by side in one process against the embedded server (in a "
        "process of its own), and every peer's result was checked equal to plain "
        "sequential's. Wall times are medians (min-max beside them). *vs plain* and *vs pool* "
        "are speedups over plain sequential and over the hand-written ThreadPoolExecutor; "
        "*efficiency* is ideal / wall, where ideal is the critical path of the latencies "
        "the server applied.",
        "",
    ]
    if not bench.jit_available:
        parts += [
            "**wavejit.jit was not available: the wavejit rows time the plain function.**",
            "",
        ]
    parts += [format_markdown(bench), ""]
    parts += [
        "## Speedup per scenario",
        "",
        f"![speedup]({plot_speedups(bench, directory / 'speedup.png').name})",
        "",
    ]
    fan = plot_fan_out(bench, directory / "fan_out.png")
    if fan is not None:
        parts += ["## Fan-out scaling", "", f"![fan-out]({fan.name})", ""]
    chosen = timeline_scenario(bench)
    if chosen is not None:
        picture = plot_timeline(chosen, directory / "timeline.png")
        parts += [
            f"## Timeline of one warm jitted run: `{chosen.name}`",
            "",
            "Top: the JIT's record of its deferred calls (`fn.last_run`), when it keeps "
            "one; bottom: the requests as the embedded server saw them (arrival to reply).",
            "",
            f"![timeline]({picture.name})",
            "",
        ]
    parts += [
        "## Reading the numbers",
        "",
        "- The server runs in its own process, so its Python work per request does not "
        "compete with the clients' for one GIL; the clients' own work per request (the "
        "HTTP client, JSON) still adds up at fan-out 100 and 1000.",
        "- The asyncio peer uses `httpx.AsyncClient` / `openai.AsyncOpenAI`; httpx's async "
        "pool is known to slow down with many concurrent connections (encode/httpx#3215).",
        "- *wavejit first* is a freshly decorated function's first call (in a fresh "
        "process when measured so, like every peer's first call listed under it): it "
        "includes compiling and profiling. *wavejit warm* is the median of later calls.",
        "- Every peer keeps its clients, event loop and thread pool for the whole run, "
        "created before any timed call, and had one untimed warm-up call.",
        "- Peers were timed in rounds, the order rotated each round; every sample is in "
        "`results.json`. On a shared or busy machine, differences of a few percent "
        "(e.g. `cpu_only`) are within the noise.",
        "",
    ]
    notes = [f"- `{s.name}`: {note}" for s in bench.scenarios for note in s.notes]
    if notes:
        parts += ["## Notes", "", *notes, ""]
    parts += ["## Settings", "", "```json", json.dumps(bench.settings, indent=2), "```", ""]
    report = directory / "report.md"
    report.write_text("\n".join(parts))
    return report
