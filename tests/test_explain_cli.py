"""``python -m wavejit explain MODULE:FUNCTION`` and explain() before the first call."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import wavejit

HERE = Path(__file__).parent


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "wavejit", *args], capture_output=True,
                          text=True, cwd=HERE, timeout=60)


def test_explain_prints_the_report_without_running_the_function() -> None:
    out = run_cli("explain", "test_jit_patterns:p01")
    assert out.returncode == 0, out.stderr
    assert "wavejit.jit p01" in out.stdout
    assert "compiled, not called yet" in out.stdout
    assert "io: deferred - predicted: calls time.sleep (known I/O)" in out.stdout
    assert "strategy: io_aware" in out.stdout


def test_explain_says_how_to_fix_a_bad_target() -> None:
    out = run_cli("explain", "no_such_module:f")
    assert out.returncode == 2
    assert "cannot find 'no_such_module:f'" in out.stderr
    out = run_cli("explain", "just_a_module")
    assert out.returncode == 2 and "expected MODULE:FUNCTION" in out.stderr


def fetch(client: object, q: str) -> str:
    return f"{client}:{q}"


class FakeClient:
    """Registered as an I/O client below."""


def test_an_unknown_callee_handed_an_io_client_is_deferred() -> None:
    wavejit.register_io(FakeClient)
    client = FakeClient()

    def f(qs: list[str]) -> list[str]:
        return [fetch(client, q) for q in qs]

    jitted = wavejit.jit(f)
    assert jitted(["a", "b"]) == f(["a", "b"])
    report = jitted.explain()
    assert report.sites[0].deferred_calls == 2


def test_the_clients_the_registry_promises_are_io_without_measuring() -> None:
    # The list: openai, httpx, aiohttp, urllib, time.sleep (requests and
    # anthropic are matched by the same module-prefix rule; not installed here).
    import time
    import urllib.request

    import aiohttp
    import httpx
    import openai

    from wavejit._hints import classify

    http = httpx.Client()
    llm = openai.OpenAI(api_key="unused", base_url="http://127.0.0.1:9")  # never called
    try:
        for callee in (time.sleep, urllib.request.urlopen, http.get,
                       llm.chat.completions.create, aiohttp.ClientSession.get):
            assert classify(callee).io is True, callee
    finally:
        http.close()
        llm.close()


def test_import_wavejit_stays_light() -> None:
    # asyncio is imported when an async def is first jitted; urllib.request never
    # (urlopen is I/O by its module). Together they were about half of the import.
    check = ("import sys, wavejit; "
             "print(sorted(m for m in ('asyncio', 'urllib.request') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", check], capture_output=True, text=True,
                         timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"
