"""Every program in examples/ runs against ``python -m wavejit serve`` (a subprocess on
loopback) and gives the plain program's answer; the README's example is
examples/ensemble.py, character for character.

Overlap margins: with 0.05 s latency each chat completion takes 60-90 ms. The ensemble
runs 3 calls at once and then the judge, so the calls' summed time over the wall time
is about 2 (1 at best when they run one after another); the debate, 3 + 3 + 1 calls,
about 2.3. The Graph example's 10 calls in 4 waves take about 0.4 of the sequential
scheduler's time. The bounds below (1.3 and 0.75) leave room for a loaded machine
and fail if the calls ran one after another.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "examples"


def readme_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    match = re.search(r"```python\n(.*?)```", readme, re.S)
    assert match is not None, "the README has no python code block"
    return match.group(1)


def test_the_readme_example_is_examples_ensemble() -> None:
    assert (EXAMPLES / "ensemble.py").read_text(encoding="utf-8") == readme_example()


def start_server(*args: str) -> tuple[subprocess.Popen[str], dict[str, str], str]:
    """``python -m wavejit serve ARGS``: the process, the variables it says to export,
    and what it printed up to and including "Ctrl-C stops it."."""
    process = subprocess.Popen([sys.executable, "-m", "wavejit", "serve", *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout is not None
    printed = []
    exports: dict[str, str] = {}
    for line in process.stdout:  # prints within a second or two; fails if it exits
        printed.append(line)
        found = re.fullmatch(r"export (\w+)=(\S+)\n", line)
        if found:
            exports[found[1]] = found[2]
        if line.startswith("Ctrl-C stops it."):
            break
    else:
        out, err = process.communicate()
        raise AssertionError(f"serve exited: {''.join(printed)}{out} {err}")
    return process, exports, "".join(printed)


def stop_server(process: subprocess.Popen[str]) -> str:
    """Ctrl-C, as a user would; what it printed after."""
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    return out


@pytest.fixture(scope="module")
def served() -> Iterator[dict[str, str]]:
    process, exports, _ = start_server("--port", "0", "--latency", "0.05")
    assert set(exports) == {"OPENAI_BASE_URL", "OPENAI_API_KEY"}
    env = {k: v for k, v in os.environ.items() if k != "WAVEJIT_DISABLE"}
    env.update(exports)
    try:
        yield env
    finally:
        assert re.fullmatch(r"served \d+ requests\n", stop_server(process))


def run_example(name: str, env: dict[str, str], *, plain: bool = False) -> list[str]:
    if plain:
        env = {**env, "WAVEJIT_DISABLE": "1"}
    out = subprocess.run([sys.executable, str(EXAMPLES / name)], capture_output=True,
                         text=True, env=env, cwd=ROOT, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout.splitlines()


def achieved_speedup(lines: list[str]) -> float:
    """The ``(xN.NN)`` of explain()'s "last run:" line: sum of calls / wall."""
    found = [re.search(r"\(x([\d.]+)\)$", line) for line in lines if "last run:" in line]
    assert found and found[0] is not None, lines
    return float(found[0][1])


@pytest.mark.concurrency  # fails under WAVEJIT_EXECUTOR=sequential
def test_ensemble(served: dict[str, str]) -> None:
    jitted = run_example("ensemble.py", served)
    plain = run_example("ensemble.py", served, plain=True)
    assert jitted[0] == plain[0] and jitted[0].startswith("judge: ")
    assert any("ask(m, question)  [3 deferred, 0 inline]" in line for line in jitted)
    assert achieved_speedup(jitted) > 1.3
    assert "  status: plain" in plain


def test_async_debate(served: dict[str, str]) -> None:
    jitted = run_example("async_debate.py", served)
    plain = run_example("async_debate.py", served, plain=True)
    assert jitted[0] == plain[0] and jitted[0].startswith("judge: ")
    assert any("[3 deferred, 0 inline]" in line for line in jitted)
    assert achieved_speedup(jitted) > 1.3


@pytest.mark.concurrency  # fails under WAVEJIT_EXECUTOR=sequential
def test_graph_pipeline(served: dict[str, str]) -> None:
    lines = run_example("graph_pipeline.py", served)
    assert lines[0] == ("waves: [['notes_wiki', 'notes_papers', 'notes_news'], "
                        "['draft_gpt-a', 'draft_gpt-b', 'draft_gpt-c'], "
                        "['review_0', 'review_1', 'review_2'], ['answer']]")
    assert lines[1].startswith("judge: ")
    timing = re.fullmatch(r"dataflow ([\d.]+) s, sequential ([\d.]+) s, same answer: (\w+)",
                          lines[2])
    assert timing is not None, lines
    assert timing[3] == "True"  # checked against the sequential scheduler's run
    assert float(timing[1]) < 0.75 * float(timing[2])
    assert lines[3] == "flowchart TD"
