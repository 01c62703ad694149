"""Reading a module's source again (to rewrite a function of it) must not raise the
warnings its import raised: FastChat's judge has regexes written as ``"\\["`` (invalid
escape sequences); the jitted call raised them again, where plain raised none."""

from __future__ import annotations

import importlib.util
import sys
import warnings
from pathlib import Path

import wavejit

SOURCE = r"""
import time

PATTERN = "\[\[rating\]\]"  # invalid escape sequences, as in FastChat


def fetch(x):
    time.sleep(0.001)
    return x


def main(xs):
    return [fetch(x) for x in xs], PATTERN
"""


def test_a_module_with_invalid_escapes_is_rewritten_without_warnings(tmp_path: Path) -> None:
    path = tmp_path / "judge_module.py"
    path.write_text(SOURCE)
    assert '"\\[\\[rating' in path.read_text()  # a backslash before [
    spec = importlib.util.spec_from_file_location("judge_module", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the import's own warning, as a user saw it once
        spec.loader.exec_module(module)
    sys.modules["judge_module"] = module
    try:
        jitted = wavejit.jit(module.main)
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for _ in range(2):
                assert jitted([1, 2]) == module.main([1, 2])
        assert [str(w.message) for w in caught] == []
    finally:
        del sys.modules["judge_module"]
