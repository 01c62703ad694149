"""Run one program of the corpus plain and jitted, and compare what each run did.

A *program* is a module in ``programs/`` with:

* ``ENTRY`` -- the name of its entry function (a module global; ``async def`` allowed),
  or ``"Class.method"`` (then the class attribute is replaced and ``ARGS`` starts with
  the instance);
* ``ARGS`` / ``KWARGS`` -- what the entry is called with (default: none); ``ARGS`` may be
  a function returning the tuple, called before every call (fresh arguments and state);
* ``ROUNDS`` -- LLM rounds on the critical path, derived in the program's header comment;
* ``STATE`` -- dotted names of module-level data the program mutates (default: none);
* ``UNORDERED_STDOUT`` -- true if the program's own output order depends on timing even
  when it runs plain (then stdout is compared as a sorted list of lines);
* ``reply(endpoint, body)`` -- the scripted server's answers (see ``server.py``).

`compare_program` loads the module fresh and calls the entry twice (plain first and
warm), loads it fresh again, replaces the global -- ``mod.ENTRY = wavejit.jit(...)``,
so recursion through the global name goes through the jit exactly as ``@wavejit.jit``
in the source would -- and calls it twice (jit first and warm). Each jitted call is
compared with the plain call of the same rank: return value (``==``), captured stdout
(exact, except that object addresses ``at 0x...`` are masked), the warnings the program
raised (recorded, as a sorted list), the ``STATE`` snapshot and the number of requests the server received.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import inspect
import io
import json
import math
import os
import re
import subprocess
import sys
import time
import urllib.request
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from server import PROGRAMS, load_program  # noqa: E402


def program_names() -> list[str]:
    """Every program of the corpus, in name order (helper modules start with ``_``)."""
    return sorted(p.stem for p in PROGRAMS.glob("*.py") if not p.stem.startswith("_"))


class ServerProcess:
    """The scripted server in a child process; ``close()`` (or ``with``) stops it."""

    def __init__(self, latency: float) -> None:
        self.latency = latency
        self.proc = subprocess.Popen(
            [sys.executable, str(HERE / "server.py"), "--latency", str(latency)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            # The server imports the programs (for their `reply`), and some create an
            # OpenAI client at import time: give them a key (it never reaches a network).
            env={**os.environ, "OPENAI_API_KEY": "sk-realworld-bench"},
        )
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"the scripted server did not start (said {line!r})")
        self.base_url = f"http://127.0.0.1:{int(line.split()[1])}"

    def _call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(
            self.base_url + path, data=data, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            result: dict[str, Any] = json.loads(response.read())
            return result

    def select(self, program: str) -> None:
        self._call("/_control/select", {"program": program})

    def count(self) -> int:
        return int(self._call("/_control/count")["count"])

    def environ(self) -> dict[str, str]:
        """What a user's environment would hold to reach this server."""
        return {
            "OPENAI_BASE_URL": self.base_url + "/v1",
            "OPENAI_API_KEY": "sk-realworld-bench",
            "SEARCH_API_URL": self.base_url + "/search",
        }

    def close(self) -> None:
        if self.proc.stdin is not None and not self.proc.stdin.closed:
            self.proc.stdin.close()
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()

    def __enter__(self) -> ServerProcess:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@dataclass
class Call:
    """What one call of the entry did."""

    value: Any
    stdout: str
    state: Any
    requests: int
    seconds: float
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    """One program: its plain and jitted calls and how they compare."""

    name: str
    rounds: int
    plain: Call
    plain_warm: Call
    jit_first: Call
    jit_warm: Call
    mismatches: list[str] = field(default_factory=list)
    # The fastest of the warm call and any extra timing-only calls (``repeat``).
    plain_best: float = math.inf
    jit_best: float = math.inf

    @property
    def equal(self) -> bool:
        return not any(m for m in self.mismatches if not m.startswith("requests"))

    @property
    def same_requests(self) -> bool:
        return not any(m.startswith("requests") for m in self.mismatches)


def _resolve(module: ModuleType, dotted: str) -> Any:
    value: Any = module
    for part in dotted.split("."):
        value = value[part] if isinstance(value, dict) else getattr(value, part)
    return value


def _snapshot(module: ModuleType) -> dict[str, Any]:
    state = {}
    for name in getattr(module, "STATE", ()):
        value = _resolve(module, name)
        try:
            state[name] = copy.deepcopy(value)
        except Exception:  # an object that cannot be copied is compared by its repr
            state[name] = repr(value)
    return state


def _fresh_module_client() -> None:
    """Drop the `openai` module's own client (``openai.chat...``): it is made once per
    process, from the environment at that moment, and a scan or a test earlier in
    the process may have made it before the server's environment was set (a program
    would then fail plain with "Could not resolve authentication method"). Each
    program starts as a new process would."""
    import openai

    reset = getattr(openai, "_reset_client", None)
    if callable(reset):
        reset()


