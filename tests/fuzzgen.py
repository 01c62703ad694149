"""Random programs for the differential fuzzer (`test_fuzz.py`).

`programs()` is a hypothesis strategy of `Program` s: the source of a whole module made
of a fixed prelude and generated code. The prelude holds:

* I/O helpers that sleep 2-20 ms (the latency is an argument the generator picks, so it
  is never 0: every call stays I/O-bound). The pure ones are declared ``@wavejit.io``;
  those that write their arguments or a global are left undeclared and are found by the
  source scan (``time.sleep``). Failing helpers sleep three times longer before they
  raise (6-60 ms): long enough for the calls after them to race them. One raises an
  exception chained ``from`` another. Each call's (start, end) goes to ``SPANS`` (the
  harness measures overlap from it), through a method, so that recording it is not a
  write to a module global in the scan's eyes.
* ``async def`` twins of the helpers (``aio_*``, ``asyncio.sleep``) for async programs.
* ``LOG``: the one ordered channel of side effects. The harness passes it as ``log``,
  so glue (``log.append``), callees mutating their ``log`` argument (``io_note``),
  callees writing the global (``io_global``) and context managers (``Rec``) all write
  to it, and their relative order is compared. ``COUNTER`` is a global the program
  may declare ``global`` and update. ``reset()`` clears both between runs.
* ``Obj`` (value-like ``repr`` / ``==``), ``Box`` (a result with attributes), ``Rec`` /
  ``Swallow`` (recording context managers, ``with ... as``).

The generated part:

* ``g_impl(s, k, log) -> str``: a helper the harness binds to the global ``g``, plain or
  jitted (nested jit);
* ``rec_impl(s, depth, log) -> str``: a recursive helper bound to ``rec`` the same way;
* ``h(items, k) -> list``: a plain helper that loops over I/O calls (helper fan-out);
* ``Worker``: a class with state (``name``, ``hits``, ``items``) and a generated method
  ``step(self, s, k, log)``, which the harness also jits;
* ``f(x, n, log, shared)``, the function under test (``async def`` in async programs,
  which await the ``aio_*`` helpers and use no g / rec / h / Worker / closures).

Statements cover assignment, unpacking, augmented assignment, ``print``, attribute and
subscript stores, list mutation (append, extend, insert, pop, sort, reverse, del, slice
assignment, ``+=``), ``if``, ``for`` / ``while`` (with ``else``, ``break``,
``continue``), loops that print, branch, store or break on each call's result,
``try`` / ``except`` / ``else`` / ``finally`` (recover, re-raise, ``raise ... from``,
raise in a handler), ``with`` / ``with ... as``, early returns, glue ``raise``,
closures with ``nonlocal``, ``global``; calls with keyword, starred and ``**`` arguments.

Generated code is type-correct by construction (variables are tracked by type), so
nearly every example exercises the jit rather than dying on a TypeError; exceptions come
from helpers that fail on some inputs, glue ``raise`` statements and ``d[key]`` lookups.
Everything is deterministic given the inputs. Nothing generated is outside what the jit
documents as supported (no generators, ``locals()``, ``async for`` / ``async with``):
a fallback to plain is a failure.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from hypothesis import strategies as st

_T = TypeVar("_T")

# The helpers, written once: `{D}` is "def" or "async def a", `{S}` the sleep call.
# `{IO}` is the @wavejit.io line for the pure ones (async ones are awaited calls, which
# the jit starts as tasks whatever their hints).
_HELPERS = '''\
{IO}
{D}io_echo(s, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return s


{IO}
{D}io_upper(s, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return s.upper()


{IO}
{D}io_tag(s, n, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return f"<{{s}}:{{n}}>"


{IO}
{D}io_len(s, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return len(s)


{IO}
{D}io_add(a, b, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return (a + b) % 97


{IO}
{D}io_check(s, ms=2):
    with SPAN.timed():
        if "b" in s:
            {S}(3 * ms / 1000)
            raise ValueError(f"bad input {{s!r}}", len(s))
        {S}(ms / 1000)
        return s + "!"


{IO}
{D}io_lookup(key, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        table = {{"a": 1, "hi": 2, "": 3, "A": 4, "HI": 5}}
        return table[key]


{IO}
{D}io_parse(s, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        try:
            return {{"a": 7, "hi": 8, "x y": 9}}[s.strip()]
        except KeyError as exc:
            raise LookupError("cannot parse", s) from exc


{IO}
{D}io_num(n, ms=2):
    with SPAN.timed():
        if n % 3 == 0:
            {S}(3 * ms / 1000)
            raise KeyError(f"n={{n}}")
        {S}(ms / 1000)
        return n * 2 % 97


{IO}
{D}io_div(a, b, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return a // b


{IO}
{D}io_join(items, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return "|".join(str(i) for i in items)


{IO}
{D}io_count(d, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return sum(d.values()) % 97 if d else len(d)


{IO}
{D}io_json(d, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return json.dumps(d, sort_keys=True)


{IO}
{D}io_cat(*parts, sep="", ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return sep.join(str(p) for p in parts)


{IO}
{D}io_box(s, n, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return Box(s.strip(), n % 97)


{D}io_store(shared, key, value, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        shared[key] = value
        return len(shared)


{D}io_read(shared, key, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return str(shared.get(key, "none"))


{D}io_note(log, msg, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        log.append("note:" + msg)
        return len(log)


{D}io_global(msg, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        LOG.append("global:" + msg)
        return msg


{IO}
{D}io_keyed(s, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        return s + STATE[0]  # reads the module global `set_state` writes


{D}io_extend(items, s, ms=2):
    with SPAN.timed():
        {S}(ms / 1000)
        items.append(s)
        return len(items)


'''

PRELUDE = '''\
import asyncio
import json
import time

import wavejit

LOG = []  # the one ordered channel of side effects (the harness passes it as `log`)
COUNTER = 0
STATE = ["k"]  # written by `set_state`, read by `io_keyed`: a global the calls share


def reset():
    global COUNTER
    LOG.clear()
    SPAN.spans.clear()
    COUNTER = 0
    STATE[0] = "k"


def set_state(value):
    """A plain function of the program that writes a module global (the scan finds
    it): no call made after it in plain Python may read the old value."""
    STATE[0] = value
    LOG.append("state:" + value)
    return value


class Span:
    """Records each I/O call's (start, end), for the harness's overlap measure."""

    def __init__(self):
        self.spans = []

    def timed(self):
        return _Timed(self.spans)


class _Timed:
    def __init__(self, spans):
        self.spans = spans

    def __enter__(self):
        self.start = time.perf_counter()

    def __exit__(self, et, ev, tb):
        self.spans.append((self.start, time.perf_counter()))
        return False


SPAN = Span()


class Obj:
    def __repr__(self):
        return f"{type(self).__name__}({sorted(vars(self).items())!r})"

    def __eq__(self, other):
        return type(self) is type(other) and vars(self) == vars(other)


class Box(Obj):
    def __init__(self, text, n):
        self.text = text
        self.n = n


class Rec:
    def __init__(self, log, name):
        self.log = log
        self.name = name

    def __enter__(self):
        self.log.append("enter " + self.name)
        return self

    def __exit__(self, et, ev, tb):
        self.log.append(f"exit {self.name} {et.__name__ if et else None}")
        return False


class Swallow(Rec):
    def __exit__(self, et, ev, tb):
        self.log.append(f"swallow {self.name} {et.__name__ if et else None} {ev}")
        return et is not None and issubclass(et, ValueError)


''' + _HELPERS.format(IO="@wavejit.io", D="def ", S="time.sleep") + \
    _HELPERS.format(IO="", D="async def a", S="await asyncio.sleep")


# Single quotes: generated f-strings use double quotes (no nesting before 3.12).
STR_LITERALS = ["'a'", "'hi'", "' Hi '", "''", "'b!'", "'x y'"]
INT_LITERALS = ["0", "1", "2", "5", "-1"]
LATENCIES = [2, 3, 5, 8, 12, 20]  # ms; failing helpers wait 3x as long before raising
INPUT_STRS = ["a", "hi", " Hi ", "", "bob", "A b", "xyz"]

T_STR, T_INT, T_LIST, T_DICT, T_BOX, T_WORKER = "str", "int", "list", "dict", "box", "worker"
VALUE_TYPES = [T_STR, T_INT, T_LIST, T_DICT]

# Parameter names of the helpers, for keyword and ``**`` arguments (the latency last).
PARAMS: dict[str, tuple[str, ...]] = {
    "io_echo": ("s",), "io_upper": ("s",), "io_tag": ("s", "n"), "io_len": ("s",),
    "io_add": ("a", "b"), "io_check": ("s",), "io_lookup": ("key",), "io_parse": ("s",),
    "io_num": ("n",), "io_div": ("a", "b"), "io_join": ("items",), "io_count": ("d",),
    "io_json": ("d",), "io_box": ("s", "n"), "io_store": ("shared", "key", "value"),
    "io_read": ("shared", "key"), "io_note": ("log", "msg"), "io_global": ("msg",),
    "io_extend": ("items", "s"), "io_keyed": ("s",),
}


class Program:
    """A generated module (`source`) and the inputs ``(x, n)`` to call its ``f`` with."""

    def __init__(self, source: str, inputs: list[tuple[str, int]], is_async: bool,
                 variant: int) -> None:
        self.source = source
        self.inputs = inputs
        self.is_async = is_async
        self.variant = variant  # which extra jit configuration the harness also runs

    @property
    def generated(self) -> str:
        """The source after the fixed prelude."""
        return self.source[len(PRELUDE):].lstrip("\n")

    def __repr__(self) -> str:  # shown by hypothesis on failure
        return (f"Program(inputs={self.inputs!r}, is_async={self.is_async}, "
                f"variant={self.variant}, generated=<<<\n{self.generated}>>>)")


@dataclass
class Scope:
    vars: dict[str, str] = field(default_factory=dict)
    in_loop: bool = False
    in_f: bool = True  # False inside the helpers (no shared dict, no g / rec / h)
    is_async: bool = False
    glob: bool = False  # `global COUNTER` declared
    closure: str | None = None  # a nested function of f that may be called
    iterating: frozenset[str] = frozenset()  # lists a loop iterates over: not grown

    def child(self, *, loop: bool | None = None, iterating: str | None = None) -> Scope:
        return Scope(dict(self.vars), self.in_loop if loop is None else loop, self.in_f,
                     self.is_async, self.glob, self.closure,
                     self.iterating | {iterating} if iterating else self.iterating)

    def of(self, t: str) -> list[str]:
        return [name for name, ty in self.vars.items() if ty == t]


class Gen:
    """Builds source text from hypothesis draws (simplest choices first, for shrinking)."""

    def __init__(self, draw: st.DrawFn) -> None:
        self._draw = draw
        self.counter = 0
        self.budget = 0

    # -- primitives ---------------------------------------------------------------

    def int_(self, lo: int, hi: int) -> int:
        return int(self._draw(st.integers(lo, hi)))

    def choice(self, options: Sequence[_T]) -> _T:
        return options[self.int_(0, len(options) - 1)]

    def flag(self, percent: int = 50) -> bool:
        return self.int_(0, 99) < percent

    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def ms(self) -> str:
        return str(self.choice(LATENCIES))

    def call(self, name: str, args: list[str], sc: Scope) -> str:
        """A helper call, awaited in async programs, with varied argument passing."""
        params = PARAMS[name]
        style = self.choice(["pos", "pos", "kw", "starred", "dstar"])
        lat = self.ms()
        if style == "kw":
            parts = [f"{p}={a}" for p, a in zip(params, args, strict=True)] + [f"ms={lat}"]
        elif style == "starred" and args:
            parts = [f"*[{', '.join(args)}]" if len(args) > 1 else f"*({args[0]},)",
                     f"ms={lat}"]
        elif style == "dstar":
            parts = [*args, f'**{{"ms": {lat}}}']
        else:
            parts = [*args, lat if self.flag(70) else f"ms={lat}"]
        if sc.is_async:
            return f"(await a{name}({', '.join(parts)}))"
        return f"{name}({', '.join(parts)})"

    # -- expressions --------------------------------------------------------------

    def expr(self, t: str, sc: Scope, depth: int = 2) -> str:
        return {T_STR: self.str_expr, T_INT: self.int_expr, T_LIST: self.list_expr,
                T_DICT: self.dict_expr, T_BOX: self.box_expr}[t](sc, depth)

    def var_or(self, t: str, sc: Scope, fallback: Callable[[], str]) -> str:
        names = sc.of(t)
        if names and self.flag(70):
            return self.choice(names)
        return fallback()

    def str_expr(self, sc: Scope, depth: int) -> str:
        if depth <= 0:
            return self.var_or(T_STR, sc, lambda: self.choice(STR_LITERALS))
        d = depth - 1
        kinds = ["var", "lit", "echo", "upper", "fstr", "method", "slice", "tag", "check",
                 "str_int", "join", "ifexp", "json_dumps", "first", "genexp", "cat",
                 "box_attr", "call_attr", "parse"]
        if not sc.is_async:
            kinds += ["global", "keyed"]
        if sc.in_f:
            kinds += ["read", "json_dict"]
            if not sc.is_async:
                kinds += ["g", "rec"]
        if sc.of(T_WORKER):
            kinds += ["step", "worker_name"]
        if sc.closure:
            kinds += ["closure"]
        k = self.choice(kinds)
        S = partial(self.str_expr, sc, d)
        I = partial(self.int_expr, sc, d)  # noqa: E741
        L = partial(self.list_expr, sc, d)
        if k == "var":
            return self.var_or(T_STR, sc, lambda: self.choice(STR_LITERALS))
        if k == "lit":
            return self.choice(STR_LITERALS)
        if k == "echo":
            return self.call("io_echo", [S()], sc)
        if k == "upper":
            return self.call("io_upper", [S()], sc)
        if k == "fstr":
            # f-string parts at depth 0 (names and literals): never a nested f-string.
            return f'f"{{{self.str_expr(sc, 0)}}}-{{{self.int_expr(sc, 0)}}}"'
        if k == "method":
            return f"{self.atom(S())}.{self.choice(['upper()', 'strip()', 'lower()'])}"
        if k == "slice":
            return f"{self.atom(S())}[{self.choice([':2', '1:', '::-1', ':8'])}]"
        if k == "tag":
            return self.call("io_tag", [S(), I()], sc)
        if k == "check":
            return self.call("io_check", [S()], sc)
        if k == "parse":
            return f"str({self.call('io_parse', [S()], sc)})"
        if k == "str_int":
            return f"str({I()})"
        if k == "join":
            return self.call("io_join", [L()], sc)
        if k == "cat":
            parts = [S() for _ in range(self.int_(1, 3))]
            sep = f", sep={self.choice(STR_LITERALS)}" if self.flag(40) else ""
            star = f"*{self.atom(L())}, " if self.flag(30) else ""
            lat = self.ms()
            call = f"io_cat({star}{', '.join(parts)}{sep}, ms={lat})"
            return f"(await a{call})" if sc.is_async else call
        if k == "ifexp":
            return f"({S()} if {self.cond(sc, d)} else {S()})"
        if k == "json_dumps":
            return f"json.dumps({L()})"
        if k == "first":
            lst = self.var_or(T_LIST, sc, L)
            return f"({lst}[0] if {lst} else {S()})"
        if k == "genexp":
            c = self.fresh("c")
            return f"''.join({c}.strip() for {c} in {L()})"
        if k == "box_attr":
            return f"{self.atom(self.box_expr(sc, d))}.text"
        if k == "call_attr":  # attribute access straight on a call's result
            return f"{self.call('io_box', [S(), I()], sc)}.text"
        if k == "global":
            return self.call("io_global", [S()], sc)
        if k == "keyed":
            return self.call("io_keyed", [S()], sc)
        if k == "read":
            return self.call("io_read", ["shared", S()], sc)
        if k == "json_dict":
            return self.call("io_json", [self.dict_expr(sc, d)], sc)
        if k == "g":
            return f"g({S()}, {I()}, log)"
        if k == "rec":
            return f"rec({S()}, {self.choice(['0', '1', '2'])}, log)"
        if k == "step":
            return f"{self.choice(sc.of(T_WORKER))}.step({S()}, {I()}, log)"
        if k == "worker_name":
            return f"{self.choice(sc.of(T_WORKER))}.name"
        if k == "closure":
            return f"{sc.closure}({S()})"
        raise AssertionError(k)

    def int_expr(self, sc: Scope, depth: int) -> str:
        if depth <= 0:
            return self.var_or(T_INT, sc, lambda: self.choice(INT_LITERALS))
        d = depth - 1
        kinds = ["var", "lit", "len", "io_len", "arith", "add", "num", "lookup", "len_list",
                 "div", "dict_get", "sum_dict", "note", "count", "box_n"]
        if sc.in_f:
            kinds += ["store", "len_shared"]
        if sc.glob:
            kinds += ["counter"]
        if sc.of(T_WORKER):
            kinds += ["hits"]
        k = self.choice(kinds)
        S = partial(self.str_expr, sc, d)
        I = partial(self.int_expr, sc, d)  # noqa: E741
        if k == "var":
            return self.var_or(T_INT, sc, lambda: self.choice(INT_LITERALS))
        if k == "lit":
            return self.choice(INT_LITERALS)
        if k == "len":
            return f"len({S()})"
        if k == "io_len":
            return self.call("io_len", [S()], sc)
        if k == "arith":
            return f"({I()} {self.choice(['+', '*', '-'])} {I()}) % 97"
        if k == "add":
            return self.call("io_add", [I(), I()], sc)
        if k == "num":
            return self.call("io_num", [I()], sc)
        if k == "lookup":
            return self.call("io_lookup", [S()], sc)
        if k == "len_list":
            return f"len({self.list_expr(sc, d)})"
        if k == "div":
            return self.call("io_div", [I(), I()], sc)
        if k == "dict_get":
            dct = self.var_or(T_DICT, sc, lambda: self.dict_expr(sc, d))
            if self.flag(30):
                return f"{self.atom(dct)}[{S()}]"
            return f"{self.atom(dct)}.get({S()}, {I()})"
        if k == "sum_dict":
            return f"sum({self.atom(self.dict_expr(sc, d))}.values()) % 97"
        if k == "count":  # a dict container argument
            return self.call("io_count", [self.dict_expr(sc, d)], sc)
        if k == "box_n":
            return f"{self.atom(self.box_expr(sc, d))}.n"
        if k == "note":
            return self.call("io_note", ["log", S()], sc)
        if k == "store":
            return self.call("io_store", ["shared", S(), I()], sc)
        if k == "len_shared":
            return "len(shared)"
        if k == "counter":
            return "COUNTER"
        if k == "hits":
            return f"{self.choice(sc.of(T_WORKER))}.hits"
        raise AssertionError(k)

    def box_expr(self, sc: Scope, depth: int) -> str:
        if depth <= 0 or self.flag(40):
            names = sc.of(T_BOX)
            if names:
                return self.choice(names)
        d = max(depth - 1, 0)
        return self.call("io_box", [self.str_expr(sc, d), self.int_expr(sc, d)], sc)

    def list_expr(self, sc: Scope, depth: int) -> str:
        if depth <= 0:
            return self.var_or(T_LIST, sc, lambda: f"[{self.str_expr(sc, 0)}]")
        d = depth - 1
        kinds = ["var", "display", "comp", "comp_if", "json", "sorted", "slice", "keys",
                 "comp_check", "split", "lambda_sort", "comp_nested"]
        if sc.in_f and not sc.is_async:
            kinds += ["fan_out"]
        k = self.choice(kinds)
        S = partial(self.str_expr, sc, d)
        L = partial(self.list_expr, sc, d)
        if k == "var":
            return self.var_or(T_LIST, sc, lambda: f"[{S()}]")
        if k == "display":
            return "[" + ", ".join(S() for _ in range(self.int_(0, 3))) + "]"
        if k == "fan_out":
            return f"h({L()}, {self.int_expr(sc, d)})"
        c = self.fresh("c")
        inner = sc.child()
        inner.vars[c] = T_STR
        if k == "comp":
            call = self.choice(["io_upper", "io_echo", "io_check"])
            return f"[{self.call(call, [c], sc)} for {c} in {L()}]"
        if k == "comp_if":
            return f"[{self.str_expr(inner, d)} for {c} in {L()} if {self.cond(inner, 0)}]"
        if k == "json":
            return f"json.loads(json.dumps({L()}))"
        if k == "sorted":
            return f"sorted({L()})"
        if k == "slice":
            return f"{self.atom(L())}[{self.choice(['1:', ':2', '::-1'])}]"
        if k == "keys":
            return f"list({self.dict_expr(sc, d)})"
        if k == "comp_check":
            return f"[{self.call('io_tag', [c, self.int_expr(inner, d)], sc)} for {c} in {L()}]"
        if k == "split":
            return f"{self.atom(S())}.split()"
        if k == "lambda_sort":
            return f"sorted({L()}, key=lambda z: (len(z), z))"
        if k == "comp_nested":
            r = self.fresh("c")
            return (f"[{r} + {r} for {r} in [{self.call('io_upper', [c], sc)} for {c} in "
                    f"{L()}] if {r}]")
        raise AssertionError(k)

    def dict_expr(self, sc: Scope, depth: int) -> str:
        if depth <= 0:
            return self.var_or(T_DICT, sc, lambda: "{}")
        d = depth - 1
        k = self.choice(["var", "display", "comp", "json", "comp_items", "copy"])
        if k == "var":
            return self.var_or(T_DICT, sc, lambda: "{}")
        if k == "display":
            n = self.int_(0, 2)
            return "{" + ", ".join(f"{self.str_expr(sc, d)}: {self.int_expr(sc, d)}"
                                   for _ in range(n)) + "}"
        c = self.fresh("c")
        inner = sc.child()
        inner.vars[c] = T_STR
        if k == "comp":
            call = self.choice(["io_len", "io_lookup"])
            return f"{{{c}: {self.call(call, [c], sc)} for {c} in {self.list_expr(sc, d)}}}"
        if k == "json":
            return f"json.loads({self.call('io_json', [self.dict_expr(sc, d)], sc)})"
        if k == "comp_items":
            v = self.fresh("c")
            return (f"{{{c}.upper(): {self.call('io_add', [v, '1'], sc)} for {c}, {v} in "
                    f"{self.atom(self.dict_expr(sc, d))}.items()}}")
        if k == "copy":
            return f"dict({self.dict_expr(sc, d)})"
        raise AssertionError(k)

    @staticmethod
    def atom(src: str) -> str:
        """`src` made safe to put before ``.attr`` or ``[...]``."""
        if src.isidentifier() or (src[:1] in "[{(" and src[-1:] in "]})"):
            return src
        return f"({src})"

    def cond(self, sc: Scope, depth: int) -> str:
        k = self.choice(["len_s", "mod", "startswith", "in_list", "eq", "truthy", "gt",
                         "in_shared", "not"])
        S = partial(self.str_expr, sc, depth)
        I = partial(self.int_expr, sc, depth)  # noqa: E741
        if k == "len_s":
            return f"len({S()}) > {self.choice(['0', '2', '3'])}"
        if k == "mod":
            return f"{self.atom(I())} % 2 == 0"
        if k == "startswith":
            return f"{self.atom(S())}.startswith({self.choice(STR_LITERALS)})"
        if k == "in_list":
            return f"{S()} in {self.atom(self.list_expr(sc, depth))}"
        if k == "eq":
            return f"{S()} == {S()}"
        if k == "truthy":
            return self.atom(S())
        if k == "gt":
            return f"{I()} > {I()}"
        if k == "in_shared":
            return f"{S()} in shared" if sc.in_f else f"{S()} in log"
        if k == "not":
            return f"not {self.atom(self.list_expr(sc, depth))}"
        raise AssertionError(k)

    # -- statements ---------------------------------------------------------------

    def block(self, sc: Scope, depth: int, lo: int = 1, hi: int = 3) -> list[str]:
        lines: list[str] = []
        for _ in range(self.int_(lo, hi)):
            if self.budget <= 0:
                break
            lines += self.stmt(sc, depth)
        return lines or ["pass"]

    def stmt(self, sc: Scope, depth: int, kind: str | None = None) -> list[str]:
        self.budget -= 1
        kinds = ["assign", "assign", "reassign", "unpack", "log", "call_stmt", "augassign",
                 "print", "list_mut", "sub_store", "box", "assign_call", "assign_call",
                 "assign_call"]
        if depth > 0:
            kinds += ["if", "for_append", "for_dict", "for_generic", "try", "try", "try",
                      "with", "with", "early_return", "while", "loop_use", "loop_use"]
        if sc.in_f:
            kinds += ["shared_set", "store_stmt"]
        if sc.in_loop:
            kinds += ["break", "continue"]
        if sc.glob:
            kinds += ["counter"]
        if sc.of(T_WORKER):
            kinds += ["attr_store"]
        kinds += ["glue_raise", "return_if"]
        k = kind or self.choice(kinds)
        d = depth - 1
        ed = self.int_(1, 2)
        if k == "assign" or (k == "reassign" and not self.reassignable(sc)):
            t = self.choice(VALUE_TYPES)
            value = self.expr(t, sc, ed)
            name = self.fresh()
            sc.vars[name] = t
            return [f"{name} = {value}"]
        if k == "assign_call":  # a call on names and literals: independent of the rest
            name = self.fresh()
            helper, t = self.choice([("io_upper", T_STR), ("io_echo", T_STR),
                                     ("io_len", T_INT), ("io_check", T_STR),
                                     ("io_tag", T_STR)])
            args = [self.str_expr(sc, 0)] + ([self.int_expr(sc, 0)] if helper == "io_tag"
                                             else [])
            sc.vars[name] = t
            return [f"{name} = {self.bare(self.call(helper, args, sc))}"]
        if k == "reassign":
            name = self.choice(self.reassignable(sc))
            return [f"{name} = {self.expr(sc.vars[name], sc, ed)}"]
        if k == "box":
            name = self.fresh("b")
            value = self.box_expr(sc, ed)
            sc.vars[name] = T_BOX
            return [f"{name} = {value}"]
        if k == "unpack":
            t1, t2 = self.choice([T_STR, T_INT]), self.choice([T_STR, T_INT, T_LIST])
            e1, e2 = self.expr(t1, sc, ed), self.expr(t2, sc, ed)
            a, b = self.fresh(), self.fresh()
            sc.vars[a], sc.vars[b] = t1, t2
            if self.flag(25):  # a starred target: b is a list of the rest
                sc.vars[b] = T_LIST
                return [f"{a}, *{b} = {e1}, {e2}"]
            return [f"{a}, {b} = {e1}, {e2}"]
        if k == "log":
            m = self.fresh("m")
            if self.flag():
                return [f'log.append(f"{m} {{{self.str_expr(sc, 0)}}} '
                        f'{{{self.int_expr(sc, 0)}}}")']
            return [f"log.append('{m} ' + {self.str_expr(sc, ed)})"]
        if k == "print":
            how = self.choice(["one", "many", "fstr"])
            if how == "one":
                return [f"print({self.str_expr(sc, ed)})"]
            if how == "many":
                return [f"print({self.str_expr(sc, ed)}, {self.int_expr(sc, ed)}, "
                        f"sep={self.choice(STR_LITERALS)})"]
            return [f'print(f"p {{{self.str_expr(sc, 0)}}} {{{self.int_expr(sc, 0)}}}")']
        if k == "call_stmt":
            options = ["note"]
            if not sc.is_async:
                options += ["global", "state"]
                if sc.in_f:
                    options += ["g", "rec"]
            if sc.of(T_LIST):
                options.append("extend")
            c = self.choice(options)
            if c == "note":
                return [self.bare(self.call("io_note", ["log", self.str_expr(sc, ed)], sc))]
            if c == "global":
                return [self.call("io_global", [self.str_expr(sc, ed)], sc)]
            if c == "state":
                return [f"set_state({self.str_expr(sc, ed)})"]
            if c == "extend":
                lists = [n for n in sc.of(T_LIST) if n not in sc.iterating]
                if not lists:
                    return [self.bare(self.call("io_note", ["log", self.str_expr(sc, ed)],
                                                sc))]
                return [self.bare(self.call("io_extend", [self.choice(lists),
                                                          self.str_expr(sc, ed)], sc))]
            if c == "rec":
                return [f"rec({self.str_expr(sc, ed)}, 1, log)"]
            return [f"g({self.str_expr(sc, ed)}, {self.int_expr(sc, 1)}, log)"]
        if k == "augassign":
            names = [n for n in sc.of(T_INT) + sc.of(T_STR) if n.isidentifier()
                     or n.startswith("self.")]
            if not names:
                return [f"log.append({self.str_expr(sc, ed)})"]
            name = self.choice(names)
            if sc.vars[name] == T_INT:
                return [f"{name} += {self.int_expr(sc, ed)}", f"{name} %= 97"]
            return [f"{name} += {self.str_expr(sc, ed)}", f"{name} = {name}[:12]"]
        if k == "list_mut":
            lists = [n for n in sc.of(T_LIST) if n not in sc.iterating]
            if not lists:
                return [f"log.extend([{self.str_expr(sc, ed)}])"]
            lst = self.choice(lists)
            how = self.choice(["extend", "insert", "pop", "sort", "reverse", "del",
                               "slice", "iadd", "remove", "clear_refill"])
            if how == "extend":
                return [f"{lst}.extend({self.list_expr(sc, ed)})"]
            if how == "insert":
                return [f"{lst}.insert(0, {self.str_expr(sc, ed)})"]
            if how == "pop":
                return [f"if {lst}:", f"    log.append('popped ' + {lst}.pop())"]
            if how == "sort":
                return [f"{lst}.sort()"]
            if how == "reverse":
                return [f"{lst}.reverse()"]
            if how == "del":
                return [f"if {lst}:", f"    del {lst}[0]"]
            if how == "slice":
                return [f"{lst}[:1] = [{self.str_expr(sc, ed)}]"]
            if how == "iadd":
                return [f"{lst} += [{self.str_expr(sc, ed)}]"]
            if how == "remove":
                s = self.str_expr(sc, ed)
                return [f"if {s} in {lst}:", f"    {lst}.remove({s})"]
            return [f"{lst}.clear()", f"{lst}.append({self.str_expr(sc, ed)})"]
        if k == "sub_store":
            dicts, lists = sc.of(T_DICT), [n for n in sc.of(T_LIST) if n not in sc.iterating]
            if dicts and (not lists or self.flag()):
                return [f"{self.choice(dicts)}[{self.str_expr(sc, ed)}] = "
                        f"{self.int_expr(sc, ed)}"]
            if lists:
                lst = self.choice(lists)
                return [f"if {lst}:", f"    {lst}[-1] = {self.str_expr(sc, ed)}"]
            return [f"shared[{self.str_expr(sc, ed)}] = {self.int_expr(sc, ed)}"
                    if sc.in_f else f"log.append({self.str_expr(sc, ed)})"]
        if k == "attr_store":
            w = self.choice(sc.of(T_WORKER))
            if self.flag():
                return [f"{w}.name = {self.str_expr(sc, ed)}"]
            return [f"{w}.items.append({self.str_expr(sc, ed)})"]
        if k == "counter":
            return [f"COUNTER += {self.int_expr(sc, ed)}", "COUNTER %= 97"]
        if k == "shared_set":
            return [f"shared[{self.str_expr(sc, ed)}] = {self.int_expr(sc, ed)}"]
        if k == "store_stmt":
            return [self.bare(self.call("io_store", ["shared", self.str_expr(sc, ed),
                                                     self.int_expr(sc, ed)], sc))]
        if k == "break":
            return [f"if {self.cond(sc, 1)}:", "    break"]
        if k == "continue":
            return [f"if {self.cond(sc, 1)}:", "    continue"]
        if k == "glue_raise":
            exc = self.choice(["ValueError", "KeyError", "RuntimeError"])
            return [f"if {self.cond(sc, 1)}:",
                    f"    raise {exc}('glue ' + {self.str_expr(sc, 1)}, "
                    f"{self.int_expr(sc, 0)})"]
        if k == "return_if":
            return [f"if {self.cond(sc, 1)}:", f"    return {self.ret_expr(sc)}"]
        if k == "if":
            cond = self.cond(sc, ed)
            body = self.block(sc.child(), d)
            lines = [f"if {cond}:", *indent(body)]
            if self.flag(60):
                lines += ["else:", *indent(self.block(sc.child(), d))]
            return lines
        if k in ("for_append", "for_dict", "for_generic", "early_return", "loop_use"):
            lst = self.list_expr(sc, ed)
            t = self.fresh("t")
            inner = sc.child(loop=True, iterating=lst if lst in sc.vars else None)
            inner.vars[t] = T_STR
            if k == "for_append":
                acc = self.fresh()
                call = self.choice([self.call("io_upper", [t], sc),
                                    self.call("io_check", [t], sc),
                                    self.str_expr(inner, 2)])
                lines = [f"{acc} = []", f"for {t} in {lst}:"]
                extra = self.block(inner, d, 0, 1) if self.flag(30) else []
                lines += indent([*extra, f"{acc}.append({call})"])
                sc.vars[acc] = T_LIST
                return lines + self.loop_else(sc, d)
            if k == "for_dict":
                acc = self.fresh()
                value = self.choice([self.call("io_len", [t], sc),
                                     self.call("io_lookup", [t], sc),
                                     self.int_expr(inner, 2)])
                sc.vars[acc] = T_DICT
                return [f"{acc} = {{}}", f"for {t} in {lst}:",
                        f"    {acc}[{t}] = {value}"]
            if k == "early_return":
                r = self.fresh()
                value = self.str_expr(inner, 2)
                inner.vars[r] = T_STR
                body = [f"{r} = {value}",
                        f"if {self.cond(inner, 1)}:", f"    return {self.ret_expr(inner)}"]
                return [f"for {t} in {lst}:", *indent(body)]
            if k == "loop_use":
                return self.loop_use(sc, inner, t, lst, d)
            return [f"for {t} in {lst}:", *indent(self.block(inner, d))] + \
                self.loop_else(sc, d)
        if k == "while":
            i = self.fresh("k")
            inner = sc.child(loop=True)
            body = self.block(inner, d)
            return [f"{i} = 0", f"while {i} < {self.choice(['1', '2', '3'])}:",
                    f"    {i} += 1", *indent(body)] + self.loop_else(sc, d)
        if k == "try":
            return self.try_stmt(sc, d)
        if k == "with":
            cm = self.choice(["Rec", "Swallow"])
            w = self.fresh("w")
            if self.flag():
                r = self.fresh("r")
                inner = sc.child()
                body = [f"log.append('in ' + {r}.name)", *self.block(inner, d)]
                return [f'with {cm}(log, "{w}") as {r}:', *indent(body)]
            return [f'with {cm}(log, "{w}"):', *indent(self.block(sc.child(), d))]
        raise AssertionError(k)

    @staticmethod
    def reassignable(sc: Scope) -> list[str]:
        return sorted(n for n, t in sc.vars.items() if t in VALUE_TYPES)

    @staticmethod
    def bare(call: str) -> str:
        """A call as an expression statement (no parentheses around an await)."""
        return call[1:-1] if call.startswith("(await ") else call

    def loop_else(self, sc: Scope, depth: int) -> list[str]:
        if not self.flag(25):
            return []
        return ["else:", *indent(self.block(sc.child(), max(depth, 0), 1, 1))]

    def loop_use(self, sc: Scope, inner: Scope, t: str, lst: str, depth: int) -> list[str]:
        """A loop that uses each call's result at once: print, branch, store or break."""
        r = self.fresh("r")
        helper = self.choice(["io_upper", "io_echo", "io_check", "io_tag"])
        args = [t, self.int_expr(inner, 0)] if helper == "io_tag" else [t]
        inner.vars[r] = T_STR
        body = [f"{r} = {self.call(helper, args, inner)}"]
        lines: list[str] = []
        use = self.choice(["print", "branch", "store", "break", "dict", "log"])
        if use == "print":
            body.append(f"print({t}, {r})")
        elif use == "branch":
            body += [f"if {self.cond(inner, 0)}:",
                     *indent(self.block(inner.child(), 0, 1, 1)),
                     "else:", f"    log.append({r})"]
        elif use == "store":
            acc = self.fresh()
            lines.append(f"{acc} = []")
            body.append(f"{acc}.append({r}[:4] + '.')")
            sc.vars[acc] = T_LIST
        elif use == "dict":
            acc = self.fresh()
            lines.append(f"{acc} = {{}}")
            body.append(f"{acc}[{t}] = len({r})")
            sc.vars[acc] = T_DICT
        elif use == "log":
            body.append(f'log.append(f"{{{t}}}={{{r}}}")')
        else:
            body += [f"if {self.cond(inner, 0)}:", "    break"]
        if self.flag(30):
            body += self.block(inner, 0, 1, 1)
        return [*lines, f"for {t} in {lst}:", *indent(body)] + self.loop_else(sc, depth)

    def try_stmt(self, sc: Scope, d: int) -> list[str]:
        lines = ["try:", *indent(self.block(sc.child(), d))]
        handlers = self.int_(0, 2)
        for _ in range(handlers):
            exc = self.choice(["ValueError", "KeyError", "(ValueError, KeyError)",
                               "Exception", "ZeroDivisionError", "LookupError"])
            e = self.fresh("e")
            body = [f'log.append(f"caught {{type({e}).__name__}} {{{e}}}")']
            how = self.choice(["recover", "reraise", "wrap", "pass", "raise_in_handler",
                               "call"])
            if how == "recover" and self.reassignable(sc):
                name = self.choice(self.reassignable(sc))
                body.append(f"{name} = {self.expr(sc.vars[name], sc, 1)}")
            elif how == "reraise":
                body.append("raise")
            elif how == "wrap":
                body.append(f'raise RuntimeError(f"wrapped {{{e}}}", 1) from {e}')
            elif how == "raise_in_handler":  # implicit __context__
                body.append(f"raise KeyError('in handler', {e}.args)")
            elif how == "call":  # a call in a handler, which may fail in turn
                body.append(self.bare(self.call("io_check", [f"str({e})[:3]"], sc)))
            else:
                body += self.block(sc.child(), 0, 0, 1)
            lines += [f"except {exc} as {e}:", *indent(body)]
        if handlers and self.flag(30):
            lines += ["else:", *indent(self.block(sc.child(), 0, 1, 1))]
        if not handlers or self.flag(50):
            lines += ["finally:", f'    log.append("finally {self.fresh("f")}")']
            if self.flag(30):
                lines += indent(self.block(sc.child(), 0, 1, 1))
        return lines

    def ret_expr(self, sc: Scope) -> str:
        if not sc.in_f:  # the helpers return a str, as their callers expect
            return self.str_expr(sc, 1)
        names = sorted(sc.vars)
        k = self.choice(["tuple", "single", "dict", "list_of"])
        if not names or k == "single":
            return self.expr(self.choice(VALUE_TYPES), sc, 1)
        picked = [self.choice(names) for _ in range(self.int_(1, 4))]
        if k == "tuple":
            return "(" + ", ".join(picked) + ",)"
        if k == "dict":
            return "{" + ", ".join(f'"{p}": {p}' for p in picked) + "}"
        return "[" + ", ".join(picked) + "]"


def indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


VARIANTS = 5  # the harness's extra configurations (test_fuzz.VARIANTS), one per program


@st.composite
def programs(draw: st.DrawFn, async_share: int = 25) -> Program:
    """A module with the helpers and ``f``; `async_share` percent are ``async def``."""
    gen = Gen(draw)
    is_async = gen.flag(async_share)
    helper_scope = Scope({"s": T_STR, "k": T_INT}, in_f=False)
    # g_impl(s, k, log) -> str: the nested (jitted) helper.
    gen.budget = gen.int_(0, 3)
    g_body = [line for line in (gen.block(helper_scope.child(), 1, 0, 3)
                                if gen.budget else []) if line != "pass"]
    g_body.append(f"return {gen.str_expr(helper_scope.child(), 1)}")
    # rec_impl(s, depth, log) -> str: recursion through the global `rec`.
    leaf = gen.call(gen.choice(["io_echo", "io_upper", "io_check"]), ["s"], helper_scope)
    join = gen.choice(["left + right", "f'{left}|{right}'", "io_cat(left, right, ms=2)"])
    rec_body = ["if depth <= 0:", f"    return {leaf}",
                "left = rec(s + 'L', depth - 1, log)",
                "right = rec(s + 'R', depth - 1, log)", f"return {join}"]
    # h(items, k) -> list: helper fan-out, a plain function looping over I/O calls.
    it = "it"
    h_call = gen.choice([gen.call("io_tag", [it, "k"], helper_scope),
                         gen.call("io_upper", [it], helper_scope),
                         gen.call("io_check", [it], helper_scope)])
    h_body = (["out = []", f"for {it} in items:", f"    out.append({h_call})", "return out"]
              if gen.flag() else [f"return [{h_call} for {it} in items]"])
    # Worker.step(self, s, k, log) -> str: a method with state.
    wsc = Scope({"s": T_STR, "k": T_INT, "self.name": T_STR, "self.hits": T_INT,
                 "self.items": T_LIST}, in_f=False)
    gen.budget = gen.int_(0, 3)
    step_body = ["self.hits += 1"]
    step_body += [line for line in (gen.block(wsc, 1, 0, 2) if gen.budget else [])
                  if line != "pass"]
    step_body += [f"self.items.append({gen.str_expr(wsc, 1)})",
                  f"return {gen.str_expr(wsc, 1)}"]
    # f(x, n, log, shared): the function under test.
    fsc = Scope({"x": T_STR, "n": T_INT}, is_async=is_async)
    head: list[str] = []
    if gen.flag(30):
        head.append("global COUNTER")
        fsc.glob = True
    if not is_async:
        if gen.flag(40):
            head.append("w = Worker(x)")
            fsc.vars["w"] = T_WORKER
        if gen.flag(30):
            head += ["cnt = 0", "", "def bump(z):", "    nonlocal cnt", "    cnt += 1",
                     f"    return {gen.call('io_echo', ['z + str(cnt)'], helper_scope)}",
                     ""]
            fsc.closure = "bump"
    # Two or three calls first that could run together (a program with fewer has
    # nothing to show), then anything.
    lead = [line for _ in range(gen.int_(2, 3))
            for line in gen.stmt(fsc, 2, gen.choice(["assign_call", "assign_call",
                                                     "loop_use", "for_append"]))]
    gen.budget = gen.int_(1, 10)
    f_body = head + lead + gen.block(fsc, 2, 1, 8)
    f_body.append(f"return {gen.ret_expr(fsc)}")
    define = "async def" if is_async else "def"
    source = PRELUDE + "\n".join([
        "def g_impl(s, k, log):", *indent(g_body), "", "",
        "g = g_impl", "", "",
        "def rec_impl(s, depth, log):", *indent(rec_body), "", "",
        "rec = rec_impl", "", "",
        "def h(items, k):", *indent(h_body), "", "",
        "class Worker(Obj):",
        "    def __init__(self, name):",
        "        self.name = name", "        self.hits = 0", "        self.items = []", "",
        "    def step(self, s, k, log):", *indent(indent(step_body)), "", "",
        f"{define} f(x, n, log, shared):", *indent(f_body), "",
    ])
    inputs = [(gen.choice(INPUT_STRS), gen.int_(-1, 6)) for _ in range(gen.int_(1, 2))]
    return Program(source, inputs, is_async, gen.int_(0, VARIANTS - 1))
