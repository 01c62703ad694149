"""Graph: plain data describing calls and the values that flow between them.

A `Graph` is a list of `Node` s in insertion order. A node is a callable plus the
arguments to call it with; an argument that is a node of the same graph -- directly, or
anywhere inside a list, tuple, namedtuple or dict argument -- is a *data dependency*:
at run time the node receives that dependency's result in its place. `add_dependency`
adds an *ordering* dependency (run after, without receiving the result).

State, besides the nodes: a version counter bumped by every change, and a cached
`_Structure` (index arrays the schedulers run from) valid for one version. The
structure is computed by `graphlib.TopologicalSorter`:

* *waves* -- the topological levels: ``get_ready()`` / ``done()`` a whole level at a
  time; within a wave nodes keep insertion order, so waves never depend on hashing;
* *order* -- the run order of the sequential reference scheduler: the topological
  order that always takes the earliest-inserted ready node (a heap over
  ``get_ready()``). When every dependency was added before its dependent (the normal
  case) this is exactly insertion order;
* *pos* -- each node's position in that order. Concurrent schedulers use it to raise
  the same exception the sequential scheduler would.

`validate()` reports a cycle as `CycleError` (with ``.cycle``) and a node of another
graph as `GraphError`; export is `to_mermaid()`, `to_dot()` and `to_dict()`.
Running lives elsewhere: `run()` imports the schedulers only when called.
"""

from __future__ import annotations

import graphlib
import heapq
import json
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from ._errors import CycleError, GraphError

__all__ = ["Graph", "Node", "Results"]


class Node:
    """One call in a `Graph`: ``fn(*args, **kwargs)`` once its dependencies are done.

    Nodes compare and hash by identity. ``index`` is the position in insertion order.
    """

    __slots__ = (
        "graph", "index", "name", "fn", "args", "kwargs", "_deps",
        "_refs", "_arg_slots", "_kwarg_slots",
    )

    def __init__(
        self,
        graph: Graph,
        index: int,
        name: str,
        fn: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> None:
        self.graph = graph
        self.index = index
        self.name = name
        self.fn = fn
        self.args = args
        self.kwargs = kwargs
        deps: dict[Node, None] = {}  # an ordered set: first appearance wins
        # Where the node references are, found once here so binding at run time
        # touches only those arguments: (position, is_nested) / (keyword, is_nested).
        self._arg_slots = tuple(
            (i, not isinstance(a, Node)) for i, a in enumerate(args) if _collect(a, deps)
        )
        self._kwarg_slots = tuple(
            (k, not isinstance(v, Node)) for k, v in kwargs.items() if _collect(v, deps)
        )
        self._refs = bool(self._arg_slots or self._kwarg_slots)
        self._deps: list[Node] = list(deps)

    def __repr__(self) -> str:
        return f"<Node {self.name}>"

    @property
    def dependencies(self) -> tuple[Node, ...]:
        """The nodes this one waits for (data first, then ordering), without repeats."""
        return tuple(self._deps)

    def bind(self, values: list[Any]) -> tuple[tuple[Any, ...], dict[str, Any]]:
        """The call's arguments with each node replaced by ``values[node.index]``."""
        if not self._refs:
            return self.args, self.kwargs
        args = self.args
        if self._arg_slots:
            arglist = list(args)
            for i, nested in self._arg_slots:
                a = arglist[i]
                arglist[i] = _substitute(a, values) if nested else values[a.index]
            args = tuple(arglist)
        kwargs = self.kwargs
        if self._kwarg_slots:
            kwargs = dict(kwargs)
            for k, nested in self._kwarg_slots:
                v = kwargs[k]
                kwargs[k] = _substitute(v, values) if nested else values[v.index]
        return args, kwargs


def _collect(obj: object, deps: dict[Node, None]) -> bool:
    """Add the nodes inside `obj` to `deps`; True if there was any."""
    if isinstance(obj, Node):
        deps[obj] = None
        return True
    found = False
    if isinstance(obj, (list, tuple)):
        for item in obj:
            found = _collect(item, deps) or found
    elif isinstance(obj, dict):
        for item in obj.values():
            found = _collect(item, deps) or found
    return found


def _substitute(obj: Any, values: list[Any]) -> Any:
    if isinstance(obj, Node):
        return values[obj.index]
    kind = type(obj)
    if kind is list:
        return [_substitute(item, values) for item in obj]
    if kind is tuple:
        return tuple(_substitute(item, values) for item in obj)
    if kind is dict:
        return {key: _substitute(item, values) for key, item in obj.items()}
    if isinstance(obj, tuple) and hasattr(kind, "_make"):  # a namedtuple
        return kind._make(_substitute(item, values) for item in obj)
    if isinstance(obj, list):
        return kind(_substitute(item, values) for item in obj)
    if isinstance(obj, dict):
        return kind({key: _substitute(item, values) for key, item in obj.items()})
    return obj


class Results(Mapping[Node, Any]):
    """The result of every node of one run, looked up by node or by node name."""

    __slots__ = ("_graph", "_nodes", "_values")

    def __init__(self, graph: Graph, nodes: tuple[Node, ...], values: list[Any]) -> None:
        self._graph = graph
        self._nodes = nodes
        self._values = values

    def __getitem__(self, key: Node | str) -> Any:
        if isinstance(key, str):
            key = self._graph[key]
        elif not isinstance(key, Node) or key.graph is not self._graph:
            raise KeyError(f"{key!r} is not a node of the graph that was run")
        if key.index >= len(self._nodes):
            raise KeyError(f"{key!r} was added to the graph after this run")
        return self._values[key.index]

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes)

    def __len__(self) -> int:
        return len(self._nodes)

    def __repr__(self) -> str:
        shown = ", ".join(f"{n.name}: {v!r}" for n, v in zip(self._nodes[:5], self._values, strict=False))
        return f"<Results {{{shown}{', ...' if len(self._nodes) > 5 else ''}}}>"

    def by_name(self) -> dict[str, Any]:
        """``{node name: result}`` in insertion order."""
        return {n.name: v for n, v in zip(self._nodes, self._values, strict=True)}


