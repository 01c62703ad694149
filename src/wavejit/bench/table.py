"""The printed table: wall times, ratios against plain and the thread pool, efficiency."""

from __future__ import annotations

from .results import PEERS, THREADPOOL, BenchResult, ScenarioResult

__all__ = ["format_table", "format_scenario", "format_markdown"]

_HEADER = (
    f"{'scenario':<16} {'peer':<14} {'wall ms':>9} {'vs plain':>9} {'vs pool':>8} "
    f"{'efficiency':>10}"
)


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def _cells(result: ScenarioResult,
           peers: tuple[str, ...]) -> list[tuple[str, str, str, str, str]]:
    """(peer, wall ms, vs plain, vs pool, efficiency) for each peer that ran."""
    rows = []
    for peer in peers:
        wall = result.wall(peer)
        if wall is None:
            continue
        efficiency = result.efficiency(peer)
        rows.append((peer, f"{wall * 1e3:.1f}", _ratio(result.speedup(peer)),
                     _ratio(result.speedup(peer, THREADPOOL)),
                     f"{efficiency:.0%}" if efficiency is not None else "-"))
    return rows


def format_scenario(result: ScenarioResult, peers: tuple[str, ...] = PEERS) -> list[str]:
    lines = []
    name = result.name
    for peer, wall, vs_plain, vs_pool, efficiency in _cells(result, peers):
        lines.append(f"{name:<16} {peer:<14} {wall:>9} {vs_plain:>9} {vs_pool:>8} "
                     f"{efficiency:>10}")
        name = ""
    if result.ideal is not None:
        lines.append(f"{'':<16} {'ideal':<14} {result.ideal * 1e3:>9.1f}")
    for note in result.notes:
        lines.append(f"{'':<16} note: {note}")
    return lines


def format_table(bench: BenchResult, peers: tuple[str, ...] = PEERS) -> str:
    """The whole table; "vs" columns are speedups (>1.00x: faster than that peer)."""
    lines = [_HEADER, "-" * len(_HEADER)]
    for result in bench.scenarios:
        lines.extend(format_scenario(result, peers))
        lines.append("")
    if not bench.jit_available:
        lines.append("warning: wavejit.jit not available: 'wavejit' rows are the plain function")
    lines.append(
        "vs plain / vs pool: speedup over plain sequential / the hand-written "
        "ThreadPoolExecutor; efficiency: ideal (critical path) / wall"
    )
    return "\n".join(lines)


def format_markdown(bench: BenchResult, peers: tuple[str, ...] = PEERS) -> str:
    """The same table in Markdown, one row per scenario and peer."""
    rows = [
        "| scenario | peer | wall ms | vs plain | vs pool | efficiency |",
        "|---|---|---:|---:|---:|---:|",
    ]
    for result in bench.scenarios:
        name = f"`{result.name}`"
        for cells in _cells(result, peers):
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
            name = ""
        if result.ideal is not None:
            rows.append(f"| {name} | *ideal* | {result.ideal * 1e3:.1f} | | | |")
    return "\n".join(rows)
