"""The embedded server's latency model and its deterministic content.

Every request is reduced to a *request key* (method, path and canonical body or query),
hashed with the model's seed. The digest drives everything the server makes up:

* the reply text (words drawn from a small vocabulary), so the same request always gets
  the same answer and the benchmark can compare peers' results for equality;
* the jitter, so the applied latency ``base + per_token * tokens + jitter`` is the same
  for the same request and seed, whichever peer sent it and however many were in flight.

Standard library only: the benchmark's clients and the server share it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, replace

__all__ = ["LatencyModel", "request_digest", "reply_words", "canonical"]

_VOCAB = (
    "amber basalt cedar delta ember fjord garnet harbor iris juniper kelp lumen "
    "meadow nickel onyx prism quartz river sable tundra umber vale willow xenon "
    "yarrow zephyr atlas beacon cobalt dune"
).split()


def canonical(value: object) -> str:
    """A stable text form of a JSON-like value (sorted keys, no whitespace)."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True)


def request_digest(seed: int, key: str) -> bytes:
    """The 32-byte digest every made-up property of a request derives from."""
    return hashlib.sha256(f"{seed}\x00{key}".encode()).digest()


def reply_words(digest: bytes, count: int) -> list[str]:
    """``count`` words chosen by the digest (extended by rehashing when needed)."""
    stream = b""
    block = digest
    while len(stream) < count:
        stream += block
        block = hashlib.sha256(block).digest()
    return [_VOCAB[b % len(_VOCAB)] for b in stream[:count]]


@dataclass(frozen=True)
class LatencyModel:
    """Applied latency = ``base * (1 + jitter * u) + per_token * tokens`` seconds.

    ``base`` depends on the endpoint: ``llm`` for chat completions, ``api`` for the
    search / weather / combine endpoints, ``fetch`` for document retrieval (a fast
    key-value store). ``u`` in [0, 1] is drawn from the request's digest, so the jitter
    is deterministic. ``capacity`` is how many requests the server serves at once; the
    excess waits in a queue (time not counted in the applied latency).
    """

    llm: float = 0.100
    api: float = 0.050
    fetch: float = 0.020
    per_token: float = 0.002
    jitter: float = 0.2
    seed: int = 0
    capacity: int = 4096

    def scaled(self, factor: float) -> LatencyModel:
        """The same model with every duration multiplied by ``factor``."""
        return replace(
            self,
            llm=self.llm * factor,
            api=self.api * factor,
            fetch=self.fetch * factor,
            per_token=self.per_token * factor,
        )

    def latency(self, base: float, digest: bytes, tokens: int = 0) -> float:
        """Seconds to apply to a request with this base, digest and token count."""
        fraction = int.from_bytes(digest[-4:], "big") / 0xFFFFFFFF
        return base * (1.0 + self.jitter * fraction) + self.per_token * tokens