def call_entry(
    module: ModuleType, server: ServerProcess, loop: asyncio.AbstractEventLoop
) -> Call:
    """Call the module's entry once, capturing stdout (and discarding stderr).

    An ``async def`` entry runs on ``loop``: both calls of one loaded module share it, as
    in a long-running service (a module-level ``AsyncOpenAI`` client keeps connections
    bound to the loop that opened them, so a new loop per call would break it).
    """
    entry = _resolve(module, module.ENTRY)
    args = getattr(module, "ARGS", ())
    if callable(args):  # a factory: fresh arguments (and state) for every call
        with warnings.catch_warnings():  # (its own, e.g. datetime.utcnow on 3.12+:
            warnings.simplefilter("ignore", DeprecationWarning)  # the same both sides)
            args = args()
    kwargs = getattr(module, "KWARGS", {})
    before = server.count()
    out, err = io.StringIO(), io.StringIO()
    error = None
    value: Any = None
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        # The program's own warnings (e.g. a deprecated pydantic call) are recorded, not
        # raised -- pytest turns warnings into errors -- and compared like stdout.
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            try:
                value = entry(*args, **kwargs)
                if inspect.iscoroutine(value):
                    value = loop.run_until_complete(value)
            except Exception as exc:  # compared like a return value
                error = f"{type(exc).__name__}: {exc}"
    seconds = time.perf_counter() - started
    requests = server.count() - before
    call = Call(value, out.getvalue(), _snapshot(module), requests, seconds, error)
    call.warnings = sorted(f"{w.category.__name__}: {w.message}" for w in caught)
    return call


def _close_clients(module: ModuleType, loop: asyncio.AbstractEventLoop) -> None:
    """Close the module's own OpenAI clients (async ones on the loop that used them)."""
    import openai

    for value in list(vars(module).values()):
        if isinstance(value, openai.AsyncOpenAI):
            loop.run_until_complete(value.close())
        elif isinstance(value, openai.OpenAI):
            value.close()


def _same(a: Any, b: Any) -> bool:
    if hasattr(a, "equals") and type(a) is type(b):  # pandas objects compare elementwise
        return bool(a.equals(b))
    try:
        if a == b:
            return True
    except Exception:
        pass
    return repr(a) == repr(b)


_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def _normalized(stdout: str) -> str:
    """Stdout without object addresses (``<function gpt at 0x7f...>`` differs per load)."""
    return _ADDRESS.sub(" at 0x?", stdout)


def _differences(rank: str, plain: Call, jitted: Call, *, unordered: bool) -> list[str]:
    found = []
    if not _same(plain.value, jitted.value) or plain.error != jitted.error:
        found.append(f"{rank}: return value differs: {plain.value!r:.200} / {plain.error} vs "
                     f"{jitted.value!r:.200} / {jitted.error}")
    plain_out, jit_out = _normalized(plain.stdout), _normalized(jitted.stdout)
    if unordered:  # the program's own output order depends on timing, even plain
        same_out = sorted(plain_out.splitlines()) == sorted(jit_out.splitlines())
    else:
        same_out = plain_out == jit_out
    if not same_out:
        found.append(f"{rank}: stdout differs:\n--- plain\n{plain.stdout[:2000]}\n--- jit\n"
                     f"{jitted.stdout[:2000]}")
    if plain.warnings != jitted.warnings:
        found.append(f"{rank}: warnings differ: {plain.warnings} vs {jitted.warnings}")
    if not _same(plain.state, jitted.state):
        found.append(f"{rank}: state differs: {plain.state!r:.300} vs {jitted.state!r:.300}")
    if plain.requests != jitted.requests:
        found.append(f"requests ({rank}): {plain.requests} plain vs {jitted.requests} jit")
    return found


def compare_program(
    name: str,
    server: ServerProcess,
    *,
    jit_options: dict[str, Any] | None = None,
    repeat: int = 1,
) -> Outcome:
    """Run ``name`` plain twice, then jitted twice, each on a freshly loaded module.

    ``repeat`` > 1 adds timing-only warm calls (``repeat - 1`` for each side, not
    compared): the best warm time is then less at the mercy of a noisy machine.
    """
    import wavejit

    os.environ.update(server.environ())
    _fresh_module_client()
    server.select(name)
    plain_module = load_program(name, unique="plain")
    with contextlib.closing(asyncio.new_event_loop()) as loop:
        plain = call_entry(plain_module, server, loop)
        plain_warm = call_entry(plain_module, server, loop)
        plain_best = min([plain_warm.seconds] + [
            call_entry(plain_module, server, loop).seconds for _ in range(repeat - 1)
        ])
        _close_clients(plain_module, loop)

    jit_module = load_program(name, unique="jit")
    owner_path, _, attribute = jit_module.ENTRY.rpartition(".")
    owner = _resolve(jit_module, owner_path) if owner_path else jit_module
    entry = getattr(owner, attribute)
    setattr(owner, attribute, wavejit.jit(entry, **(jit_options or {})))
    with contextlib.closing(asyncio.new_event_loop()) as loop:
        jit_first = call_entry(jit_module, server, loop)
        jit_warm = call_entry(jit_module, server, loop)
        jit_best = min([jit_warm.seconds] + [
            call_entry(jit_module, server, loop).seconds for _ in range(repeat - 1)
        ])
        _close_clients(jit_module, loop)

    outcome = Outcome(name, int(plain_module.ROUNDS), plain, plain_warm, jit_first, jit_warm,
                      plain_best=plain_best, jit_best=jit_best)
    unordered = bool(getattr(plain_module, "UNORDERED_STDOUT", False))
    outcome.mismatches += _differences("first call", plain, jit_first, unordered=unordered)
    outcome.mismatches += _differences("warm call", plain_warm, jit_warm, unordered=unordered)
    if plain.error is not None:
        outcome.mismatches.append(f"the plain run raised {plain.error}")
    return outcome
