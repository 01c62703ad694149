"""A decorator that lives in another module than the functions it wraps (for the
source scan's tests: the wrapper's globals are not the wrapped function's)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any


def traced(fn: Callable[..., Any]) -> Callable[..., Any]:
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return fn(*args, **kwargs)
    return wrapper
