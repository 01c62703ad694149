"""Differential fuzzing: a jitted function behaves exactly like the plain function.

`fuzzgen.programs()` generates whole modules (see its docstring). Each one is written
to a real file (the jit reads the source) and imported; then ``f`` runs plain on every
input, and jitted under two configurations, the default and one of `VARIANTS` (drawn
per program), `ROUNDS` rounds over all inputs (the first call compiles; later calls
may switch tiers: promotion, tier 1, plain). Whenever ``f`` is jitted, so are the
helpers ``g`` and ``rec`` (bound as globals) and the method ``Worker.step``, with the
same configuration; ``h`` (helper fan-out) stays a plain function.

Every run must match the plain run in: the outcome (the return value's type and
``repr``; or the exception's type, ``args``, and its whole ``__cause__`` /
``__context__`` chain); what was printed (when the plain run raised, the jitted run
may print more after what plain printed: a documented limit); the side-effect channel ``LOG`` (glue,
callees, context managers and global writes, in one order); the ``shared`` dict; the
global ``COUNTER``. A fallback to plain (`Unsupported`) fails: the generator only
produces what the jit documents as supported.

It also measures the jit's point, per program, over the default configuration's runs:
*deferred* (some invocation of ``f`` deferred at least 2 calls, from ``last_run``) and
*overlapped* (two I/O calls of one run were in flight at the same time, from the calls'
own start / end times). The shares are printed and must reach `MIN_DEFERRED_SHARE` and
`MIN_OVERLAP_SHARE`: a jit that ran every call in program order fails here.

``WAVEJIT_FUZZ_EXAMPLES`` sets the number of examples (`EXAMPLES` by default, sized
to stay under a minute, a fixed sequence; ``make fuzz`` runs 5000 new ones each time,
``WAVEJIT_FUZZ_EXPLORE=1``). A failure prints the generated
module, the inputs and the mismatch.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import io
import itertools
import os
import sys
import tempfile
import types
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, given, note, settings

import wavejit

sys.path.insert(0, str(Path(__file__).parent))
from fuzzgen import VARIANTS as N_VARIANTS  # noqa: E402
from fuzzgen import Program, programs  # noqa: E402

EXAMPLES = int(os.environ.get("WAVEJIT_FUZZ_EXAMPLES", "80"))
# `make test` runs a fixed sequence of programs (the same every run: a failure there is
# a regression, not luck); `make fuzz` explores new ones each time.
EXPLORE = os.environ.get("WAVEJIT_FUZZ_EXPLORE", "") not in ("", "0")
ROUNDS = 4  # the first call compiles; measured tiers follow; tier 1 from the 4th
# The extra configurations (one per program beside the default): every strategy must
# give plain answers, on any executor.
VARIANTS: list[dict[str, Any]] = [
    {"executor": "sequential", "strategy": "trace"},
    {"max_workers": 1, "strategy": "enhanced"},
    {"strategy": "structural"},
    {"strategy": "io_aware", "max_workers": 2},
    {"strategy": "trace"},
]
assert len(VARIANTS) == N_VARIANTS
MIN_DEFERRED_SHARE = 0.80
MIN_OVERLAP_SHARE = 0.50
SHARED_INIT = {"a": 1, "hi": "there"}

_counter = itertools.count()


@pytest.fixture(scope="module")
def module_dir() -> Iterator[Path]:
    with tempfile.TemporaryDirectory(prefix="wavejit_fuzz_") as d:
        yield Path(d)


def load(source: str, directory: Path) -> types.ModuleType:
    """Import `source` from a fresh file (a fresh name: no stale linecache entry)."""
    name = f"wj_fuzz_{os.getpid()}_{next(_counter)}"
    path = directory / f"{name}.py"
    path.write_text(source)
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def exception_chain(exc: BaseException | None, depth: int = 0) -> Any:
    """Type, ``args`` and the whole cause / context chain of `exc`, comparably."""
    if exc is None:
        return None
    if depth > 20:
        return "..."
    return (type(exc).__qualname__, repr(exc.args), exc.__suppress_context__,
            exception_chain(exc.__cause__, depth + 1),
            exception_chain(exc.__context__, depth + 1))


@dataclass
class Run:
    observed: tuple[Any, ...]  # compared with the plain run's
    spans: list[tuple[float, float]]  # start / end of each I/O call


LABELS = ("outcome", "stdout", "LOG", "shared", "COUNTER")


def run_once(fn: Callable[..., Any], module: types.ModuleType, is_async: bool, x: str,
             n: int) -> Run:
    """Everything observable about one call: its outcome and its side effects."""
    module.reset()
    shared: dict[str, Any] = dict(SHARED_INIT)
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        try:
            if is_async:
                value = asyncio.run(fn(x, n, module.LOG, shared))
            else:
                value = fn(x, n, module.LOG, shared)
        except Exception as exc:  # noqa: BLE001 - compared with the plain run's
            outcome: tuple[Any, ...] = ("raised", exception_chain(exc))
        else:
            outcome = ("returned", type(value).__name__, repr(value))
    observed = (outcome, out.getvalue(), repr(module.LOG), repr(shared), module.COUNTER)
    return Run(observed, list(module.SPAN.spans))


def same(expected: tuple[Any, ...], actual: tuple[Any, ...]) -> bool:
    """Equal, but for the documented limit on output: after a call that fails, output
    the plain function never reached may already have been written (print is not a
    commit point, docs/DESIGN.md), so a jitted run that raised may print more."""
    if expected[0][0] == "raised" and expected[0] == actual[0]:
        return (actual[1].startswith(expected[1])
                and expected[2:] == actual[2:])
    return expected == actual


def overlapped(spans: list[tuple[float, float]]) -> bool:
    """Were two calls in flight at once (one started before another had ended)?"""
    latest_end = float("-inf")
    for start, end in sorted(spans):
        if start < latest_end:
            return True
        latest_end = max(latest_end, end)
    return False


def mismatch(program: Program, variant: dict[str, Any], rnd: int, x: str, n: int,
             expected: tuple[Any, ...], actual: tuple[Any, ...], explain: str) -> str:
    lines = [f"jit({variant}) differs from plain on f({x!r}, {n!r}, LOG, shared), "
             f"round {rnd + 1} of {ROUNDS}:"]
    for label, e, a in zip(LABELS, expected, actual, strict=True):
        marker = "  " if e == a else "!!"
        lines.append(f"{marker} {label}: plain={e!r}")
        if e != a:
            lines.append(f"{marker} {' ' * len(label)}    jit  ={a!r}")
    lines += ["", explain, "", "--- generated module (after fuzzgen.PRELUDE) ---",
              program.generated]
    return "\n".join(lines)


class Mismatch(AssertionError):
    """A jitted run differs from the plain run (the details are in the attributes)."""

    def __init__(self, message: str, variant: dict[str, Any], expected: tuple[Any, ...],
                 actual: tuple[Any, ...]) -> None:
        super().__init__(message)
        self.variant, self.expected, self.actual = variant, expected, actual


@dataclass
class Measure:
    """What the default configuration did with one program."""

    deferred: int = 0  # the most calls one invocation of f deferred
    overlapped: bool = False


@contextlib.contextmanager
def bound(module: types.ModuleType, variant: dict[str, Any] | None,
          jitted: list[wavejit.JitFunction[..., Any]]) -> Iterator[None]:
    """Bind the helpers ``g``, ``rec`` and ``Worker.step``: plain, or jitted by `variant`."""
    plain_step = module.Worker.__dict__["step"]
    if variant is not None:
        helpers = [wavejit.jit(module.g_impl, **variant), wavejit.jit(module.rec_impl,
                                                                      **variant),
                   wavejit.jit(plain_step, **variant)]
        jitted += helpers
        # (vars(): a module's attributes are set through its dict, which mypy can check)
        vars(module).update(g=helpers[0], rec=helpers[1])
        module.Worker.step = helpers[2]
    try:
        yield
    finally:
        vars(module).update(g=module.g_impl, rec=module.rec_impl)
        module.Worker.step = plain_step


def check_program(program: Program, directory: Path) -> Measure:
    """Compare every jitted run with the plain one; measure the default configuration."""
    module = load(program.source, directory)
    plain_f = module.f
    expected = {}
    with bound(module, None, []):
        for x, n in program.inputs:
            expected[x, n] = run_once(plain_f, module, program.is_async, x, n).observed
            event(f"plain outcome: {expected[x, n][0][0]}")
    measure = Measure()
    for variant in ({}, VARIANTS[program.variant]):
        jitted: list[wavejit.JitFunction[..., Any]] = []
        jf = wavejit.jit(plain_f, **variant)
        with bound(module, variant, jitted):
            for rnd in range(ROUNDS):
                for x, n in program.inputs:
                    run = run_once(jf, module, program.is_async, x, n)
                    if not same(expected[x, n], run.observed):
                        raise Mismatch(mismatch(
                            program, variant, rnd, x, n, expected[x, n], run.observed,
                            str(jf.explain())), variant, expected[x, n], run.observed)
                    if not variant:
                        record = jf.last_run
                        measure.deferred = max(measure.deferred,
                                               len(record.calls) if record else 0)
                        measure.overlapped |= overlapped(run.spans)
        for fn in (jf, *jitted):
            report = fn.explain()
            assert not report.fallback, (
                f"jit({variant}) fell back to plain on {report.function}, which the "
                f"generator promises is supported: {report.reason}\n{program.generated}")
        event(f"f status after {ROUNDS} rounds: {jf.explain().status}")
    return measure


_first_failure: list[str] = []


@pytest.mark.concurrency
@pytest.mark.timeout(max(900, 3 * EXAMPLES))  # many generated programs in one test
def test_jit_matches_plain(module_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    measures: list[tuple[bool, Measure]] = []

    @settings(max_examples=EXAMPLES, deadline=None, database=None, derandomize=not EXPLORE,
              # Shrinking these programs takes minutes: only when exploring.
              phases=[Phase.generate, Phase.shrink] if EXPLORE else [Phase.generate],
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(program=programs())
    def check(program: Program) -> None:
        note(f"inputs={program.inputs!r}\n{program.generated}")
        try:
            measure = check_program(program, module_dir)
        except Mismatch as exc:
            if not _first_failure:  # shown even if shrinking is cut short by the timeout
                _first_failure.append(str(exc))
                print(f"first (unshrunk) mismatch found:\n{exc}", file=sys.stderr)
            raise
        measures.append((program.is_async, measure))

    check()
    total = len(measures)
    deferred = sum(m.deferred >= 2 for _, m in measures) / total
    overlap = sum(m.overlapped for _, m in measures) / total
    by_kind = {kind: [m for a, m in measures if a == is_async]
               for kind, is_async in (("sync", False), ("async", True))}
    with capsys.disabled():  # in `make test`'s output, not only in a failure's report
        print(f"\nfuzz: {total} programs; deferred >= 2 calls: {deferred:.0%}; "
              f"overlapped: {overlap:.0%}; " + "; ".join(
                  f"{kind} {len(ms)}: deferred {sum(m.deferred >= 2 for m in ms)}, "
                  f"overlapped {sum(m.overlapped for m in ms)}" for kind, ms in by_kind.items()))
    assert deferred >= MIN_DEFERRED_SHARE, f"only {deferred:.0%} deferred >= 2 calls"
    assert overlap >= MIN_OVERLAP_SHARE, f"only {overlap:.0%} overlapped"


def test_generator_covers_the_catalogue() -> None:
    """The generator produces each building block (a guard against it rotting)."""
    wanted = ["io_check(", "for t", ".append(", "try:", "except ", "finally:", "with Rec",
              "with Swallow", " as r", "g(", "io_store(shared", "io_note(log", "io_global(",
              "io_extend(", "json.", "return", " if ", " for c", "{c", "raise ",
              "while ", "lambda", "break", "shared[", "ms=", "io_div(", "print(",
              ".text", "w.step(", "w.hits", "nonlocal cnt", "COUNTER +=", "rec(", "h(",
              "*[", "**{", ", *v", ".insert(0", ".pop()", "del ", "[:1] =", "else:",
              ") from e", "raise KeyError('in handler'", "async def f", "await aio_",
              "w.name =", "[-1] =", "io_parse("]
    seen: list[str] = []

    @settings(max_examples=1500, database=None, phases=[Phase.generate], derandomize=True)
    @given(program=programs())
    def collect(program: Program) -> None:
        seen.append(program.generated.split("class Worker")[1])

    collect()
    missing = [fragment for fragment in wanted if not any(fragment in s for s in seen)]
    assert not missing, f"never generated in {len(seen)} programs: {missing}"
