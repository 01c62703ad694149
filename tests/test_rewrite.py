"""The compile pipeline's shortcuts against their slow, obvious versions.

* `wavejit._source.function_def` (positions from the code object, parse in place)
  against `inspect.getsource` + dedent: the same ``def``, at the file's lines, and at
  the file's columns.
* The rewrite's one-pass shortcut against the exhaustive fixpoint (passes until the
  may-pend sets stop growing): the same output, on every function of the test files
  that exercise the jit and on the fuzzer's programs; and every node of that output
  positioned (`compile` needs it, and the rewrite skips `ast.fix_missing_locations`).
"""

from __future__ import annotations

import ast
import inspect
import sys
import textwrap
import time
import types
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar, cast

import pytest
from hypothesis import HealthCheck, given, settings

import wavejit
from wavejit._rewrite import Unsupported, rewrite
from wavejit._source import NoSource, function_def

TESTS = Path(__file__).parent
sys.path.insert(0, str(TESTS))
from fuzzgen import Program, programs  # noqa: E402

_F = TypeVar("_F", bound=Callable[..., object])


def as_function(fn: object) -> types.FunctionType:
    """`fn` as the FunctionType `function_def` takes (a def is one; mypy sees a Callable)."""
    assert isinstance(fn, types.FunctionType), fn
    return fn


# -- function_def -------------------------------------------------------------------------

def plain_def() -> int:
    return 1


def decorated(fn: _F) -> _F:
    return fn


@decorated
@decorated
def with_decorators(a: int,
                    b: int = 2) -> int:
    total = (a +
             b)
    return total


def ends_in_pass(x: int) -> int:
    if x:
        return x
    else:
        pass
    # a comment that belongs to no statement

    return 0  # after a blank line


def ends_in_a_string_at_column_zero() -> None:
    """A docstring."""
    """
a bare string statement, compiled to nothing, whose lines start at column 0
"""


class Owner:
    def method(self, x: int) -> int:
        def nested(y: int) -> int:
            return y + 1
        return nested(x)

    def next_method(self) -> None:
        pass


def one_liner(x: int) -> int: return x * 2  # noqa: E704


SOURCE_CASES = [plain_def, with_decorators, ends_in_pass, ends_in_a_string_at_column_zero,
                Owner.method, Owner.next_method, one_liner]


@pytest.mark.parametrize("fn", SOURCE_CASES, ids=lambda f: f.__qualname__)
def test_function_def_is_the_block_inspect_finds(fn: Callable[..., object]) -> None:
    expected = ast.parse(textwrap.dedent(inspect.getsource(fn))).body[0]
    node = function_def(as_function(fn))
    assert ast.dump(node) == ast.dump(expected)  # positions are not compared by dump
    lines, first = inspect.getsourcelines(fn)
    def_line = first + next(i for i, line in enumerate(lines)
                            if line.lstrip().startswith("def "))
    assert node.lineno == def_line  # the file's line numbers, decorators before it
    assert node.end_lineno == first + len(lines) - 1


def test_function_def_keeps_the_files_columns() -> None:
    node = function_def(as_function(Owner.method))
    source_line = inspect.getsourcelines(Owner.method)[0][0]
    assert node.col_offset == len(source_line) - len(source_line.lstrip())
    inner = node.body[0]
    assert isinstance(inner, ast.FunctionDef) and inner.col_offset == node.col_offset + 4


def test_function_def_of_a_nested_function() -> None:
    def outer() -> Callable[[int], int]:
        def inner(v: int) -> int:
            return v
        return inner

    node = function_def(as_function(outer()))
    assert node.name == "inner" and len(node.body) == 1


def test_function_def_without_source_says_why() -> None:
    namespace: dict[str, object] = {}
    exec("def typed_in_a_repl():\n    return 1\n", namespace)
    with pytest.raises(NoSource, match="no source"):
        function_def(as_function(namespace["typed_in_a_repl"]))
    square = lambda v: v * v  # noqa: E731
    with pytest.raises(NoSource, match="lambda"):
        function_def(as_function(square))


# -- one pass against the fixpoint -------------------------------------------------------

def _defs_with_code(path: Path) -> Iterator[tuple[ast.FunctionDef | ast.AsyncFunctionDef,
                                                  types.CodeType]]:
    """Every def of the file, with the code object compiled from it."""
    source = path.read_text()
    by_position: dict[tuple[str, int], ast.FunctionDef | ast.AsyncFunctionDef] = {}
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            first = min([node.lineno, *(d.lineno for d in node.decorator_list)])
            by_position[(node.name, first)] = node

    def codes(code: types.CodeType) -> Iterator[types.CodeType]:
        for const in code.co_consts:
            if isinstance(const, types.CodeType):
                yield const
                yield from codes(const)

    for code in codes(compile(source, str(path), "exec")):
        found = by_position.get((code.co_name, code.co_firstlineno))
        if found is not None:
            yield found, code


def _unpositioned(tree: ast.AST) -> list[str]:
    return [ast.dump(n)[:80] for n in ast.walk(tree)
            if "lineno" in n._attributes and getattr(n, "lineno", None) is None]


def _rewrite_both_ways(node: ast.FunctionDef | ast.AsyncFunctionDef,
                       code: types.CodeType) -> None:
    local_names = set(code.co_varnames) | set(code.co_cellvars)
    outcomes: list[tuple[object, ...]] = []
    for exhaustive in (False, True):
        try:
            result = rewrite(node, local_names, set(code.co_freevars), code.co_firstlineno,
                             exhaustive=exhaustive)
        except Unsupported as exc:
            outcomes.append(("unsupported", str(exc)))
        else:
            # compile() needs every node positioned; the rewrite positions what it
            # makes (no fix_missing_locations walk), and this checks it did.
            assert _unpositioned(result.tree) == [], node.name
            outcomes.append((ast.dump(result.tree), sorted(result.may_pend),
                             sorted(result.guarded_names), len(result.sites)))
    assert outcomes[0] == outcomes[1], node.name


