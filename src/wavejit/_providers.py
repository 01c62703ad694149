"""Which provider a call talks to, and whether an error is that provider's refusal.

* `client_host(obj)`: the host (``host`` or ``host:port`` when the URL names a port) of
  a client object's ``base_url`` - ``openai.OpenAI``, ``anthropic.Anthropic``,
  ``httpx.Client`` - reached through ``_client`` chains, so an SDK resource
  (``client.chat.completions``) answers for its client.
* `_global_hosts(fn)`: the hosts of the clients among the module globals and closure
  variables a callee's code names, and those of the program's functions it calls (two
  levels).
* `rate_limit_info(exc)`: a `Refusal` (its ``Retry-After`` in seconds, from
  ``retry-after-ms`` or ``retry-after`` as seconds or an HTTP date, and the host of
  the refused request) when `exc` is HTTP 429: ``status_code`` on the error (``openai``,
  ``anthropic``) or on its ``response`` (``httpx.HTTPStatusError``,
  ``requests.HTTPError``), or a class named ``RateLimitError``.
"""

from __future__ import annotations

import time
import types
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from ._hints import is_io_client_type

__all__ = ["Refusal", "client_host", "rate_limit_info"]


def _host_of_url(url: Any) -> str | None:
    host = getattr(url, "host", None)
    if isinstance(host, str):  # httpx.URL
        if not host:
            return None
        port = getattr(url, "port", None)
        return f"{host}:{port}" if port else host
    if isinstance(url, str) and url.startswith(("http://", "https://")):
        parts = urlsplit(url)
        if parts.hostname is None:
            return None
        return f"{parts.hostname}:{parts.port}" if parts.port else parts.hostname
    return None


_NO_HOST = object()
_host_type_cache: dict[type, bool] = {}


def client_host(obj: Any, depth: int = 0) -> str | None:
    """The host of a client object's ``base_url`` (through ``_client`` chains)."""
    t = type(obj)
    if _host_type_cache.get(t) is False or depth > 3:
        return None
    base = getattr(obj, "base_url", _NO_HOST)
    if base is not _NO_HOST:
        _host_type_cache[t] = True
        return _host_of_url(base)
    inner = getattr(obj, "_client", None)
    if inner is not None and inner is not obj:
        found = client_host(inner, depth + 1)
        if found is not None:
            _host_type_cache[t] = True
            return found
    if depth == 0 and t not in _host_type_cache:
        _host_type_cache[t] = False
    return None


def _is_client(value: Any) -> bool:
    return not isinstance(value, (str, bytes, int, float, tuple, type)) and \
        is_io_client_type(type(value))


def _global_hosts(fn: Any, depth: int, seen: set[Any]) -> set[str]:
    """Hosts of the clients among the globals and closure variables `fn`'s code names,
    and those of the functions among them (two levels)."""
    code = getattr(fn, "__code__", None)
    glob = getattr(fn, "__globals__", None)
    if code is None or glob is None or code in seen:
        return set()
    seen.add(code)
    found: set[str] = set()
    values = [glob.get(name) for name in code.co_names]
    for cell in getattr(fn, "__closure__", None) or ():
        try:
            values.append(cell.cell_contents)
        except ValueError:  # an empty cell
            continue
    for value in values:
        if value is None:
            continue
        if getattr(value, "__wavejit_jit__", False):
            value = value.__wrapped__
        if isinstance(value, types.FunctionType):
            if depth < 2:
                found |= _global_hosts(value, depth + 1, seen)
        elif _is_client(value):
            host = client_host(value)
            if host is not None:
                found.add(host)
    return found


@dataclass(frozen=True)
class Refusal:
    retry_after: float | None
    host: str | None


def rate_limit_info(exc: BaseException) -> Refusal | None:
    """A `Refusal` if `exc` is a provider's rate-limit error (HTTP 429), else None."""
    response = getattr(exc, "response", None)
    status = getattr(exc, "status_code", None)
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
    if status != 429 and type(exc).__name__ != "RateLimitError":
        return None
    headers = getattr(response, "headers", None)
    return Refusal(_retry_after(headers), _error_host(exc, response))


def _retry_after(headers: Any) -> float | None:
    if headers is None:
        return None
    try:
        ms = headers.get("retry-after-ms")
        if ms is not None:
            return max(0.0, float(ms) / 1000.0)
        value = headers.get("retry-after")
    except (AttributeError, ValueError, TypeError):
        return None
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    import email.utils  # only for an HTTP-date Retry-After: keeps `import wavejit` light

    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _error_host(exc: BaseException, response: Any) -> str | None:
    for holder in (getattr(response, "request", None), getattr(exc, "request", None),
                   response):
        if holder is None:
            continue
        try:
            url = getattr(holder, "url", None)
        except RuntimeError:  # httpx.Response.request unset
            continue
        host = _host_of_url(url) or (_host_of_url(str(url)) if url is not None else None)
        if host is not None:
            return host
    return None


