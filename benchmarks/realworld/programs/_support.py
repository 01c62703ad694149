"""Helpers for the programs' scripted replies (not part of any transcribed program).

Every reply is a pure function of the request: these helpers derive words, numbers and
choices from a SHA-256 of the text they are given.
"""

from __future__ import annotations

import hashlib
from typing import Any

VOCAB = (
    "amber basalt cedar delta ember fjord garnet harbor iris juniper kelp lumen meadow "
    "nickel onyx prism quartz river sable tundra umber vale willow xenon yarrow zephyr"
).split()


def digest(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def words(text: str, n: int = 6) -> str:
    """``n`` words chosen by the text's digest."""
    d = digest(text)
    while len(d) < n:
        d += digest(d.hex())
    return " ".join(VOCAB[b % len(VOCAB)] for b in d[:n])


def number(text: str, low: int, high: int) -> int:
    """An integer in [low, high] chosen by the text's digest."""
    return low + digest(text)[0] % (high - low + 1)


def user_text(body: dict[str, Any]) -> str:
    """The text of a chat request: every message's content, in order."""
    parts = []
    for message in body.get("messages", []):
        content = message.get("content")
        if isinstance(content, list):  # content parts
            content = " ".join(str(p.get("text", "")) for p in content)
        parts.append(str(content or ""))
    return "\n".join(parts)


def last_user(body: dict[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            return str(message.get("content") or "")
    return ""


def responses_text(body: dict[str, Any]) -> str:
    """The text of a Responses API request (``input`` is a string or a message list)."""
    given = body.get("input", "")
    if isinstance(given, str):
        return given
    return "\n".join(str(m.get("content", "")) for m in given)
