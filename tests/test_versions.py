"""Fallbacks for what older CPythons lack, tested on every version (`make test-all`).

3.10 has no ``co_positions``: a lambda's source is found by its first line and its
parameters (`_hints._lambda_on_its_line`), so ``df.apply(lambda row: llm(row))`` is
scanned and issued ahead there too (tests/test_loops.py checks the overlap itself).
"""

from __future__ import annotations

import ast

from wavejit._hints import _lambda_on_its_line


def _body(fn: object) -> str | None:
    body = _lambda_on_its_line(fn.__code__)  # type: ignore[attr-defined]
    return None if body is None else ast.unparse(body)


def test_a_lambda_is_found_by_its_line_and_parameters() -> None:
    one = lambda row: row["text"].upper()  # noqa: E731
    pair = (lambda a: a + 1, lambda b, *, c: b * c)
    assert _body(one) == "row['text'].upper()"
    assert _body(pair[0]) == "a + 1"
    assert _body(pair[1]) == "b * c"


def test_two_lambdas_alike_on_one_line_are_not_guessed() -> None:
    twins = (lambda x: x + 1, lambda x: x - 1)
    assert _body(twins[0]) is None and _body(twins[1]) is None
