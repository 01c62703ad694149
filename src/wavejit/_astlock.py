"""One lock around every parse and every compile of a syntax tree the jit makes.

CPython 3.11 (before 3.11.8) and 3.12.0 keep the AST converter's recursion depth in
interpreter-wide state: two threads converting at once fail with ``SystemError: AST
constructor recursion depth mismatch`` (gh-106905). Deferred calls compile helpers'
twins and scan sources on pool threads, so the jit's own conversions are serialized.
"""

from __future__ import annotations

import threading

__all__ = ["AST_LOCK"]

AST_LOCK = threading.RLock()
