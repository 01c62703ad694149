"""wavejit: add ``@wavejit.jit`` to sequential Python that waits on I/O, and its
independent calls run concurrently, with exactly the plain function's results.

The public surface is this module's ``__all__``; everything else is private.
"""

from __future__ import annotations

from ._errors import CancelledError, CycleError, GraphError, WavejitError
from ._executors import (
    BoundedExecutor,
    SequentialExecutor,
    Task,
    ThreadExecutor,
    shared_executor,
)

__all__ = [
    "WavejitError",
    "GraphError",
    "CycleError",
    "CancelledError",
    "Task",
    "ThreadExecutor",
    "SequentialExecutor",
    "BoundedExecutor",
    "shared_executor",
]

__version__ = "0.1.0"
