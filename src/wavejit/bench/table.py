"""The printed table: wall times, ratios against plain and the thread pool, efficiency.

Wall times are medians, with the min and max of the samples beside them; ratios and
efficiency are of the medians. `format_readme` renders the README's tables from the
same `BenchResult` (read back from the committed JSON by ``benchmarks/render_readme.py``).
"""

from __future__ import annotations

from .results import (
    ASYNCIO,
    DASK,
    JIT_FIRST,
    JIT_WARM,
    PEERS,
    PLAIN,
    THREADPOOL,
    BenchResult,
    ScenarioResult,
)

__all__ = ["format_table", "format_scenario", "format_markdown", "format_readme"]

_HEADER = (
    f"{'scenario':<16} {'peer':<14} {'wall ms':>9} {'min-max ms':>15} {'vs plain':>9} "
    f"{'vs pool':>8} {'efficiency':>10}"
)


def _ratio(value: float | None) -> str:
    return f"{value:.2f}x" if value is not None else "-"


def _range(result: ScenarioResult, peer: str) -> str:
    spread = result.spread(peer)
    if spread is None or len(result.samples[peer]) < 2:
        return "-"
    return f"{spread[0] * 1e3:.1f}-{spread[2] * 1e3:.1f}"


def _cells(result: ScenarioResult,
           peers: tuple[str, ...]) -> list[tuple[str, str, str, str, str, str]]:
    """(peer, wall ms, min-max ms, vs plain, vs pool, efficiency) for each peer that ran."""
    rows = []
    for peer in peers:
        wall = result.wall(peer)
        if wall is None:
            continue
        efficiency = result.efficiency(peer)
        rows.append((peer, f"{wall * 1e3:.1f}", _range(result, peer),
                     _ratio(result.speedup(peer)), _ratio(result.speedup(peer, THREADPOOL)),
                     f"{efficiency:.0%}" if efficiency is not None else "-"))
    return rows


def format_scenario(result: ScenarioResult, peers: tuple[str, ...] = PEERS) -> list[str]:
    lines = []
    name = result.name
    for peer, wall, spread, vs_plain, vs_pool, efficiency in _cells(result, peers):
        lines.append(f"{name:<16} {peer:<14} {wall:>9} {spread:>15} {vs_plain:>9} "
                     f"{vs_pool:>8} {efficiency:>10}")
        name = ""
    if result.ideal is not None:
        lines.append(f"{'':<16} {'ideal':<14} {result.ideal * 1e3:>9.1f}")
    if result.cold:
        cold = ", ".join(f"{peer} {wall * 1e3:.1f}" for peer, wall in result.cold.items())
        lines.append(f"{'':<16} first call in a fresh process (ms): {cold}")
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
        "wall: median of the timed calls (min-max beside it); vs plain / vs pool: speedup "
        "over plain sequential / the hand-written ThreadPoolExecutor; efficiency: ideal "
        "(critical path) / wall; 'wavejit first': its first call"
        + (" in a fresh process" if any(r.cold for r in bench.scenarios) else "")
    )
    return "\n".join(lines)


def format_markdown(bench: BenchResult, peers: tuple[str, ...] = PEERS) -> str:
    """The same table in Markdown, one row per scenario and peer."""
    rows = [
        "| scenario | peer | wall ms | min-max ms | vs plain | vs pool | efficiency |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for result in bench.scenarios:
        name = f"`{result.name}`"
        for cells in _cells(result, peers):
            rows.append(f"| {name} | " + " | ".join(cells) + " |")
            name = ""
        if result.ideal is not None:
            rows.append(f"| {name} | *ideal* | {result.ideal * 1e3:.1f} | | | | |")
    return "\n".join(rows)


_README_PEERS = ((PLAIN, "plain"), (THREADPOOL, "thread pool"), (ASYNCIO, "asyncio"),
                 (DASK, "dask"))


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1e3:.0f}" if seconds >= 0.0995 else f"{seconds * 1e3:.1f}"


def _over(numerator: float | None, denominator: float | None) -> str:
    if numerator is None or denominator is None or denominator <= 0:
        return "-"
    return f"{numerator / denominator:.2f}x"


def format_readme(bench: BenchResult) -> str:
    """The README's two scenario tables: warm calls (median and min-max) and first calls."""
    warm = [
        "| scenario | " + " | ".join(label for _, label in _README_PEERS)
        + " | wavejit | ideal | wavejit vs plain | wavejit vs pool |",
        "|---|" + "---:|" * (len(_README_PEERS) + 4),
    ]
    for r in bench.scenarios:
        cells = []
        for peer in (*(p for p, _ in _README_PEERS), JIT_WARM):
            spread = r.spread(peer)
            cells.append("-" if spread is None else
                         f"{_ms(spread[1])} ({_ms(spread[0])}-{_ms(spread[2])})")
        warm.append(f"| {r.name} | " + " | ".join(cells) + f" | {_ms(r.ideal)} | "
                    f"{_ratio(r.speedup(JIT_WARM))} | {_ratio(r.speedup(JIT_WARM, THREADPOOL))} |")
    first = [
        "| scenario | " + " | ".join(label for _, label in _README_PEERS)
        + " | wavejit | wavejit vs plain | wavejit vs pool |",
        "|---|" + "---:|" * (len(_README_PEERS) + 3),
    ]
    for r in bench.scenarios:
        if not r.cold:
            continue
        jit = r.cold.get(JIT_FIRST)
        cells = [_ms(r.cold.get(peer)) for peer, _ in _README_PEERS]
        first.append(f"| {r.name} | " + " | ".join(cells) + f" | {_ms(jit)} | "
                     f"{_over(r.cold.get(PLAIN), jit)} | {_over(r.cold.get(THREADPOOL), jit)} |")
    return "\n".join(warm) + ("\n\n" + "\n".join(first) if len(first) > 2 else "")
