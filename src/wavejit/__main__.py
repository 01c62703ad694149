"""The command line: ``python -m wavejit <subcommand>``.

Subcommands are entries in `SUBCOMMANDS`: a one-line help, a function adding its
arguments (standard library only), and a runner that imports what it needs when it
runs. ``python -m wavejit --help`` therefore works without the optional packages the
benchmark needs (openai, httpx, aiohttp, dask, matplotlib).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

__all__ = ["main", "build_parser", "Subcommand", "SUBCOMMANDS"]


@dataclass(frozen=True)
class Subcommand:
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]


def _bench_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--scenario",
        action="append",
        metavar="NAME",
        help="run only this scenario (repeatable): sleep_ensemble, llm_ensemble, "
        "api_aggregation, map_reduce, mixed, cpu_only, chain, fan_out (all sizes) or "
        "fan_out_10 / fan_out_100 / fan_out_1000",
    )
    parser.add_argument("--json", metavar="PATH", help="write the results as JSON")
    parser.add_argument(
        "--report", metavar="DIR", help="write a Markdown report with PNG plots into DIR"
    )
    parser.add_argument(
        "--repeat", type=_positive, metavar="N", help="timed rounds per peer (default 5)"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="latencies x0.1, one timed call per peer, fan-out up to 100",
    )
    parser.add_argument(
        "--scale", type=float, default=1.0, help="multiply every server latency by this"
    )
    parser.add_argument("--seed", type=int, default=0, help="the server's jitter seed")
    parser.add_argument(
        "--capacity",
        type=_positive,
        default=4096,
        help="requests the embedded server serves at once (the rest queue)",
    )
    parser.add_argument(
        "--provider",
        choices=("embedded", "openai"),
        default="embedded",
        help="where chat completions go; 'openai' needs OPENAI_API_KEY",
    )
    parser.add_argument(
        "--model", default="gpt-4o-mini", help="the model used with --provider openai"
    )


def _demo_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", metavar="DIR", help="where to write the timeline picture")
    parser.add_argument("--repeat", type=_positive, default=3, metavar="N")
    parser.add_argument("--seed", type=int, default=0)


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _run_bench(args: argparse.Namespace) -> int:
    from wavejit.bench.cli import run_bench

    return run_bench(args)


def _run_demo(args: argparse.Namespace) -> int:
    from wavejit.bench.cli import run_demo

    return run_demo(args)


def _explain_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("target", metavar="MODULE:FUNCTION",
                        help="e.g. mypackage.agents:answer or app:Pipeline.forward")


def _run_explain(args: argparse.Namespace) -> int:
    import importlib

    import wavejit

    module_name, _, path = args.target.partition(":")
    if not module_name or not path:
        print(f"wavejit explain: expected MODULE:FUNCTION, got {args.target!r}",
              file=sys.stderr)
        return 2
    try:
        target: object = importlib.import_module(module_name)
        for part in path.split("."):
            target = getattr(target, part)
    except (ImportError, AttributeError) as exc:
        print(f"wavejit explain: cannot find {args.target!r}: {exc}", file=sys.stderr)
        return 2
    if isinstance(target, wavejit.JitFunction):
        jitted = target
    elif callable(target):
        jitted = wavejit.JitFunction(target)
    else:
        print(f"wavejit explain: {args.target!r} is not a function", file=sys.stderr)
        return 2
    print(jitted.explain())
    return 0


DEFAULT_PORT = 8808


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", type=int, default=DEFAULT_PORT,
                        help=f"the port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a free one)")
    parser.add_argument(
        "--latency", type=float, default=0.1, metavar="S",
        help="seconds a chat completion waits before its reply (default 0.1; plus up to "
        "20%% jitter and a few ms per reply token; the other endpoints in proportion)")


def _run_serve(args: argparse.Namespace) -> int:
    """The embedded server in the foreground, until Ctrl-C (or SIGTERM)."""
    import signal
    import time

    try:
        from wavejit.bench.latency import LatencyModel
        from wavejit.bench.server import BenchServer
    except ImportError as exc:
        print(f"python -m wavejit serve needs aiohttp ({exc}): "
              "pip install 'wavejit[examples]'", file=sys.stderr)
        return 2
    if args.latency < 0:
        print("python -m wavejit serve: --latency must be >= 0", file=sys.stderr)
        return 2
    model = LatencyModel()
    server = BenchServer(model.scaled(args.latency / model.llm), port=args.port)
    try:
        server.start()
    except OSError as exc:
        print(f"python -m wavejit serve: cannot listen on 127.0.0.1:{args.port} "
              f"({exc.strerror or exc}); choose another with --port", file=sys.stderr)
        return 1

    def stop(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    # Both stop it cleanly, also when started in the background (where a shell
    # leaves SIGINT ignored).
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    url = server.base_url
    print(f"An OpenAI-compatible server on {url} (made-up replies, about "
          f"{args.latency:g} s per chat completion). In the shell that runs your "
          "program:\n\n"
          f"export OPENAI_BASE_URL={url}/v1\n"
          "export OPENAI_API_KEY=wavejit-local\n\n"
          "Ctrl-C stops it.", flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    print(f"served {len(server.requests)} requests", flush=True)
    return 0


SUBCOMMANDS: dict[str, Subcommand] = {
    "explain": Subcommand(
        "what @jit defers in MODULE:FUNCTION, and why (static: nothing is run)",
        _explain_arguments,
        _run_explain,
    ),
    "bench": Subcommand(
        "time every scenario: plain, thread pool, asyncio, dask, wavejit, ideal",
        _bench_arguments,
        _run_bench,
    ),
    "demo": Subcommand(
        "the LLM ensemble + judge side by side, with a timeline picture",
        _demo_arguments,
        _run_demo,
    ),
    "serve": Subcommand(
        "run the embedded OpenAI-compatible server (made-up replies) until Ctrl-C, and "
        "print the OPENAI_BASE_URL / OPENAI_API_KEY to export",
        _serve_arguments,
        _run_serve,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m wavejit",
        description="wavejit: independent I/O calls of plain Python, run concurrently.",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for name, command in SUBCOMMANDS.items():
        sub = commands.add_parser(name, help=command.help, description=command.help)
        command.add_arguments(sub)
        sub.set_defaults(_run=command.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    run: Callable[[argparse.Namespace], int] = args._run
    return run(args)


if __name__ == "__main__":
    sys.exit(main())
