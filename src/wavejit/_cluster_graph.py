"""``Graph.run(executor=DaskExecutor(...) | RayExecutor(...) | client)``.

Every node is submitted at once, in run order, as a call on a worker whose
dependencies are the engine's handles (Dask futures, Ray ObjectRefs) of the nodes it
depends on: the engine starts a node when its inputs exist, and values move between
workers without coming back here. The handles are passed as *top-level* arguments
(Ray resolves no others); the node's own arguments carry a `Slot` where each
dependency's value goes, filled in on the worker (`wavejit._cluster.run_node`). An
ordering dependency (``add_dependency``) is a handle the node receives and ignores.

Errors follow the sequential scheduler: the earliest failing node in run order is
raised (a copy: same type and args, the worker's traceback as a note). The engine
never runs the dependents of a failed node. When a failure is seen, nodes after it
are cancelled -- those still queued never start; one already running on a worker
finishes there and its result is dropped (a worker thread cannot be interrupted).
Nodes before it run to the end, since one of them may fail first. Values are
gathered only when every node succeeded.
"""

from __future__ import annotations

import queue
from typing import Any

from ._cluster import Slot, ship
from ._errors import add_note
from ._graph import _Structure

__all__ = ["run_on_cluster"]


def run_on_cluster(s: _Structure, executor: Any) -> list[Any]:
    """Run the graph structure `s` on a cluster executor; the values by node index."""
    n = len(s.nodes)
    slots = [Slot(i) for i in range(n)]
    blobs: dict[int, bytes] = {}  # one pickle per distinct function
    handles: list[Any] = [None] * n
    done: queue.SimpleQueue[tuple[int, BaseException | None]] = queue.SimpleQueue()
    for i in s.order:  # a node's dependencies come before it
        node = s.nodes[i]
        blob = blobs.get(id(node.fn))
        if blob is None:
            blob = blobs[id(node.fn)] = ship(node.fn, f"the function of graph node {node.name!r}")
        args, kwargs = node.bind(slots)  # each dependency becomes a Slot(index)
        deps = s.deps[i]
        handles[i] = executor.submit_node(blob, node.name, args, kwargs, deps,
                                          [handles[d] for d in deps])
        executor.node_future(handles[i], node.name).add_done_callback(
            lambda f, i=i: done.put((i, f.exception())))
    errors: dict[int, BaseException] = {}
    cutoff = n  # run-order position of the earliest failure seen
    for _ in range(n):
        i, exc = done.get()
        if exc is None:
            continue
        errors[i] = exc
        if s.pos[i] < cutoff:
            cutoff = s.pos[i]
            executor.cancel_nodes([handles[j] for j in range(n)
                                   if s.pos[j] > cutoff and j not in errors])
    if errors:
        i = min(errors, key=s.pos.__getitem__)
        add_note(errors[i], f"wavejit: raised by graph node {s.nodes[i].name!r}")
        raise errors[i]
    values: list[Any] = executor.gather(handles)
    return values
