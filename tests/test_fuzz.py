"""Differential fuzzing: a jitted function behaves exactly like the plain function.

`fuzzgen.programs()` generates whole modules (see its docstring). Each one is written
to a real file (the jit reads the source with `inspect.getsource`) and imported; then
``f`` runs plain on every input, and jitted under each executor configuration (default
threads, ``executor="sequential"``, ``max_workers=1``) three rounds over all inputs
(the first call compiles; later calls may switch tiers: promotion, plain fallback).
The nested helper ``g`` is jitted with the same configuration whenever ``f`` is.

Every run must match the plain run: the return value (equal, same type, same repr),
or the exception (type and message); the ``log`` list (glue and callee side effects,
in order); the final ``shared`` dict (mutated by callees and glue); and the module
log that a callee appends to.

``WAVEJIT_FUZZ_EXAMPLES`` sets the number of examples (300 by default; ``make fuzz``
runs 5000). A failure prints the generated module, the inputs and the mismatch.
"""

from __future__ import annotations

import importlib.util
import itertools
import os
import sys
import tempfile
import types
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, event, find, given, note, settings

import wavejit

sys.path.insert(0, str(Path(__file__).parent))
from fuzzgen import Program, programs  # noqa: E402

EXAMPLES = int(os.environ.get("WAVEJIT_FUZZ_EXAMPLES", "300"))
ROUNDS = 5  # the first call compiles; measured tiers follow; tier 1 from the 4th
# Executor configurations, and every strategy (they must all give plain answers).
VARIANTS: list[dict[str, Any]] = [
    {},
    {"executor": "sequential", "strategy": "trace"},
    {"max_workers": 1, "strategy": "enhanced"},
    {"strategy": "structural"},
    {"strategy": "io_aware", "max_workers": 2},
]
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


def describe(value: Any) -> tuple[Any, ...]:
    return (type(value).__name__, repr(value))


def run_once(fn: Any, module: types.ModuleType, x: str, n: int) -> tuple[Any, ...]:
    """Everything observable about one call: its outcome and its side effects."""
    log: list[Any] = []
    shared: dict[str, Any] = dict(SHARED_INIT)
    module.GLOG.clear()
    try:
        value = fn(x, n, log, shared)
    except Exception as exc:  # noqa: BLE001 - compared with the plain run's
        outcome: tuple[Any, ...] = ("raised", type(exc).__name__, str(exc))
    else:
        outcome = ("returned", *describe(value))
        if value != value:  # pragma: no cover - generated values are never NaN
            outcome += ("unequal to itself",)
    return (outcome, repr(log), repr(shared), repr(list(module.GLOG)))


LABELS = ("outcome", "log", "shared", "GLOG")


def mismatch(program: Program, variant: dict[str, Any], rnd: int, x: str, n: int,
             expected: tuple[Any, ...], actual: tuple[Any, ...], explain: str) -> str:
    lines = [f"jit({variant}) differs from plain on f({x!r}, {n!r}, log, shared), "
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


def check_program(program: Program, directory: Path) -> None:
    module = load(program.source, directory)
    plain_f, plain_g = module.f, module.g_impl
    expected = {}
    for x, n in program.inputs:
        module.g = plain_g
        expected[x, n] = run_once(plain_f, module, x, n)
        event(f"plain outcome: {expected[x, n][0][0]}")
    for variant in VARIANTS:
        jf = wavejit.jit(plain_f, **variant)
        module.g = wavejit.jit(plain_g, **variant)
        try:
            for rnd in range(ROUNDS):
                for x, n in program.inputs:
                    actual = run_once(jf, module, x, n)
                    if actual != expected[x, n]:
                        raise Mismatch(mismatch(
                            program, variant, rnd, x, n, expected[x, n], actual,
                            str(jf.explain())), variant, expected[x, n], actual)
        finally:
            module.g = plain_g
        report = jf.explain()
        event(f"f status after {ROUNDS} rounds: {report.status}"
              + (" (fallback)" if report.fallback else ""))
        if report.fallback:
            note(f"jit fell back to plain: {report.reason}")


_first_failure: list[str] = []


@pytest.mark.timeout(600)  # hundreds of generated programs in one test
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(program=programs())
def test_jit_matches_plain(program: Program, module_dir: Path) -> None:
    note(f"inputs={program.inputs!r}\n{program.generated}")
    try:
        check_program(program, module_dir)
    except Mismatch as exc:
        if not _first_failure:  # shown even if shrinking is cut short by the timeout
            _first_failure.append(str(exc))
            print(f"first (unshrunk) mismatch found:\n{exc}", file=sys.stderr)
        raise


def test_generator_covers_the_catalogue() -> None:
    """The generator can produce each building block (a guard against it rotting)."""
    wanted = ["io_check(", "for t", ".append(", "try:", "except ", "finally:", "with Rec",
              "with Swallow", "g(", "io_store(shared", "io_note(log", "io_global(",
              "io_extend(", "json.", "return", " if ", " for c", "{c", ", v", "raise ",
              "while ", "lambda", "break", "shared[", "ms=", "io_div("]
    quick = settings(max_examples=3000, database=None, phases=[Phase.generate])
    for fragment in wanted:
        found = find(programs(),
                     lambda p, frag=fragment: frag in p.generated.split("g = g_impl")[1],
                     settings=quick)
        assert fragment in found.generated
