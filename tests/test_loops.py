"""The shapes real programs have: loops that use each result, fresh-result chains,
fan-out in helpers, recursion, output order, self state, speculation.

Every test compares the jitted function with the undecorated one (the reference) on
results, stdout and the calls made. The tests marked ``concurrency`` also check the
overlap: six (or four) independent calls of `LATENCY` take at least six latencies in
order, and the jitted function must finish within `FAST` -- half of that, still three
latencies of slack for thread start-up on a loaded 2-core machine. Run with every
deferred call inline (``WAVEJIT_EXECUTOR=sequential``) they fail, as they must.
"""

from __future__ import annotations

import contextlib
import io
import json
import threading
import time
import types
from collections.abc import Callable
from typing import Any

import pytest

import overlap
import wavejit

LATENCY = 0.05
FAST = 3 * LATENCY  # six calls in order take 6 x LATENCY; see the module docstring

_calls: list[Any] = []
_calls_lock = threading.Lock()


@wavejit.io
def classify(t: Any) -> dict[str, Any]:
    with _calls_lock:
        _calls.append(("classify", t if isinstance(t, str) else repr(t)))
    time.sleep(LATENCY)
    text = t if isinstance(t, str) else t["text"]
    return {"ok": text not in ("b", "e"), "label": text.upper(), "n": len(text)}


@wavejit.io
def ask(prompt: str) -> Any:
    """An SDK-like reply: ``.choices[0].message.content``, ``model_dump()``."""
    with _calls_lock:
        _calls.append(("ask", prompt))
    time.sleep(LATENCY)
    message = types.SimpleNamespace(content=f"  answer to {prompt}  ")
    reply = types.SimpleNamespace(choices=[types.SimpleNamespace(message=message)])
    reply.model_dump = lambda: {"content": message.content}
    return reply


@wavejit.io
def say(x: str) -> str:
    print(f"working on {x}")
    time.sleep(LATENCY * (1 + (ord(x[0]) % 3)))  # later items may finish first
    print(f"done with {x}")
    return x.upper()


def run(fn: Callable[..., Any], *args: Any, **options: Any) -> tuple[Any, str, list[Any], float,
                                                                        Any]:
    """Call `fn` plain, then jitted; both must agree; return the jitted run's figures."""
    _calls.clear()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        expected = fn(*_fresh(args))
    plain_calls, plain_out = sorted(map(repr, _calls)), out.getvalue()
    jitted = wavejit.jit(fn, **options)
    # Twice: the first call compiles (and, first in a suite, starts the pool's threads:
    # under load that alone took longer than the six calls in order); the second is
    # timed. Both must agree with plain Python.
    for _ in range(2):
        _calls.clear()
        out = io.StringIO()
        started = time.perf_counter()
        with contextlib.redirect_stdout(out):
            got = jitted(*_fresh(args))
        wall = time.perf_counter() - started
        assert got == expected
        assert out.getvalue() == plain_out
        assert sorted(map(repr, _calls)) == plain_calls
    return got, out.getvalue(), list(_calls), wall, jitted


def _fresh(args: tuple[Any, ...]) -> tuple[Any, ...]:
    return tuple(json.loads(json.dumps(a)) if isinstance(a, (list, dict)) else a
                 for a in args)


ITEMS = ["a", "b", "c", "d", "e", "f"]


def assert_overlapped(jitted: Any, wall: float, calls: int = 6) -> None:
    assert wall < FAST, f"took {wall:.3f} s: the calls did not overlap"
    record = jitted.last_run
    assert record is not None and len(record.calls) >= calls


# -- 1. the loop body uses each result before the next call --------------------------


def loop_prints_appends_branches(tickets: list[str]) -> tuple[list[Any], list[str]]:
    out = []
    keep = []
    for t in tickets:
        r = classify(t)
        print(f"{t}: {r}")
        out.append(r)
        if r["ok"]:
            keep.append(r["label"])
    return out, keep