class _Structure:
    """Index arrays for one version of a graph (see the module docstring)."""

    __slots__ = (
        "nodes", "deps", "dependents", "indegree", "roots", "order", "pos", "waves",
        "calls", "is_async",
    )

    def __init__(self, nodes: tuple[Node, ...]) -> None:
        self.nodes = nodes
        # Filled in by the schedulers on first run: what to call for each node.
        self.calls: list[Callable[..., Any]] | None = None
        self.is_async: list[bool] | None = None
        self.deps = [tuple(d.index for d in n._deps) for n in nodes]
        self.dependents: list[list[int]] = [[] for _ in nodes]
        for i, deps in enumerate(self.deps):
            for d in deps:
                self.dependents[d].append(i)
        self.indegree = [len(d) for d in self.deps]
        self.roots = [i for i, k in enumerate(self.indegree) if not k]
        self.waves = self._levels()
        self.order = self._order()
        self.pos = [0] * len(nodes)
        for p, i in enumerate(self.order):
            self.pos[i] = p

    def _sorter(self) -> graphlib.TopologicalSorter[int]:
        sorter: graphlib.TopologicalSorter[int] = graphlib.TopologicalSorter()
        for i, deps in enumerate(self.deps):
            sorter.add(i, *deps)
        try:
            sorter.prepare()
        except graphlib.CycleError as exc:
            cycle = [self.nodes[i] for i in exc.args[1]]
            path = " -> ".join(repr(n.name) for n in cycle)
            raise CycleError(
                f"the graph has a cycle: {path} (each node must run after the one "
                "before it). Remove one of these dependencies; cycles can only come "
                "from add_dependency(), so check its calls.",
                list(cycle),
            ) from None
        return sorter

    def _levels(self) -> list[list[int]]:
        sorter = self._sorter()
        waves = []
        while sorter.is_active():
            wave = sorted(sorter.get_ready())
            sorter.done(*wave)
            waves.append(wave)
        return waves

    def _order(self) -> list[int]:
        sorter = self._sorter()
        heap = list(sorter.get_ready())
        heapq.heapify(heap)
        order = []
        while heap:
            i = heapq.heappop(heap)
            order.append(i)
            sorter.done(i)
            for j in sorter.get_ready():
                heapq.heappush(heap, j)
        return order