JIT_TEST_FILES = ["test_jit_patterns.py", "test_jit_contract.py", "test_jit_regressions.py",
                  "test_jit_async.py", "test_operators.py", "test_tiers.py"]


@pytest.mark.parametrize("filename", JIT_TEST_FILES)
def test_one_pass_equals_the_fixpoint_on_the_test_suites_functions(filename: str) -> None:
    checked = 0
    for node, code in _defs_with_code(TESTS / filename):
        _rewrite_both_ways(node, code)
        checked += 1
    assert checked >= 5  # the walk found the file's functions


@settings(max_examples=100, deadline=None, suppress_health_check=list(HealthCheck))
@given(programs())
def test_one_pass_equals_the_fixpoint_on_fuzzed_programs(program: Program) -> None:
    path = TESTS / "_fuzz_rewrite_program.py"  # never imported; compiled from text
    source = program.source
    defs = {}
    for node in ast.parse(source).body:
        if isinstance(node, ast.FunctionDef):
            defs[(node.name, node.lineno)] = node
    module_code = compile(source, str(path), "exec")
    for const in module_code.co_consts:
        if isinstance(const, types.CodeType) and (const.co_name, const.co_firstlineno) in defs:
            _rewrite_both_ways(defs[(const.co_name, const.co_firstlineno)], const)


def _two_calls(x: int) -> list[int]:
    return [abs(x), abs(-x)]


def test_the_collector_is_paused_during_a_compile_and_restored_after(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import gc
    import threading

    from wavejit import _astlock, _compile

    fn = cast(types.FunctionType, _two_calls)
    seen: list[bool] = []
    real = _compile._compile_function

    def spy(*args: Any) -> Any:
        seen.append(gc.isenabled())
        return real(*args)

    monkeypatch.setattr(_compile, "_compile_function", spy)
    assert gc.isenabled()
    _compile.compile_function(fn, lambda: None)
    assert seen == [False] and gc.isenabled()  # off inside, on again after
    gc.disable()  # a program that runs with the collector off keeps it off
    try:
        _compile.compile_function(fn, lambda: None)
        assert not gc.isenabled()
    finally:
        gc.enable()
    # Compiles on several threads at once: on again once the last has ended.
    barrier = threading.Barrier(4)

    def compile_in_step() -> None:
        barrier.wait()
        _compile.compile_function(fn, lambda: None)

    threads = [threading.Thread(target=compile_in_step) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert gc.isenabled() and _astlock._gc_pausers == 0


@pytest.mark.parametrize("racy", [True, False], ids=["3.11.0-3.11.7,3.12.0-3.12.1", "other"])
def test_the_ast_guard_pauses_the_collector_only_where_conversions_race(
        monkeypatch: pytest.MonkeyPatch, racy: bool) -> None:
    # On the CPython versions with gh-106905, a garbage collection inside a parse can
    # switch threads half-way through its conversion; the guard pauses the collector
    # (nested entries, on several threads, resume it once). Elsewhere it only locks.
    import gc

    from wavejit import _astlock

    monkeypatch.setattr(_astlock, "_RACY", racy)
    assert gc.isenabled()
    with _astlock.AST_LOCK:
        assert gc.isenabled() is not racy
        with _astlock.AST_LOCK:  # reentrant
            assert gc.isenabled() is not racy
            tree = ast.parse("x = [1, (2, {3: f'{4}'})]")
        assert gc.isenabled() is not racy
    assert gc.isenabled() and _astlock._gc_pausers == 0
    assert compile(tree, "<guard>", "exec") is not None


# -- compact glue: an operator's own function, a method call decided at run time ------


@wavejit.io
def padded(s: str) -> str:
    time.sleep(0.05)
    return f" {s} "


def glue_forms(xs: list[str], suffix: str) -> list[Any]:
    out: list[Any] = []
    for x in xs:
        r = padded(x)
        out.append(r + suffix)  # `later(op_Add, r, suffix)`
        out.append(r.strip())  # `method_call(i, r, "strip")`
        out.append(r.replace(" ", suffix))  # with a constant and a name
    return out


def glue_that_fails(x: str) -> Any:
    r: Any = padded(x)
    return [r * "no", r.strip(1)]  # TypeError from the operator, then from the method


def test_compact_glue_forms_give_the_plain_answer_and_errors() -> None:
    """Glue over a pending result compiles to ``later(_wj_inv.op_Add, r, s)`` and
    ``method_call(i, r, "strip")`` rather than a lambda apiece (a code object each:
    compile time). Results, and the TypeErrors the operator and the method raise,
    match plain Python's, whether the value had arrived or not."""
    code = glue_forms.__code__
    result = rewrite(function_def(cast(types.FunctionType, glue_forms)),
                     set(code.co_varnames), set(), code.co_firstlineno)
    text = ast.unparse(result.tree)
    assert "op_Add" in text and "method_call(" in text and "lambda" not in text
    jitted = wavejit.jit(glue_forms)
    for _ in range(3):  # first call, measured, compiled with the callee known
        assert jitted(["a", "b"], "!") == glue_forms(["a", "b"], "!")
    assert jitted.last_run is not None and len(jitted.last_run.calls) >= 2
    with pytest.raises(TypeError) as plain:
        glue_that_fails("a")
    failing = wavejit.jit(glue_that_fails)
    for _ in range(3):
        with pytest.raises(TypeError) as jit_error:
            failing("a")
        assert jit_error.value.args == plain.value.args