def loop_stores_into_the_item(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    for row in rows:
        row["label"] = classify(row)
    return rows


def loop_parses_each_result(items: list[str]) -> list[Any]:
    results = []
    for x in items:
        results.append(json.loads(json.dumps(classify(x))))
    return results


def loop_accumulates(items: list[str]) -> int:
    total = 0
    for i, x in enumerate(items, 1):
        total += classify(x)["n"] * i
    return total


class Log:
    def __init__(self) -> None:
        self.log: list[Any] = []

    def run(self, items: list[str]) -> list[Any]:
        for x in items:
            r = classify(x)
            self.log.append(r["label"])
        return self.log


def method_logs_to_self(items: list[str]) -> list[Any]:
    return Log().run(items)


@pytest.mark.concurrency
@pytest.mark.parametrize("fn, arg", [
    (loop_prints_appends_branches, ITEMS),
    (loop_stores_into_the_item, [{"text": x} for x in ITEMS]),
    (loop_parses_each_result, ITEMS),
    (loop_accumulates, ITEMS),
], ids=lambda v: getattr(v, "__name__", "arg"))
def test_a_loop_that_uses_each_result_overlaps(fn: Callable[..., Any], arg: Any) -> None:
    *_, wall, jitted = run(fn, arg)
    assert_overlapped(jitted, wall)


@pytest.mark.concurrency
def test_a_method_logging_each_result_to_self_overlaps() -> None:
    jitted = wavejit.jit(Log.run)
    log = Log()
    started = time.perf_counter()
    assert jitted(log, ITEMS) == [x.upper() for x in ITEMS]
    assert_overlapped(jitted, time.perf_counter() - started)
    assert method_logs_to_self(ITEMS) == log.log


# -- 2. reading a fresh result ----------------------------------------------------------


def chain_on_the_call(items: list[str]) -> list[str]:
    out = []
    for x in items:
        text = ask(x).choices[0].message.content
        out.append(text.strip())
    return out


def chain_on_a_name(items: list[str]) -> list[Any]:
    out = []
    for x in items:
        r = ask(x)
        content = r.choices[0].message.content
        dumped = r.model_dump()
        print(content.strip(), dumped["content"][:5])
        out.append(dumped)
    return out


@pytest.mark.concurrency
@pytest.mark.parametrize("fn", [chain_on_the_call, chain_on_a_name])
def test_reads_of_a_fresh_result_run_as_continuations(fn: Callable[..., Any]) -> None:
    *_, wall, jitted = run(fn, ITEMS)
    assert_overlapped(jitted, wall)


# -- 3. the fan-out lives in a helper ---------------------------------------------------


def fan_out(prompt: str, inputs: list[str]) -> list[str]:
    return [ask(f"{prompt}: {x}").choices[0].message.content for x in inputs]


def two_levels(inputs: list[str]) -> list[str]:
    answers = []
    for x in inputs:
        answers.append(ask(x).choices[0].message.content)
        print("asked", x)
    return answers


class Orchestrator:
    def work(self, inputs: list[str]) -> list[str]:
        return two_levels(inputs)


def entry_calls_helper(inputs: list[str]) -> list[str]:
    first = fan_out("summarize", inputs)
    return first + Orchestrator().work(inputs)


@pytest.mark.concurrency
def test_fan_out_in_helpers_several_levels_down_overlaps() -> None:
    *_, wall, jitted = run(entry_calls_helper, ITEMS)
    # Two fan-outs of six calls, one after the other: twelve in order.
    assert wall < 2 * FAST, f"took {wall:.3f} s: the helpers' calls did not overlap"
    report = str(jitted.explain())
    assert "its own calls are jitted too" in report


# -- 4. recursion through the decorated name ---------------------------------------------


def summarize(chunks: list[str]) -> str:
    if len(chunks) == 1:
        return str(ask(chunks[0]).choices[0].message.content.strip())
    mid = len(chunks) // 2
    left = summarize(chunks[:mid])
    right = summarize(chunks[mid:])
    return str(ask(left + " | " + right).choices[0].message.content.strip())


@pytest.mark.concurrency
def test_recursion_through_the_module_level_name_is_jitted_and_overlaps(
        monkeypatch: pytest.MonkeyPatch) -> None:
    plain = summarize(["a", "b", "c", "d"])
    jitted = wavejit.jit(summarize)
    # As @wavejit.jit in the source would: the recursive calls reach the jitted global.
    monkeypatch.setitem(globals(), "summarize", jitted)
    started = time.perf_counter()
    assert jitted(["a", "b", "c", "d"]) == plain
    wall = time.perf_counter() - started
    report = jitted.explain()
    assert report.status.startswith("rewritten"), report.reason
    # Leaves in parallel, then two merges, then the root: 3 rounds, not 7.
    assert wall < 5 * LATENCY + 2 * LATENCY, f"took {wall:.3f} s"


# -- 5. output from deferred helpers in program order -------------------------------------


def loop_of_printing_helpers(items: list[str]) -> list[str]:
    print("start")
    out = []
    for x in items:
        out.append(say(x))
        print("back from", x)
    a = say("x")
    b = say("y")
    print("end")
    return [*out, a, b]


@pytest.mark.concurrency
def test_output_of_deferred_helpers_appears_in_program_order() -> None:
    _, stdout, _, wall, jitted = run(loop_of_printing_helpers, ITEMS)
    assert stdout.splitlines()[:4] == ["start", "working on a", "done with a", "back from a"]
    # In order, the helpers sleep 1-3 latencies each: 8 calls, at least 8 latencies.
    assert wall < 6 * LATENCY, f"took {wall:.3f} s"
    assert jitted.last_run is not None and len(jitted.last_run.calls) == 8


# -- 6. state of self: a later read sees every earlier call's writes ---------------------


class Base:
    def __init__(self) -> None:
        self.calls = 0

    def ask(self, q: str) -> str:
        self.calls += 1
        time.sleep(LATENCY)
        return q.upper()


class Counting(Base):
    def ask(self, q: str) -> str:
        return super().ask(q) + "!"

    def run(self, qs: list[str]) -> tuple[list[str], int]:
        out = [self.ask(q) for q in qs]
        for q in qs:
            out.append(super().ask(q))
        return out, self.calls


def test_a_read_of_self_after_calls_that_write_it_sees_every_write() -> None:
    expected = Counting().run(["a", "b", "c"])
    jitted = wavejit.jit(Counting.run)
    for _ in range(3):  # the verdicts change as calls are measured: every tier
        assert jitted(Counting(), ["a", "b", "c"]) == expected
    assert expected[1] == 6


# -- 7. which calls are made: exits, speculation ----------------------------------------


def first_match(items: list[str]) -> str | None:
    for x in items:
        r = classify(x)
        print("checked", x)
        if not r["ok"]:
            return x
    return None


def test_a_loop_that_may_return_makes_exactly_the_plain_calls() -> None:
    _, _, calls, _, jitted = run(first_match, ITEMS)
    assert calls == [("classify", "a"), ("classify", "b")]
    assert jitted.last_run is None or jitted.last_run.wasted == 0


@pytest.mark.concurrency
def test_speculate_issues_later_calls_and_reports_the_waste() -> None:
    items = ["a", "c", "d", "f", "g", "b", "h"]
    expected = first_match(items)
    jitted = wavejit.jit(first_match, speculate=True)
    _calls.clear()
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        assert jitted(items) == expected == "b"
    wall = time.perf_counter() - started
    assert out.getvalue().count("checked") == 6  # the output of plain's iterations only
    assert wall < FAST, f"took {wall:.3f} s: nothing was issued ahead"
    assert jitted.last_run is not None
    # "h" was issued past the exit: it ran (wasted) or was cancelled before it started.
    assert jitted.last_run.wasted == len(_calls) - 6


# -- failures and the run-time guards --------------------------------------------------


@wavejit.io
def fragile(x: str) -> str:
    time.sleep(LATENCY)
    if x == "c":
        raise ValueError("bad item", x)
    return x


def loop_with_a_failing_call(items: list[str]) -> list[str]:
    out = []
    for x in items:
        r = fragile(x)
        print("got", r)
        out.append(r)
    return out


def loop_whose_arguments_raise(items: list[Any]) -> list[str]:
    out = []
    for x in items:
        print("item", x)
        out.append(fragile(x["k"]))
    return out


@pytest.mark.parametrize("fn, arg", [
    (loop_with_a_failing_call, ITEMS),
    (loop_whose_arguments_raise, [{"k": "a"}, {"k": "b"}, {"j": 1}, {"k": "d"}]),
])
def test_a_failure_in_an_item_is_raised_after_the_earlier_items_output(
        fn: Callable[..., Any], arg: Any) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(Exception) as plain_error:
        fn(_fresh((arg,))[0])
    jitted = wavejit.jit(fn)
    jit_out = io.StringIO()
    with contextlib.redirect_stdout(jit_out), pytest.raises(Exception) as jit_error:
        jitted(_fresh((arg,))[0])
    assert type(jit_error.value) is type(plain_error.value)
    assert jit_error.value.args == plain_error.value.args
    assert jit_out.getvalue() == out.getvalue()


def loop_over_a_generator(n: int) -> list[Any]:
    out = []
    for x in (str(i) for i in range(n)):
        out.append(classify(x))
        print(x)
    return out


def loop_carried(items: list[str]) -> str:
    acc = "s"
    for x in items:
        acc = ask(acc + x).choices[0].message.content.strip()
    return acc


def history_grows(items: list[str]) -> list[str]:
    history: list[str] = []
    for x in items:
        r = ask(" ".join(history) + x).choices[0].message.content
        history.append(r.strip())
    return history


def prefix_waits_on_the_result(items: list[str]) -> list[int]:
    out = []
    for x in items:
        r = classify(x)
        n = len(r)
        out.append(n)
    return out


@pytest.mark.parametrize("fn, arg", [
    (loop_over_a_generator, 4),
    (loop_carried, ITEMS[:4]),
    (history_grows, ITEMS[:4]),
    (prefix_waits_on_the_result, ITEMS[:4]),
])
def test_loops_that_must_stay_in_order_give_the_plain_answer(fn: Callable[..., Any],
                                                             arg: Any) -> None:
    run(fn, arg)


@wavejit.io
def enrich(doc: dict[str, Any]) -> None:
    time.sleep(LATENCY / 5)
    doc["n"] = len(doc)


def loop_of_calls_with_effects(docs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    shared: dict[str, Any] = {}
    for d in docs:
        enrich(shared)
        print(len(shared), d)
        shared[d["k"]] = d
    return [shared]


def test_calls_that_mutate_what_the_body_reads_run_in_program_order() -> None:
    run(loop_of_calls_with_effects, [{"k": "a"}, {"k": "b"}, {"k": "c"}])


def test_explain_reports_the_loop_issued_ahead() -> None:
    _, _, _, _, jitted = run(loop_prints_appends_branches, ITEMS)
    assert jitted.last_run is not None
    record = jitted.last_run
    assert len(record.calls) == 6 and record.wasted == 0


# -- what the scan may assume: callable defaults, parameters copied first ------------------


def ask_messages(messages: list[dict[str, str]]) -> str:
    return str(ask(messages[-1]["content"]).choices[0].message.content)


def with_references(messages: list[dict[str, str]], references: list[str],
                    generate: Callable[..., str] = ask_messages) -> str:
    messages = [dict(m) for m in messages] if references else messages
    return generate(messages)


def shout(messages: list[dict[str, str]]) -> str:
    messages.append({"role": "user", "content": "again"})  # mutates its argument
    return str(len(messages))


def references_loop(models: list[str], generate: Any = None) -> tuple[list[str], Any]:
    messages = [{"role": "user", "content": "q"}]
    out = []
    for m in models:
        kwargs = {} if generate is None else {"generate": generate}
        out.append(with_references(messages, [m], **kwargs))
    return out, messages


@pytest.mark.concurrency
def test_a_callable_parameter_is_judged_by_its_default() -> None:
    *_, wall, jitted = run(references_loop, ITEMS)
    assert_overlapped(jitted, wall)


def test_a_call_passing_another_callable_is_not_judged_by_the_default() -> None:
    # shout mutates the shared messages: the calls must stay in program order.
    run(references_loop, ITEMS[:3], shout)


def four_loops(items: list[str]) -> tuple[list[Any], str, list[str]]:
    out = []
    for x in items:
        r = classify(x)
        print(r["label"])
        out.append(r)
    acc = "s"
    for x in items:
        acc = ask(acc + x).choices[0].message.content.strip()
    history: list[str] = []
    for _x in items:
        r2 = ask(str(history)).choices[0].message.content
        history.append(r2)
    for x in items:
        if not classify(x)["ok"]:
            break
    return out, acc, history


def test_explain_says_how_each_loop_runs_and_why() -> None:
    *_, jitted = run(four_loops, ITEMS[:3])
    first = four_loops.__code__.co_firstlineno
    loops = "\n".join(jitted.explain().loops)
    assert f"line {first + 2}: issued ahead (the calls at line {first + 3})" in loops
    assert f"line {first + 7}: in order: line {first + 8}:" in loops
    assert "reads `acc`, which the body binds" in loops
    assert "the body changes `history`, and the calls issued ahead would read `history`" in (
        loops)
    assert f"the body may break or return (line {first + 15})" in loops
    assert "speculate=True" in str(jitted.explain())


def breadth_first(root: str) -> list[str]:
    queue = [root]
    seen = []
    for node in queue:
        label = classify(node)["label"]
        seen.append(label)
        if len(node) < 3:
            queue.append(node + "a")
            queue.append(node + "b")
    return seen


def test_a_loop_whose_body_extends_its_own_list_sees_the_new_items() -> None:
    _, _, calls, _, jitted = run(breadth_first, "r")
    assert len(calls) == 7
    assert any("which it iterates over" in line for line in jitted.explain().loops)


@wavejit.io
def record(store: dict[str, Any], key: str) -> str:
    time.sleep(LATENCY / 5)
    store[key] = len(store)  # mutates its argument
    return key


@wavejit.io
def read(store: dict[str, Any], key: str) -> str:
    time.sleep(LATENCY / 5)
    return f"{key}:{sorted(store)}"


def loop_of_a_writer_then_a_reader(items: list[str]) -> list[str]:
    store: dict[str, Any] = {}
    out = []
    for x in items:
        out.append(record(store, x))
        out.append(read(store, x))
    return out


def test_a_call_issued_ahead_waits_for_an_earlier_one_that_changes_its_argument() -> None:
    for _ in range(3):  # first call, and after the callees were measured
        run(loop_of_a_writer_then_a_reader, ITEMS[:4])


def unknown_printing_helper(x: str) -> str:
    print("in helper", x)  # no I/O: run inline, even while the loop issues calls
    return x.upper()


def loop_of_an_unknown_helper(items: list[str]) -> list[str]:
    out = []
    for x in items:
        r = unknown_printing_helper(x) + classify(x)["label"]
        print("back", r)
        out.append(r)
    return out


def test_output_of_calls_run_inline_while_issuing_stays_in_program_order() -> None:
    for _ in range(3):  # profiled inline, then known to be no I/O
        run(loop_of_an_unknown_helper, ITEMS[:3], strategy="trace")


# -- nested loops: one loop over the pairs (see wavejit._nested) ----------------------


def grid_of_scores(metrics: dict[str, str], summaries: dict[str, str]
                   ) -> tuple[dict[str, list[Any]], str]:
    """G-Eval's shape: every metric x every summary, each score used right away."""
    data: dict[str, list[Any]] = {"metric": [], "summary": [], "score": []}
    for metric, criteria in metrics.items():
        for name, summary in summaries.items():
            data["metric"].append(metric)
            data["summary"].append(name)
            r = classify(criteria + summary)
            print(metric, name, r["n"])
            data["score"].append(r["n"])
    return data, metric  # plain leaves the last outer item bound


@pytest.mark.concurrency
def test_nested_loops_are_issued_ahead_as_one_loop_over_pairs() -> None:
    metrics = {"relevance": "r", "coherence": "c", "fluency": "f"}
    summaries = {"one": "x", "two": "yy"}
    *_, wall, jitted = run(grid_of_scores, metrics, summaries)
    assert_overlapped(jitted, wall)
    loops = jitted.explain().loops
    assert any("nested loops, as one loop over pairs: issued ahead" in n for n in loops), loops


def inner_reads_the_outer_item(docs: list[dict[str, Any]]) -> tuple[list[Any], Any, Any]:
    out = []
    for doc in docs:
        for q in doc["questions"]:  # the last doc has none: `doc` is still the last one
            out.append(classify(doc["title"] + q)["label"])
            print(out[-1])
    return out, doc, q


def inner_fails_midway(docs: list[dict[str, Any]]) -> list[Any]:
    out = []
    for doc in docs:
        for q in doc["questions"]:  # the third doc has no "questions": KeyError there
            out.append(classify(q)["label"])
            print("scored", q)
    return out


def body_changes_the_inner_container(groups: list[str]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {"a": ["x"], "b": ["y"]}
    for g in groups:
        for item in seen[g]:
            print(classify(item + g)["label"])
        seen[g].append(g)  # not a lone inner loop: in order
    return seen


def inner_break(groups: list[list[str]]) -> list[Any]:
    out = []
    for group in groups:
        for x in group:
            if x == "stop":
                break  # leaves only the inner loop
            out.append(classify(x)["label"])
    return out


def outer_is_a_generator(n: int) -> list[Any]:
    out = []
    for i in (k for k in range(n)):
        for x in ["p", "q"]:
            out.append(classify(x * (i + 1))["label"])
    return out


@pytest.mark.parametrize("fn, arg", [
    (inner_reads_the_outer_item, [{"title": "t", "questions": ["a", "b"]},
                                  {"title": "u", "questions": ["c"]},
                                  {"title": "v", "questions": []}]),
    (body_changes_the_inner_container, ["a", "b", "a"]),
    (inner_break, [["a", "stop", "b"], ["c", "d"]]),
    (outer_is_a_generator, 3),
], ids=lambda v: getattr(v, "__name__", "arg"))
def test_nested_loops_give_the_plain_answer(fn: Callable[..., Any], arg: Any) -> None:
    run(fn, arg)


def test_a_nested_inner_iterable_that_raises_raises_where_plain_python_does() -> None:
    docs = [{"questions": ["a", "b"]}, {"questions": ["c"]}, {}, {"questions": ["d"]}]
    out = io.StringIO()
    _calls.clear()
    with contextlib.redirect_stdout(out), pytest.raises(KeyError) as plain_error:
        inner_fails_midway(_fresh((docs,))[0])
    plain_calls = sorted(_calls)
    jitted = wavejit.jit(inner_fails_midway)
    jit_out = io.StringIO()
    _calls.clear()
    with contextlib.redirect_stdout(jit_out), pytest.raises(KeyError) as jit_error:
        jitted(_fresh((docs,))[0])
    assert jit_error.value.args == plain_error.value.args
    assert jit_out.getvalue() == out.getvalue()
    # The same calls, and none for "d": plain Python never reached it. Sorted, because
    # the calls for "a", "b" and "c" run at once and enter `_calls` in any order.
    assert sorted(_calls) == plain_calls


# -- the statements after a loop: issued before its items retire ----------------------


@wavejit.io
def slow_classify(t: str) -> dict[str, Any]:
    with _calls_lock:
        _calls.append(("slow_classify", t))
    time.sleep(4 * LATENCY)
    return {"label": t.upper()}


def loop_then_independent_call(items: list[str]) -> tuple[list[Any], Any, int]:
    """The cookbook's rate-limit example: a loop printing each story, then a batch."""
    out = []
    for x in items:
        r = slow_classify(x)
        print(x, r["label"])
        out.append(r)
    n = 2
    prompt = "batch-" + "+".join(["x"] * n)
    batch = slow_classify(prompt)
    size = len(prompt)
    return out, batch, size


def tail_reads_what_the_loop_built(items: list[str]) -> Any:
    out = []
    for x in items:
        out.append(classify(x)["label"])
    summary = classify("".join(out))  # must wait for every item: stays after the loop
    return summary


def tail_rebinds_a_name_the_loop_reads(items: list[str]) -> list[Any]:
    out = []
    label = "first"
    for x in items:
        out.append((label, classify(x)["n"]))
        print(label)
    label = classify("later")["label"]  # the loop reads `label`: not bound ahead
    out.append(label)
    return out


def tail_prefix_raises(items: list[str], data: dict[str, str]) -> Any:
    for x in items:
        print(classify(x)["label"])
    key = data["missing"]  # KeyError, raised after the loop's output
    return classify(key)


def empty_loop_then_call(items: list[str]) -> Any:
    for x in items:
        print(classify(x))
    return classify("after")


@pytest.mark.concurrency
def test_a_call_after_a_loop_is_issued_before_its_items_retire() -> None:
    # The loop's calls overlap each other (4 latencies); the batch after the loop takes
    # 4 more if it waits for the loop's items to retire, none if it was issued with
    # them. 6 latencies: 2 (0.1 s) of slack for thread start-up on a loaded machine.
    *_, wall, jitted = run(loop_then_independent_call, ITEMS[:5])
    assert wall < 6 * LATENCY, f"took {wall:.3f} s: the call after the loop waited"
    loops = jitted.explain().loops
    assert any("after it at line" in n and "issued before its items retire" in n
               for n in loops), loops


@pytest.mark.parametrize("fn, args", [
    (tail_reads_what_the_loop_built, (ITEMS[:3],)),
    (tail_rebinds_a_name_the_loop_reads, (ITEMS[:3],)),
    (empty_loop_then_call, ([],)),
], ids=lambda v: getattr(v, "__name__", "arg"))
def test_statements_after_a_loop_give_the_plain_answer(fn: Callable[..., Any],
                                                       args: tuple[Any, ...]) -> None:
    run(fn, *args)


def test_a_failure_in_the_statements_after_a_loop_is_raised_after_its_output() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(KeyError) as plain_error:
        tail_prefix_raises(ITEMS[:3], {})
    jit_out = io.StringIO()
    with contextlib.redirect_stdout(jit_out), pytest.raises(KeyError) as jit_error:
        wavejit.jit(tail_prefix_raises)(ITEMS[:3], {})
    assert jit_error.value.args == plain_error.value.args
    assert jit_out.getvalue() == out.getvalue()


# -- pandas apply / map of an I/O function (see wavejit._rowmap) ----------------------

pd = pytest.importorskip("pandas")  # in the dev extra: `make test` installs it

_effects: list[str] = []


def label_rows(df: Any) -> Any:
    """The cookbook's transaction classifier: one LLM call per row through apply."""
    print(f"rows: {len(df)}")
    df["label"] = df.apply(lambda row: classify(row["text"])["label"], axis=1)
    print(df["label"].value_counts().sort_index())
    return df


def map_a_series(df: Any) -> Any:
    return df["text"].map(lambda t: classify(t)["n"], na_action="ignore")


def rows_with_a_failure(df: Any) -> Any:
    return df.apply(lambda row: fragile(row["text"]), axis=1)


def logging_label(text: str) -> str:
    _effects.append(text)  # an effect the caller sees: the calls stay in order
    return str(classify(text)["label"])


def apply_with_effects(df: Any) -> Any:
    return df["text"].apply(logging_label)


def _frame(texts: list[Any]) -> Any:
    return pd.DataFrame({"text": texts, "value": range(len(texts))})


@pytest.mark.concurrency
def test_a_pandas_apply_of_an_io_function_overlaps_its_calls() -> None:
    _calls.clear()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        expected = label_rows(_frame(ITEMS))
    plain_calls, plain_out = sorted(map(repr, _calls)), out.getvalue()
    jitted = wavejit.jit(label_rows)
    _calls.clear()
    out = io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out):
        got = jitted(_frame(ITEMS))
    wall = time.perf_counter() - started
    pd.testing.assert_frame_equal(got, expected)
    assert out.getvalue() == plain_out
    assert sorted(map(repr, _calls)) == plain_calls
    assert_overlapped(jitted, wall)


def test_a_pandas_map_skipping_missing_values_gives_the_plain_answer() -> None:
    frame = _frame(["a", None, "ccc", float("nan"), "e"])
    expected = map_a_series(frame)
    _calls.clear()
    got = wavejit.jit(map_a_series)(_frame(["a", None, "ccc", float("nan"), "e"]))
    pd.testing.assert_series_equal(got, expected)
    assert len(_calls) == 3


def test_a_failing_row_of_an_apply_raises_the_plain_exception() -> None:
    with pytest.raises(ValueError) as plain_error:
        rows_with_a_failure(_frame(ITEMS))
    with pytest.raises(ValueError) as jit_error:
        wavejit.jit(rows_with_a_failure)(_frame(ITEMS))
    assert jit_error.value.args == plain_error.value.args


def test_an_apply_of_a_function_with_effects_runs_in_order() -> None:
    _effects.clear()
    expected = apply_with_effects(_frame(ITEMS[:4]))
    plain_effects = list(_effects)
    _effects.clear()
    got = wavejit.jit(apply_with_effects)(_frame(ITEMS[:4]))
    pd.testing.assert_series_equal(got, expected)
    assert _effects == plain_effects


# -- last_run: the data flow the arguments no longer show ------------------------------


def ensemble_and_judge(q: str) -> Any:
    answers = [classify(q + x)["label"] for x in ITEMS[:4]]
    return classify(" | ".join(answers))  # strict join: the judge gets a plain string


def test_last_run_records_that_a_judge_used_every_answer() -> None:
    jitted = wavejit.jit(ensemble_and_judge)
    assert jitted("q") == ensemble_and_judge("q")
    record = jitted.last_run
    assert record is not None and len(record.calls) == 5
    judge = record.calls[-1]
    assert judge.deps == (0, 1, 2, 3)
    # The critical path is an answer then the judge: two of the five calls (recorded
    # with no dependency, it was the judge alone, and the predicted speedup about 5x).
    _, calls = record.critical_path
    assert len(calls) == 2 and calls[-1] is judge and calls[0] in record.calls[:4]
    assert record.predicted_speedup < 3.5


# -- regressions found by the corpus ---------------------------------------------------

_events: list[tuple[str, str]] = []


class Recorder:
    def __init__(self, x: str) -> None:
        _events.append(("init", x))  # an effect the caller sees


@wavejit.io
def fetch_and_note(x: str) -> str:
    time.sleep(LATENCY)
    _events.append(("fetch", x))
    return x


def builtin_class_then_effectful_class(x: str) -> tuple[dict[str, int], str]:
    d = dict(a=1)
    r = fetch_and_note(x)
    Recorder(x)  # after the fetch in plain Python: it must not overtake it
    return d, r


def test_classes_are_judged_each_on_its_own() -> None:
    """Every class had one key (its metaclass, ``type``): the first class judged gave
    its verdict to all. ``dict`` (no effects) then made a class with effects run ahead
    of an earlier deferred call; ``StringIO`` made ``range`` an effect (a barrier)."""
    from wavejit._sites import has_effects

    assert has_effects(dict) is False
    assert has_effects(Recorder) is True
    assert has_effects(range) is False
    _events.clear()
    expected = builtin_class_then_effectful_class("a")
    plain_events = list(_events)
    _events.clear()
    assert wavejit.jit(builtin_class_then_effectful_class)("a") == expected
    assert _events == plain_events


_key = ["a"]


def set_key(k: str) -> None:
    _key[0] = k  # a global the next call reads


@wavejit.io
def ask_with_key(q: str) -> str:
    time.sleep(LATENCY / 5)
    return q + _key[0]


def key_changes_after_each_call(items: list[str]) -> list[str]:
    out = []
    for x in items:
        r = ask_with_key(x)
        out.append(r)
        set_key(x)
    return out


def key_changes_before_each_call(items: list[str]) -> list[str]:
    out = []
    for x in items:
        set_key(x + "!")
        out.append(ask_with_key(x))
    return out


@pytest.mark.parametrize("fn", [key_changes_after_each_call, key_changes_before_each_call])
def test_no_call_is_issued_ahead_of_an_earlier_call_with_effects(fn: Callable[..., Any]
                                                                 ) -> None:
    """``set_key`` runs in program order (gated); a later item's call issued before it
    ran read the old key: ['1a', '2a', '32'] instead of ['1a', '21', '32']."""
    _key[0] = "a"
    expected = fn(["1", "2", "3"])
    for _ in range(2):
        _key[0] = "a"
        assert wavejit.jit(fn)(["1", "2", "3"]) == expected


def key_changes_in_the_body(items: list[str]) -> list[str]:
    out = []
    for x in items:
        r = ask_with_key(x)
        out.append(r)
        if r:
            set_key(x)  # not hoisted: runs when the item retires
    return out


def test_a_loop_whose_body_calls_a_global_writer_stays_in_order() -> None:
    _key[0] = "a"
    expected = key_changes_in_the_body(["1", "2", "3"])
    jitted = wavejit.jit(key_changes_in_the_body)
    for _ in range(2):
        _key[0] = "a"
        assert jitted(["1", "2", "3"]) == expected
    assert any("`set_key(x)` writes module globals, which a later item's call may read"
               in note for note in jitted.explain().loops), jitted.explain().loops


tokens_used = 0  # a module-global counter, as research code keeps one


def ask_and_count(q: str) -> str:
    global tokens_used
    time.sleep(LATENCY)
    tokens_used += len(q)
    return q.upper()


def count_tokens(questions: list[str]) -> list[str]:
    return [ask_and_count(q) for q in questions]


def test_explain_names_the_global_write_that_keeps_a_call_in_order() -> None:
    # The user sees which global, where: what to change to make the loop concurrent.
    global tokens_used
    tokens_used = 0
    expected = count_tokens(["a", "bb"])
    plain_total, tokens_used = tokens_used, 0
    jitted = wavejit.jit(count_tokens)
    assert jitted(["a", "bb"]) == expected and tokens_used == plain_total
    line = ask_and_count.__code__.co_firstlineno + 3
    reasons = [reason for _, _, reason, _ in jitted.explain().sites[0].verdicts]
    assert any(f"writes module globals (`tokens_used` at line {line} of ask_and_count), so "
               "it stays in program order" in reason for reason in reasons), reasons


# -- print of a result that has not arrived (Invocation.print_later) -------------------


def prints_each_result(items: list[str]) -> list[Any]:
    """Straight-line code that prints every result: the common notebook shape."""
    a = classify(items[0])
    print(f"first: {a['label']}")
    b = classify(items[1])
    print("second:", b["label"], sep=" ", end="!\n")
    c = classify(items[2])
    print(c)
    d = classify(items[3])
    print(d["n"])
    return [a, b, c, d]


@pytest.mark.concurrency
def test_printing_a_result_does_not_wait_for_it() -> None:
    # Four calls of LATENCY printed one by one: 4 latencies in order, about one jitted.
    *_, wall, jitted = run(prints_each_result, ITEMS[:4])
    assert wall < 2.5 * LATENCY, f"took {wall:.3f} s: each print waited for its call"
    assert jitted.last_run is not None and len(jitted.last_run.calls) == 4


def prints_then_fails(items: list[str]) -> str:
    a = classify(items[0])
    print("got", a["label"])
    b = fragile(items[1])  # raises for "c"
    print("then", b)
    print("after the failure")
    return b


def test_a_print_of_a_failed_result_stops_the_output_there() -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(ValueError) as plain_error:
        prints_then_fails(["a", "c"])
    jit_out = io.StringIO()
    with contextlib.redirect_stdout(jit_out), pytest.raises(ValueError) as jit_error:
        wavejit.jit(prints_then_fails)(["a", "c"])
    assert jit_error.value.args == plain_error.value.args
    assert jit_out.getvalue() == out.getvalue() == "got A\n"


def prints_then_mutates(items: list[str]) -> dict[str, Any]:
    r = classify(items[0])
    print(r)
    r["label"] = "changed"  # after the print: it must show the old label
    print(r)
    return r


def test_a_printed_result_changed_afterwards_prints_as_it_was() -> None:
    run(prints_then_mutates, ITEMS[:1])


def prints_calls_in_fstrings(items: list[str]) -> int:
    """The cookbook's `print(f"Classification: {classify_transaction(t)}")`."""
    print(f"first: {label_of(items[0])} / {items[0]!r:>5}")
    print(f"second: {label_of(items[1])}")
    print(f"third: {label_of(items[2])}", end=".\n")
    return len(items)


@wavejit.io
def label_of(t: str) -> str:
    with _calls_lock:
        _calls.append(("label_of", t))
    time.sleep(LATENCY)
    return t.upper()


@pytest.mark.concurrency
def test_a_print_of_an_fstring_around_a_call_does_not_wait_for_it() -> None:
    # Three calls of LATENCY inside printed f-strings: 3 latencies in order, about one
    # jitted.
    *_, wall, jitted = run(prints_calls_in_fstrings, ITEMS[:3])
    assert wall < 2.2 * LATENCY, f"took {wall:.3f} s: each print waited for its call"


def _pairs_source() -> list[str]:
    return ["p", "q"]


def nested_over_a_local_list(items: list[str]) -> list[Any]:
    ys = _pairs_source()  # a call's result: the inner iterable may be pending
    out = []
    for x in items:
        for y in ys:
            out.append(classify(x + y)["label"])
    return out


def test_nested_loops_over_a_list_a_call_returned() -> None:
    # The rewrite of this shape crashed (an unpositioned node) and the error reached the
    # caller: found by an adversarial review.
    got, _, _, _, jitted = run(nested_over_a_local_list, ["a", "b"])
    assert got == ["AP", "AQ", "BP", "BQ"]
    assert "status: rewritten" in str(jitted.explain())  # not a fallback to plain


# -- an unknown helper handed an I/O client, in a loop, from the first call -----------


def summarize_with(client: Any, model: str, document: str) -> str:
    # The scan cannot tell what `client` is, so this helper "may mutate its arguments";
    # at run time they are a shareable client and strings: nothing of the caller's.
    reply = client.chat.completions.create(
        model=model, messages=[{"role": "user", "content": f"Summarize: {document}"}])
    return reply.choices[0].message.content or ""


def summarize_all(client: Any, documents: list[str]) -> list[str]:
    summaries = []
    for document in documents:
        summaries.append(summarize_with(client, "gpt-a", document))
    return summaries


@pytest.mark.concurrency
def test_a_loop_of_an_unknown_helper_handed_a_client_overlaps_on_its_first_call(
        closing: Callable[[Any], Any]) -> None:
    # Issued ahead from the first call (it used to run in order while measured: an
    # unknown callee whose arguments it may mutate). Real OpenAI client, loopback server.
    import openai

    from wavejit.bench.latency import LatencyModel
    from wavejit.bench.server import BenchServer

    latency = 0.2
    model = LatencyModel(llm=latency, api=latency, fetch=latency, per_token=0.0, jitter=0.0)
    with BenchServer(model) as server:
        client = closing(openai.OpenAI(base_url=server.base_url + "/v1", api_key="x",
                                       max_retries=0))
        docs = [f"document {i}" for i in range(6)]
        expected = summarize_all(client, docs)
        jitted = wavejit.jit(summarize_all)
        start = time.perf_counter()
        assert jitted(client, docs) == expected
        wall = time.perf_counter() - start
    # Six requests of 0.2 s: 1.2 s in order; overlapped ~0.2 s plus the client's and
    # this process's server's Python. 0.7 s leaves room for a loaded machine.
    assert wall < 0.7, f"took {wall:.3f} s: the calls did not overlap"
    overlap.assert_overlapped(jitted, deferred=6, together=3)
