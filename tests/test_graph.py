"""Graph as plain data: nodes, dependencies, waves, critical path, validation, export."""

from __future__ import annotations

import functools
import json
import os
import subprocess
import sys
import textwrap
from collections import namedtuple
from typing import Any

import pytest

from wavejit import CycleError, Graph, GraphError, Node


def fetch(*args: Any, **kwargs: Any) -> Any:
    return args, kwargs


def test_names_are_unique_and_derived() -> None:
    g = Graph()
    a, b, c = g.add(fetch), g.add(fetch), g.add(fetch)
    lam = g.add(lambda: 1)
    part = g.add(functools.partial(fetch, 1))
    given = g.add(fetch, name="mine")
    again = g.add(fetch, name="mine")
    assert [n.name for n in (a, b, c, lam, part, given, again)] == [
        "fetch", "fetch_1", "fetch_2", "lambda", "fetch_3", "mine", "mine_1"]
    assert g["fetch_1"] is b
    assert [n.index for n in g] == list(range(7))
    with pytest.raises(KeyError, match="no node named 'nope'.*'fetch'"):
        g["nope"]


def test_dependencies_are_found_in_nested_arguments() -> None:
    Pair = namedtuple("Pair", "x y")
    g = Graph()
    a, b, c, d = (g.add(int, i) for i in range(4))
    user = g.add(fetch, a, [b, (c, {"k": a})], Pair(d, 5), key={"deep": [[b]]}, plain=7)
    assert user.dependencies == (a, b, c, d)
    results = g.run()
    assert results[user] == ((0, [1, (2, {"k": 0})], Pair(3, 5)), {"key": {"deep": [[1]]},
                                                                   "plain": 7})
    assert results["fetch"] == results[user]
    assert dict(results.by_name())["int_2"] == 2
    assert user.args[0] is a  # the node's own arguments are left as given


def test_add_rejects_non_callables() -> None:
    with pytest.raises(TypeError, match=r"g\.add\(fn, \*args"):
        Graph().add(42)  # type: ignore[arg-type]


def test_waves_are_levels_in_insertion_order() -> None:
    g = Graph()
    a = g.add(int, 1)
    b = g.add(fetch, a)
    c = g.add(fetch, a, b)
    late_root = g.add(int, 2)
    d = g.add(fetch, late_root)
    assert g.waves() == [[a, late_root], [b, d], [c]]
    assert g.to_dict()["waves"] == [["int", "int_1"], ["fetch", "fetch_2"], ["fetch_1"]]


def test_critical_path() -> None:
    g = Graph()
    a1 = g.add(fetch, name="a1")
    a2 = g.add(fetch, a1, name="a2")
    b1 = g.add(fetch, name="b1")
    b2 = g.add(fetch, b1, name="b2")
    b3 = g.add(fetch, b2, name="b3")
    join = g.add(fetch, a2, b3, name="join")
    durations = {"a1": 0.3, "a2": 0.01, "b1": 0.1, "b2": 0.1, "b3": 0.1, "join": 0.0}
    length, path = g.critical_path(durations)
    assert path == [a1, a2, join] and length == pytest.approx(0.31)
    by_node = {g[name]: seconds for name, seconds in durations.items()}
    by_node[b1] = 0.2
    length, path = g.critical_path(by_node)
    assert path == [b1, b2, b3, join] and length == pytest.approx(0.4)
    assert Graph().critical_path({}) == (0.0, [])
    with pytest.raises(GraphError, match="missing: join"):
        g.critical_path({k: v for k, v in durations.items() if k != "join"})
    with pytest.raises(GraphError, match="'zz' is not a node"):
        g.critical_path({**durations, "zz": 1.0})


def test_critical_path_ties_are_deterministic() -> None:
    g = Graph()
    x, y = g.add(fetch), g.add(fetch)
    z = g.add(fetch, x, y)
    assert g.critical_path({x: 1, y: 1, z: 1}) == (2.0, [x, z])