class Graph:
    """Calls and the data flowing between them; run it with `run()`.

    >>> g = Graph()
    >>> a = g.add(pow, 2, 10)
    >>> b = g.add(sum, [a, a])
    >>> g.run()[b]
    2048
    """

    def __init__(self) -> None:
        self._nodes: list[Node] = []
        self._names: dict[str, Node] = {}
        self._version = 0
        self._structure: _Structure | None = None
        self._structure_version = -1

    def __repr__(self) -> str:
        return f"<Graph of {len(self._nodes)} nodes>"

    def __len__(self) -> int:
        return len(self._nodes)

    def __iter__(self) -> Iterator[Node]:
        return iter(self._nodes)

    def __contains__(self, node: object) -> bool:
        return isinstance(node, Node) and node.graph is self

    def __getitem__(self, name: str) -> Node:
        try:
            return self._names[name]
        except KeyError:
            known = ", ".join(repr(n) for n in list(self._names)[:10])
            raise KeyError(
                f"no node named {name!r} in this graph; its names are: {known}"
                + (", ..." if len(self._names) > 10 else "")
            ) from None

    @property
    def nodes(self) -> list[Node]:
        """The nodes, in insertion order (a copy)."""
        return list(self._nodes)

    def add(self, fn: Callable[..., Any], /, *args: Any, name: str | None = None,
            **kwargs: Any) -> Node:
        """Add the call ``fn(*args, **kwargs)`` and return its node.

        A node among the arguments (also inside a list, tuple or dict) is a dependency,
        replaced by its result at run time. The node's name is `name`, else
        ``fn.__name__``; a suffix ``_1``, ``_2``... makes it unique in the graph. (To
        pass ``fn`` a keyword argument called ``name``, bind it with
        ``functools.partial``.)
        """
        if not callable(fn):
            raise TypeError(
                f"Graph.add() takes the function to call first, got {fn!r}: "
                "write g.add(fn, *args, **kwargs)"
            )
        node = Node(self, len(self._nodes), self._unique(name or _name_of(fn)), fn,
                    args, kwargs)
        self._nodes.append(node)
        self._names[node.name] = node
        self._version += 1
        return node

    def add_dependency(self, node: Node, on: Node) -> None:
        """Make `node` run after `on` finishes, without receiving its result."""
        for n in (node, on):
            if not isinstance(n, Node):
                raise TypeError(f"add_dependency() takes two nodes, got {n!r}")
        if node.graph is not self:
            raise GraphError(_foreign(node, None))
        if on not in node._deps:
            node._deps.append(on)
            self._version += 1

    def _unique(self, name: str) -> str:
        if name not in self._names:
            return name
        k = 1
        while f"{name}_{k}" in self._names:
            k += 1
        return f"{name}_{k}"

    # -- analysis -------------------------------------------------------------------

    def _compiled(self) -> _Structure:
        """The structure the schedulers run from; validates the graph on first use."""
        structure = self._structure
        if structure is None or self._structure_version != self._version:
            for node in self._nodes:
                for dep in node._deps:
                    if dep.graph is not self:
                        raise GraphError(_foreign(dep, node))
            structure = _Structure(tuple(self._nodes))
            self._structure, self._structure_version = structure, self._version
        return structure

    def validate(self) -> None:
        """Raise `CycleError` for a cycle, `GraphError` for a node of another graph."""
        self._compiled()

    def waves(self) -> list[list[Node]]:
        """Topological levels: wave k holds the nodes whose longest dependency chain
        has k links, in insertion order."""
        s = self._compiled()
        return [[s.nodes[i] for i in wave] for wave in s.waves]

    def critical_path(
        self, durations: Mapping[Node, float] | Mapping[str, float]
    ) -> tuple[float, list[Node]]:
        """The longest chain by total duration: ``(seconds, [nodes from first to last])``.

        `durations` maps every node (or its name) to its seconds. Ties go to the
        dependency added first, so the answer is deterministic.
        """
        s = self._compiled()
        seconds = [0.0] * len(s.nodes)
        seen = [False] * len(s.nodes)
        for key, value in durations.items():
            node = key if isinstance(key, Node) else self._names.get(key)
            if node is None or node.graph is not self:
                raise GraphError(
                    f"critical_path(): {key!r} is not a node (or node name) of this graph"
                )
            seconds[node.index] = float(value)
            seen[node.index] = True
        missing = [s.nodes[i].name for i, ok in enumerate(seen) if not ok]
        if missing:
            raise GraphError(
                f"critical_path() needs a duration for every node; missing: "
                f"{', '.join(missing[:10])}{', ...' if len(missing) > 10 else ''}. "
                "Pass {node: seconds} (or {name: seconds}) for all of them."
            )
        finish = [0.0] * len(s.nodes)
        via = [-1] * len(s.nodes)
        for i in s.order:
            start, best = 0.0, -1
            for d in s.deps[i]:
                if best < 0 or finish[d] > start:  # strict: ties keep the earlier dep
                    start, best = finish[d], d
            via[i] = best
            finish[i] = start + seconds[i]
        if not s.nodes:
            return 0.0, []
        # The path ends at a node nothing waits for (so a zero-length tail is kept);
        # ties go to the earliest in run order.
        sinks = [i for i in s.order if not s.dependents[i]]
        end = max(sinks, key=lambda i: (finish[i], -s.pos[i]))
        path = []
        while end >= 0:
            path.append(s.nodes[end])
            end = via[end]
        path.reverse()
        return finish[path[-1].index], path

    # -- export ---------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        """A JSON-serialisable description: nodes (name, function, dependencies,
        wave) in insertion order, and the waves by name."""
        waves = self.waves()
        wave_of = {n: k for k, wave in enumerate(waves) for n in wave}
        return {
            "nodes": [
                {
                    "name": n.name,
                    "function": _qualname(n.fn),
                    "dependencies": [d.name for d in n._deps],
                    "wave": wave_of[n],
                }
                for n in self._nodes
            ],
            "waves": [[n.name for n in wave] for wave in waves],
        }

    def to_mermaid(self) -> str:
        """A Mermaid flowchart, dependencies pointing at their dependents."""
        self._compiled()
        lines = ["flowchart TD"]
        for n in self._nodes:
            label = n.name.replace('"', "#quot;")
            lines.append(f'    n{n.index}["{label}"]')
        for n in self._nodes:
            for d in n._deps:
                lines.append(f"    n{d.index} --> n{n.index}")
        return "\n".join(lines) + "\n"

    def to_dot(self) -> str:
        """A Graphviz DOT digraph, dependencies pointing at their dependents."""
        self._compiled()
        lines = ["digraph wavejit {", "    rankdir=TB;"]
        for n in self._nodes:
            lines.append(f"    n{n.index} [label={json.dumps(n.name)}];")
        for n in self._nodes:
            for d in n._deps:
                lines.append(f"    n{d.index} -> n{n.index};")
        lines.append("}")
        return "\n".join(lines) + "\n"

    # -- running --------------------------------------------------------------------

    def run(
        self,
        *,
        scheduler: str = "dataflow",
        executor: object = None,
        max_workers: int | None = None,
    ) -> Results:
        """Run every node and return the `Results` (indexable by node or name).

        `scheduler` is ``"dataflow"`` (a node starts as soon as its inputs are ready),
        ``"wave"`` (one wave at a time), ``"sequential"`` (insertion order, inline:
        the reference) or ``"async"`` (coroutine functions on an event loop).
        `executor` is ``None``/``"threads"`` (the shared pool), ``"sequential"``, or an
        object with ``submit()`` such as a ``concurrent.futures.Executor``;
        `max_workers` caps how many of this run's nodes run at once on the shared pool.

        If nodes fail, raises the exception the sequential scheduler would raise (the
        first failure in insertion order), as the same object with a note naming the
        node; dependents of failed nodes never run.
        """
        from ._schedulers import run_graph

        return run_graph(self, scheduler=scheduler, executor=executor,
                         max_workers=max_workers)

    async def run_async(
        self, *, executor: object = None, max_workers: int | None = None
    ) -> Results:
        """`run()` with the async scheduler, on the running event loop."""
        from ._schedulers import run_async

        return await run_async(self, executor=executor, max_workers=max_workers)


def _name_of(fn: Callable[..., Any]) -> str:
    inner = getattr(fn, "func", None)  # functools.partial
    if inner is not None and callable(inner):
        fn = inner
    name = getattr(fn, "__name__", None) or type(fn).__name__
    return name.strip("<>") or "node"


def _qualname(fn: Callable[..., Any]) -> str:
    module = getattr(fn, "__module__", None) or ""
    name = getattr(fn, "__qualname__", None) or _name_of(fn)
    return f"{module}.{name}" if module else name


def _foreign(dep: Node, node: Node | None) -> str:
    where = f"node {node.name!r} depends on node {dep.name!r}, which" if node else (
        f"node {dep.name!r}")
    return (
        f"{where} belongs to another Graph. A graph can only use its own nodes: add "
        f"that call to this graph too (x = g.add({_name_of(dep.fn)}, ...)) and pass x, "
        "or build everything in one Graph."
    )
