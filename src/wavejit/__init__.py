"""wavejit: add ``@wavejit.jit`` to sequential Python that waits on I/O, and its
independent calls run concurrently, with exactly the plain function's results.

The public surface is this module's ``__all__``; everything else is private.
"""

from __future__ import annotations

from ._errors import CancelledError, CycleError, GraphError, InvocationTimeout, WavejitError
from ._executors import (
    BoundedExecutor,
    SequentialExecutor,
    Task,
    ThreadExecutor,
    shared_executor,
)
from ._graph import Graph, Node, Results
from ._hints import io, register_io, sequential
from ._jit import JitFunction, jit
from ._limits import limit
from ._observe import progress
from ._operator import Operator
from ._report import CallRecord, Report, RunRecord
from ._threadbound import register_thread_bound

__all__ = [
    "jit",
    "JitFunction",
    "Operator",
    "io",
    "sequential",
    "register_io",
    "limit",
    "progress",
    "register_thread_bound",
    "Report",
    "RunRecord",
    "CallRecord",
    "WavejitError",
    "GraphError",
    "CycleError",
    "CancelledError",
    "InvocationTimeout",
    "Task",
    "ThreadExecutor",
    "SequentialExecutor",
    "BoundedExecutor",
    "shared_executor",
    "Graph",
    "Node",
    "Results",
]

__version__ = "0.1.0"


def __getattr__(name: str) -> object:
    # `wavejit.executors` (Dask / Ray) loads on first use: `import wavejit` stays light.
    if name == "executors":
        import importlib

        return importlib.import_module(".executors", __name__)
    raise AttributeError(f"module 'wavejit' has no attribute {name!r}")