def test_cycle_is_named() -> None:
    g = Graph()
    a = g.add(fetch, name="a")
    b = g.add(fetch, a, name="b")
    c = g.add(fetch, b, name="c")
    g.validate()
    g.add_dependency(a, c)
    with pytest.raises(CycleError, match="cycle: 'a' -> 'b' -> 'c' -> 'a'") as info:
        g.validate()
    assert info.value.cycle == [a, b, c, a]
    assert isinstance(info.value, ValueError)
    with pytest.raises(CycleError):
        g.run()


def test_add_dependency_orders_without_passing_results() -> None:
    order: list[str] = []
    g = Graph()
    first = g.add(order.append, "first")
    second = g.add(order.append, "second")
    g.add_dependency(first, second)  # insertion order says otherwise
    assert g.waves() == [[second], [first]]
    for scheduler in ("sequential", "dataflow", "wave", "async"):
        order.clear()
        results = g.run(scheduler=scheduler)
        assert order == ["second", "first"] and results[first] is None


def test_foreign_node_error_teaches_the_fix() -> None:
    other = Graph()
    theirs = other.add(fetch, name="theirs")
    g = Graph()
    mine = g.add(fetch, [theirs], name="mine")
    assert theirs not in g and mine in g
    message = "node 'mine' depends on node 'theirs', which belongs to another Graph"
    with pytest.raises(GraphError, match=message) as info:
        g.validate()
    assert "g.add(fetch, ...)" in str(info.value)
    with pytest.raises(GraphError, match="another Graph"):
        g.run()
    with pytest.raises(GraphError, match="another Graph"):
        g.add_dependency(theirs, mine)


def test_results_lookup() -> None:
    g = Graph()
    a = g.add(int, 5)
    results = g.run()
    assert results[a] == results["int"] == 5 and len(results) == 1 and list(results) == [a]
    b = g.add(int, 6)
    with pytest.raises(KeyError, match="added to the graph after this run"):
        results[b]
    with pytest.raises(KeyError, match="not a node of the graph"):
        results[Graph().add(int)]
    assert "int: 5" in repr(results)


def test_exports() -> None:
    g = Graph()
    a = g.add(fetch, name='say "hi"')
    g.add(fetch, a, name="b")
    assert g.to_mermaid() == (
        'flowchart TD\n    n0["say #quot;hi#quot;"]\n    n1["b"]\n    n0 --> n1\n')
    dot = g.to_dot()
    assert 'n0 [label="say \\"hi\\""];' in dot and "n0 -> n1;" in dot
    data = g.to_dict()
    assert json.loads(json.dumps(data)) == data
    assert data["nodes"][1] == {
        "name": "b", "function": f"{__name__}.fetch", "dependencies": ['say "hi"'],
        "wave": 1}


def test_empty_graph() -> None:
    g = Graph()
    assert g.waves() == [] and len(g.run()) == 0 and g.to_dict()["nodes"] == []


def test_node_identity() -> None:
    g = Graph()
    a, b = g.add(int, 1), g.add(int, 1)
    assert a != b and len({a, b}) == 2 and isinstance(a, Node) and repr(a) == "<Node int>"


_SEED_SCRIPT = textwrap.dedent("""
    import json
    from wavejit import Graph

    def f(*args, **kwargs):
        return None

    g = Graph()
    names = {f"n{i}" for i in range(40)}  # set order differs between hash seeds
    nodes = {}
    for name in sorted(names):
        nodes[name] = g.add(f, *[nodes[k] for k in sorted(nodes)[-3:]], name=name,
                            extra={k: nodes[k] for k in sorted(nodes)[:2]})
    print(json.dumps([g.to_dict(), [[n.name for n in w] for w in g.waves()],
                      [n.name for n in g.critical_path({n: 1.0 for n in g})[1]]]))
""")


def test_waves_do_not_depend_on_the_hash_seed() -> None:
    outputs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        done = subprocess.run([sys.executable, "-c", _SEED_SCRIPT], env=env,
                              capture_output=True, text=True, check=True, timeout=30)
        outputs.append(done.stdout)
    assert outputs[0] == outputs[1] and len(json.loads(outputs[0])[1]) > 5
