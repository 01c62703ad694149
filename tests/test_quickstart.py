"""The README's Quickstart, run as written: its commands are read from the README.

The install command is checked, not run (it needs the network and would reinstall the
package under the running suite): it must name an extra of pyproject.toml that
provides what the other commands import. ``python`` in the commands is this test's
interpreter, where wavejit is installed, as it is in a user's environment after the
install. The server is started as written; only if its port is taken (another
``serve`` on this machine) does the test add ``--port`` with a free one and use that
port in the exported URL.
"""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
from pathlib import Path

from test_examples import start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent


def quickstart_blocks() -> list[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = re.search(r"^## Quickstart\n(.*?)^## ", readme, re.S | re.M)
    assert section is not None, "the README has no Quickstart section"
    return re.findall(r"```sh\n(.*?)```", section.group(1), re.S)


def port_is_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_the_quickstart_runs_as_written(tmp_path: Path) -> None:
    install, serve, use = quickstart_blocks()

    # 1. The install line installs the extra that holds what the example and the
    #    server import.
    assert install.strip() == "pip install -e '.[examples]'"
    pyproject = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    extra = re.search(r"^examples = \[(.*)\]$", pyproject, re.M)
    assert extra is not None
    assert re.findall(r'"(\w+)', extra[1]) == ["openai", "aiohttp"]

    # 2. The server, as written.
    command = shlex.split(serve.strip())
    assert command[:4] == ["python", "-m", "wavejit", "serve"]
    port = 8808  # the default the README's exports name
    if not port_is_free(port):
        port = free_port()
        command += ["--port", str(port)]
    process, exports, printed = start_server(*command[4:])
    try:
        # What it prints is what the README says to export.
        printed_exports = [line for line in printed.splitlines() if line.startswith("export ")]
        readme_exports = [line for line in use.splitlines() if line.startswith("export ")]
        assert printed_exports == [line.replace(":8808/", f":{port}/")
                                   for line in readme_exports]

        # 3. The exports and the example, in a shell whose `python` is this one.
        bin_dir = tmp_path / "bin"
        bin_dir.mkdir()
        python = bin_dir / "python"  # not a symlink: a venv's python finds its
        python.write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')  # packages by path
        python.chmod(0o755)
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("OPENAI_", "WAVEJIT_"))}
        env["PATH"] = f"{bin_dir}{os.pathsep}{env.get('PATH', '')}"
        script = use.replace(":8808/", f":{port}/")
        out = subprocess.run(["bash", "-euc", script], capture_output=True, text=True,
                             cwd=ROOT, env=env, timeout=60)
    finally:
        served = stop_server(process)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("judge: ")
    assert "wavejit.jit ensemble" in lines
    assert any("[3 deferred, 0 inline]" in line for line in lines)
    assert served == "served 4 requests\n"  # three answers and the judge's
