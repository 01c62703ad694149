"""The parsed ``def`` of a function, at the lines and columns of its file, cheaply.

`inspect.getsource` finds a function's block by tokenizing everything after its first
line, and its result must then be dedented and re-numbered (`ast.increment_lineno`):
together a few milliseconds for a 50-line function, more than the rest of a small
compile. Here:

1. The block runs from the first line of its body (the first line after the
   decorators and the ``def`` line that an instruction came from, `co_lines`) over
   the lines that belong to it: blank lines, comments and lines indented deeper than
   the ``def``. A line that is not, inside a multi-line string or bracket, cuts the
   source short, and that never parses: step 3 catches it.
2. The lines are parsed in place: prefixed with blank lines so line numbers are the
   file's, and an indented ``def`` (a method, a nested function) under ``if 1:`` so
   its column offsets are the file's too (tracebacks point at the right columns).
3. If that does not parse (a trailing multi-line string at column 0, say), the slow
   and thorough `inspect.getblock` decides the block instead.
"""

from __future__ import annotations

import ast
import inspect
import linecache
import os
import re
import types
import warnings

from ._astlock import AST_LOCK
from ._freshness import stale_reason

__all__ = ["NoSource", "function_def"]

# The line a function's code starts at: its first decorator or its def.
_DEF_OR_DECORATOR = re.compile(r"\s*(@|(async\s+)?def\s)")


class NoSource(Exception):
    """The function's ``def`` cannot be found or parsed; the message says why."""


def function_def(fn: types.FunctionType, name: str | None = None,
                 ) -> ast.FunctionDef | ast.AsyncFunctionDef:
    """The ``def`` statement of `fn` (decorators included), positioned as in its file.

    `name`: the name the ``def`` must have; by default ``fn.__name__`` (which
    `functools.wraps` sets to the wrapped function's: pass ``fn.__code__.co_name``
    to accept the wrapper's own ``def``).
    """
    code = fn.__code__
    filename, first = code.co_filename, code.co_firstlineno
    if code.co_name == "<lambda>":
        raise NoSource("a lambda: only a function defined with a def statement is "
                       "rewritten")
    lines = linecache.getlines(filename, fn.__globals__)
    if not lines or first > len(lines):
        raise NoSource(f"no source available for {filename!r} (a REPL, exec or a "
                       "compiled-only module)")
    if not _DEF_OR_DECORATOR.match(lines[first - 1]):
        text = lines[first - 1].strip()
        raise NoSource(_not_its_source(filename, first, f"`{text}`" if text else "a blank line"))
    try:
        tree = _parse_at(lines, first, _block_end(lines, first, code))
    except SyntaxError:
        block = inspect.getblock(lines[first - 1:])
        try:
            tree = _parse_at(lines, first, first - 1 + len(block))
        except SyntaxError as exc:
            raise NoSource(f"its source does not parse on its own ({exc.msg})") from None
    node = tree.body[0] if tree.body else None
    if isinstance(node, ast.If):  # the `if 1:` wrapper of an indented def
        node = node.body[0]
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
        raise NoSource(_not_its_source(filename, first, "no def statement"))
    expected = fn.__name__ if name is None else name
    if node.name != expected:
        raise NoSource(_not_its_source(filename, first, f"the def of {node.name!r}")
                       if name is None and node.name != code.co_name else
                       f"its source defines {node.name!r}, not {expected!r}")
    stale = stale_reason(fn, node)  # the file changed after the import (_freshness)
    if stale is not None:
        raise NoSource(stale)
    return node


def _not_its_source(filename: str, line: int, found: str) -> str:
    """Why the file's text at the function's first line is not its ``def``."""
    if len(found) > 60:
        found = found[:56] + "...`"
    return (f"{os.path.basename(filename)}:{line} holds {found}, not this function's "
            "def: the function was compiled from other text than the file holds "
            "(exec() or compile() under this file name, or the file changed after it "
            "was imported)")


def _first_body_line(code: types.CodeType, first: int) -> int:
    """The first line after `first` an instruction came from (`first` if none)."""
    for _, _, line in code.co_lines():
        if line is not None and line > first:
            return line
    return first


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" \t"))


def _block_end(lines: list[str], first: int, code: types.CodeType) -> int:
    """The 1-based last line of the block: see the module docstring, step 1."""
    indent = _indent(lines[first - 1])
    end = _first_body_line(code, first)
    while end < len(lines):
        following = lines[end]
        stripped = following.strip()
        if stripped and not stripped.startswith("#") and _indent(following) <= indent:
            break
        end += 1
    return end


def _parse_at(lines: list[str], first: int, last: int) -> ast.Module:
    """Parse lines first..last (1-based) so the nodes carry the file's positions."""
    text = "".join(lines[first - 1:last])
    if not text.endswith("\n"):
        text += "\n"
    if lines[first - 1][:1] in (" ", "\t"):
        if first < 2:  # pragma: no cover - an indented first line does not compile
            raise SyntaxError("indented first line")
        return _parse("\n" * (first - 2) + "if 1:\n" + text)
    return _parse("\n" * (first - 1) + text)


def _parse(text: str) -> ast.Module:
    return parse_quietly(text)  # type: ignore[return-value]


def parse_quietly(text: str, mode: str = "exec") -> ast.Module | ast.Expression:
    """`ast.parse`, silent: the module was compiled once already, and what it warned
    of then (``"\\["``, an invalid escape) must not be raised again inside the user's
    call (under ``-W error`` it would fail the call)."""
    with AST_LOCK, warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)
        warnings.simplefilter("ignore", DeprecationWarning)
        return ast.parse(text, mode=mode)  # type: ignore[return-value]
