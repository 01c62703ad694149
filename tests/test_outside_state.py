"""State outside the process: a file a deferred call writes is read after it is written.

Found by transcribing real programs (llm-council saves each conversation to a JSON file
and reads it back; FastChat's judge appends each verdict to a file). Each test compares
the jitted function with the undecorated one, on fresh files.
"""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path
from typing import Any

import wavejit

LATENCY = 0.02


@wavejit.io
def fetch(x: int) -> int:
    time.sleep(LATENCY * (5 - x))  # later calls finish first
    return x * 2


def write_after(path: Path, x: int) -> None:
    r = fetch(x)
    with open(path, "a") as f:
        f.write(f"{r}\n")


def loop_write(path: Path) -> str:
    for x in [1, 2, 3, 4]:
        write_after(path, x)
    with open(path) as f:
        return f.read()


def save(path: Path, x: int) -> int:
    r = fetch(x)
    path.write_text(json.dumps(r))
    return r


def load(path: Path) -> int:
    with open(path) as f:
        return int(json.load(f))


def save_then_load(path: Path) -> tuple[int, int]:
    r = save(path, 1)
    return r, load(path)


def test_appends_in_a_loop_keep_program_order_and_the_read_sees_them(tmp_path: Path) -> None:
    expected = loop_write(tmp_path / "plain.txt")
    jitted = wavejit.jit(loop_write)
    for i in range(2):
        assert jitted(tmp_path / f"jit{i}.txt") == expected == "2\n4\n6\n8\n"


def test_a_helper_reading_the_file_a_deferred_call_wrote_waits_for_it(tmp_path: Path) -> None:
    plain_path = tmp_path / "plain.json"
    plain_path.write_text("0")
    expected = save_then_load(plain_path)
    jitted = wavejit.jit(save_then_load)
    for i in range(2):
        path = tmp_path / f"jit{i}.json"
        path.write_text("0")
        assert jitted(path) == expected == (2, 2)


def test_async_a_helper_reading_the_file_a_task_wrote_waits_for_it(tmp_path: Path) -> None:
    async def post(path: Path, x: int) -> int:
        await asyncio.sleep(LATENCY)
        with open(path, "w") as f:
            json.dump(x, f)
        return x

    async def main(path: Path) -> tuple[int, int]:
        with open(path, "w") as f:
            json.dump(0, f)
        r = await post(path, 1)
        return r, load(path)

    expected = asyncio.run(main(tmp_path / "plain.json"))
    jitted = wavejit.jit(main)
    for i in range(2):
        assert asyncio.run(jitted(tmp_path / f"jit{i}.json")) == expected == (1, 1)


class Storage:
    """llm-council's `storage` module folded into a class used as a namespace."""

    path: Path | None = None

    @staticmethod
    def save(x: int) -> None:
        assert Storage.path is not None
        with open(Storage.path, "w") as f:
            json.dump(x, f)

    @staticmethod
    def load() -> int:
        assert Storage.path is not None
        with open(Storage.path) as f:
            return int(json.load(f))


class Store:
    def __init__(self) -> None:
        self.path: Path | None = None

    def save(self, x: int) -> None:
        assert self.path is not None
        self.path.write_text(json.dumps(x))

    def load(self) -> int:
        assert self.path is not None
        return int(json.loads(self.path.read_text()))


STORE = Store()


def post_static(x: int) -> int:
    r = fetch(x)
    Storage.save(r)
    return r


def post_instance(x: int) -> int:
    r = fetch(x)
    STORE.save(r)
    return r


def round_trip_static() -> tuple[int, int]:
    r = post_static(1)
    return r, Storage.load()


def round_trip_instance() -> tuple[int, int]:
    r = post_instance(1)
    return r, STORE.load()


def test_writes_through_a_namespace_class_or_a_module_object_are_seen(tmp_path: Path) -> None:
    for fn in (round_trip_static, round_trip_instance):
        jitted = wavejit.jit(fn)
        for i in range(2):
            Storage.path = STORE.path = tmp_path / f"{fn.__name__}{i}.json"
            Storage.path.write_text("0")
            assert jitted() == (2, 2), fn.__name__


def test_a_parameter_handed_to_a_client_made_in_the_function_is_not_mutated() -> None:
    import httpx

    from wavejit._hints import classify

    def tool(url: str, args: dict[str, str]) -> str:
        with httpx.Client() as c:
            return c.get(url, params=args).text

    def tool_unknown(url: str, args: dict[str, str], c: object) -> str:
        return c.get(url, params=args).text  # type: ignore[attr-defined,no-any-return]

    assert classify(tool).mutated == frozenset()
    assert classify(tool_unknown).mutated is None  # a client of unknown kind: may mutate


OUT: Any = None


def emit(line: str) -> None:
    print(line, file=OUT)


def printed_to_a_file(path: Path) -> str:
    global OUT
    OUT = open(path, "w")
    for x in [1, 2, 3, 4]:
        emit(str(fetch(x)))
    OUT.close()
    return path.read_text()


def test_prints_to_a_file_object_keep_program_order(tmp_path: Path) -> None:
    expected = printed_to_a_file(tmp_path / "plain.txt")
    jitted = wavejit.jit(printed_to_a_file)
    for i in range(2):
        assert jitted(tmp_path / f"jit{i}.txt") == expected == "2\n4\n6\n8\n"
