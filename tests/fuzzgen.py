"""Random programs for the differential fuzzer (`test_fuzz.py`).

`programs()` is a hypothesis strategy of `Program` s: the source of a whole module made
of a fixed prelude (module-level "I/O" helpers that ``time.sleep`` for 0-3 ms, a
context manager that records enter/exit, a module-level log written by a callee) and
two generated functions:

* ``g_impl(s, k, log) -> str``: a small helper; the harness binds the module global
  ``g`` to it (plain run) or to a jitted copy of it (nested jit);
* ``f(x, n, log, shared)``: the function under test; ``x`` is a str, ``n`` an int,
  ``log`` a list that glue code and callees append to, ``shared`` a dict that callees
  mutate and read.

Generated code is type-correct by construction (variables are tracked by type: str,
int, list of str, dict of str to int), so nearly every example exercises the jit
rather than dying on a TypeError; the exceptions it raises come from helpers that
fail on some inputs (ValueError / KeyError / ZeroDivisionError with messages that
depend on the input), from glue ``raise`` statements and from ``d[key]`` lookups.
Everything is deterministic given the inputs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from hypothesis import strategies as st

PRELUDE = '''\
import json
import time

GLOG = []


def io_echo(s, ms=0):
    time.sleep(ms / 1000)
    return s


def io_upper(s, ms=0):
    time.sleep(ms / 1000)
    return s.upper()


def io_tag(s, n, ms=0):
    time.sleep(ms / 1000)
    return f"<{s}:{n}>"


def io_len(s, ms=0):
    time.sleep(ms / 1000)
    return len(s)


def io_add(a, b, ms=0):
    time.sleep(ms / 1000)
    return (a + b) % 97


def io_check(s, ms=0):
    time.sleep(ms / 1000)
    if "b" in s:
        raise ValueError(f"bad input {s!r}")
    return s + "!"


def io_lookup(key, ms=0):
    time.sleep(ms / 1000)
    table = {"a": 1, "hi": 2, "": 3, "A": 4, "HI": 5}
    return table[key]


def io_num(n, ms=0):
    time.sleep(ms / 1000)
    if n % 3 == 0:
        raise KeyError(f"n={n}")
    return n * 2 % 97


def io_div(a, b, ms=0):
    time.sleep(ms / 1000)
    return a // b


def io_join(items, ms=0):
    time.sleep(ms / 1000)
    return "|".join(str(i) for i in items)


def io_json(d, ms=0):
    time.sleep(ms / 1000)
    return json.dumps(d, sort_keys=True)


def io_store(shared, key, value, ms=0):
    time.sleep(ms / 1000)
    shared[key] = value
    return len(shared)


def io_read(shared, key, ms=0):
    time.sleep(ms / 1000)
    return str(shared.get(key, "none"))


def io_note(log, msg, ms=0):
    time.sleep(ms / 1000)
    log.append("note:" + msg)
    return len(log)


def io_global(msg, ms=0):
    time.sleep(ms / 1000)
    GLOG.append(msg)
    return msg


def io_extend(items, s, ms=0):
    time.sleep(ms / 1000)
    items.append(s)
    return len(items)


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


'''

# Single quotes: generated f-strings use double quotes (no nesting before 3.12).
STR_LITERALS = ["'a'", "'hi'", "' Hi '", "''", "'b!'", "'x y'"]
INT_LITERALS = ["0", "1", "2", "5", "-1"]
LATENCIES = [0, 0, 0, 0, 0, 0, 0, 1, 2, 3]
INPUT_STRS = ["a", "hi", " Hi ", "", "bob", "A b", "xyz"]

T_STR, T_INT, T_LIST, T_DICT = "str", "int", "list", "dict"


class Program:
    """A generated module (`source`) and the inputs ``(x, n)`` to call its ``f`` with."""

    def __init__(self, source: str, inputs: list[tuple[str, int]]) -> None:
        self.source = source
        self.inputs = inputs

    @property
    def generated(self) -> str:
        """The source after the fixed prelude: ``g_impl``, ``g`` and ``f``."""
        return self.source[len(PRELUDE):].lstrip("\n")

    def __repr__(self) -> str:  # shown by hypothesis on failure
        return f"Program(inputs={self.inputs!r}, generated=<<<\n{self.generated}>>>)"


@dataclass
class Scope:
    vars: dict[str, str] = field(default_factory=dict)
    in_loop: bool = False
    in_f: bool = True  # False inside g_impl (no shared dict, no g)

    def child(self, *, loop: bool | None = None) -> Scope:
        return Scope(dict(self.vars), self.in_loop if loop is None else loop, self.in_f)

    def of(self, t: str) -> list[str]:
        return [name for name, ty in self.vars.items() if ty == t]


class Gen:
    """Builds source text from hypothesis draws (simplest choices first, for shrinking)."""

    def __init__(self, draw: Callable[[Any], Any]) -> None:
        self._draw = draw
        self.counter = 0
        self.budget = 0

    # -- primitives ---------------------------------------------------------------

    def int_(self, lo: int, hi: int) -> int:
        return int(self._draw(st.integers(lo, hi)))

    def choice(self, options: list[Any]) -> Any:
        return options[self.int_(0, len(options) - 1)]

    def flag(self, percent: int = 50) -> bool:
        return self.int_(0, 99) < percent

    def fresh(self, prefix: str = "v") -> str:
        self.counter += 1
        return f"{prefix}{self.counter}"

    def ms(self) -> str:
        return str(self.choice(LATENCIES))

    def lat(self) -> str:
        """The latency argument of a helper call: positional or keyword."""
        value = self.ms()
        return f"ms={value}" if self.flag(30) else value

    # -- expressions --------------------------------------------------------------

    def expr(self, t: str, sc: Scope, depth: int = 2) -> str:
        return {T_STR: self.str_expr, T_INT: self.int_expr, T_LIST: self.list_expr,
                T_DICT: self.dict_expr}[t](sc, depth)

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
                 "str_int", "join", "ifexp", "json_dumps", "first", "genexp", "global"]
        if sc.in_f:
            kinds += ["read", "g", "json_dict"]
        k = self.choice(kinds)
        S = lambda: self.str_expr(sc, d)  # noqa: E731
        I = lambda: self.int_expr(sc, d)  # noqa: E731, E741
        L = lambda: self.list_expr(sc, d)  # noqa: E731
        if k == "var":
            return self.var_or(T_STR, sc, lambda: self.choice(STR_LITERALS))
        if k == "lit":
            return self.choice(STR_LITERALS)
        if k == "echo":
            return f"io_echo({S()}, {self.lat()})"
        if k == "upper":
            return f"io_upper({S()}, {self.lat()})"
        if k == "fstr":
            # f-string parts at depth 0 (names and literals): never a nested f-string.
            return f'f"{{{self.str_expr(sc, 0)}}}-{{{self.int_expr(sc, 0)}}}"'
        if k == "method":
            return f"{self.atom(S())}.{self.choice(['upper()', 'strip()', 'lower()'])}"
        if k == "slice":
            return f"{self.atom(S())}[{self.choice([':2', '1:', '::-1', ':8'])}]"
        if k == "tag":
            return f"io_tag({S()}, {I()}, {self.lat()})"
        if k == "check":
            return f"io_check({S()}, {self.lat()})"
        if k == "str_int":
            return f"str({I()})"
        if k == "join":
            return f"io_join({L()}, {self.lat()})"
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
        if k == "global":
            return f"io_global({S()}, {self.lat()})"
        if k == "read":
            return f"io_read(shared, {S()}, {self.lat()})"
        if k == "g":
            return f"g({S()}, {I()}, log)"
        if k == "json_dict":
            return f"io_json({self.dict_expr(sc, d)}, {self.lat()})"
        raise AssertionError(k)

    def int_expr(self, sc: Scope, depth: int) -> str:
        if depth <= 0:
            return self.var_or(T_INT, sc, lambda: self.choice(INT_LITERALS))
        d = depth - 1
        kinds = ["var", "lit", "len", "io_len", "arith", "add", "num", "lookup", "len_list",
                 "div", "dict_get", "sum_dict", "note"]
        if sc.in_f:
            kinds += ["store", "len_shared"]
        k = self.choice(kinds)
        S = lambda: self.str_expr(sc, d)  # noqa: E731
        I = lambda: self.int_expr(sc, d)  # noqa: E731, E741
        if k == "var":
            return self.var_or(T_INT, sc, lambda: self.choice(INT_LITERALS))
        if k == "lit":
            return self.choice(INT_LITERALS)
        if k == "len":
            return f"len({S()})"
        if k == "io_len":
            return f"io_len({S()}, {self.lat()})"
        if k == "arith":
            return f"({I()} {self.choice(['+', '*', '-'])} {I()}) % 97"
        if k == "add":
            return f"io_add({I()}, {I()}, {self.lat()})"
        if k == "num":
            return f"io_num({I()}, {self.lat()})"
        if k == "lookup":
            return f"io_lookup({S()}, {self.lat()})"
        if k == "len_list":
            return f"len({self.list_expr(sc, d)})"
        if k == "div":
            return f"io_div({I()}, {I()}, {self.lat()})"
        if k == "dict_get":
            dct = self.var_or(T_DICT, sc, lambda: self.dict_expr(sc, d))
            if self.flag(30):
                return f"{self.atom(dct)}[{S()}]"
            return f"{self.atom(dct)}.get({S()}, {I()})"
        if k == "sum_dict":
            return f"sum({self.atom(self.dict_expr(sc, d))}.values()) % 97"
        if k == "note":
            return f"io_note(log, {S()}, {self.lat()})"
        if k == "store":
            return f"io_store(shared, {S()}, {I()}, {self.lat()})"
        if k == "len_shared":
            return "len(shared)"
        raise AssertionError(k)

    def list_expr(self, sc: Scope, depth: int) -> str:
        if depth <= 0:
            return self.var_or(T_LIST, sc, lambda: f"[{self.str_expr(sc, 0)}]")
        d = depth - 1
        k = self.choice(["var", "display", "comp", "comp_if", "json", "sorted", "slice",
                         "keys", "comp_check", "split", "lambda_sort", "comp_nested"])
        S = lambda: self.str_expr(sc, d)  # noqa: E731
        L = lambda: self.list_expr(sc, d)  # noqa: E731
        if k == "var":
            return self.var_or(T_LIST, sc, lambda: f"[{S()}]")
        if k == "display":
            return "[" + ", ".join(S() for _ in range(self.int_(0, 3))) + "]"
        c = self.fresh("c")
        inner = sc.child()
        inner.vars[c] = T_STR
        if k == "comp":
            call = self.choice(["io_upper", "io_echo", "io_check"])
            return f"[{call}({c}, {self.lat()}) for {c} in {L()}]"
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
            return f"[io_tag({c}, {self.int_expr(inner, d)}, {self.lat()}) for {c} in {L()}]"
        if k == "split":
            return f"{self.atom(S())}.split()"
        if k == "lambda_sort":
            return f"sorted({L()}, key=lambda z: (len(z), z))"
        if k == "comp_nested":
            r = self.fresh("c")
            return (f"[{r} + {r} for {r} in [io_upper({c}, {self.lat()}) for {c} in {L()}]"
                    f" if {r}]")
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
            return f"{{{c}: {call}({c}, {self.lat()}) for {c} in {self.list_expr(sc, d)}}}"
        if k == "json":
            return f"json.loads(io_json({self.dict_expr(sc, d)}, {self.lat()}))"
        if k == "comp_items":
            v = self.fresh("c")
            return (f"{{{c}.upper(): io_add({v}, 1, {self.lat()}) for {c}, {v} in "
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
        S = lambda: self.str_expr(sc, depth)  # noqa: E731
        I = lambda: self.int_expr(sc, depth)  # noqa: E731, E741
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

    def stmt(self, sc: Scope, depth: int) -> list[str]:
        self.budget -= 1
        kinds = ["assign", "assign", "reassign", "unpack", "log", "call_stmt", "augassign"]
        if depth > 0:
            kinds += ["if", "for_append", "for_dict", "for_generic", "try", "with",
                      "early_return", "while"]
        if sc.in_f:
            kinds += ["shared_set", "store_stmt"]
        if sc.in_loop:
            kinds += ["break", "continue"]
        kinds += ["glue_raise", "return_if"]
        k = self.choice(kinds)
        d = depth - 1
        ed = self.int_(1, 2)
        if k == "assign" or (k == "reassign" and not sc.vars):
            t = self.choice([T_STR, T_INT, T_LIST, T_DICT])
            value = self.expr(t, sc, ed)
            name = self.fresh()
            sc.vars[name] = t
            return [f"{name} = {value}"]
        if k == "reassign":
            name = self.choice(sorted(sc.vars))
            return [f"{name} = {self.expr(sc.vars[name], sc, ed)}"]
        if k == "unpack":
            t1, t2 = self.choice([T_STR, T_INT]), self.choice([T_STR, T_INT, T_LIST])
            e1, e2 = self.expr(t1, sc, ed), self.expr(t2, sc, ed)
            a, b = self.fresh(), self.fresh()
            sc.vars[a], sc.vars[b] = t1, t2
            return [f"{a}, {b} = {e1}, {e2}"]
        if k == "log":
            m = self.fresh("m")
            if self.flag():
                return [f'log.append(f"{m} {{{self.str_expr(sc, 0)}}} '
                        f'{{{self.int_expr(sc, 0)}}}")']
            return [f"log.append('{m} ' + {self.str_expr(sc, ed)})"]
        if k == "call_stmt":
            options = ["note", "global"] + (["g"] if sc.in_f else [])
            if not sc.in_loop:  # never grow the list a loop iterates over
                options.append("extend")
            c = self.choice(options)
            if c == "note":
                return [f"io_note(log, {self.str_expr(sc, ed)}, {self.lat()})"]
            if c == "global":
                return [f"io_global({self.str_expr(sc, ed)}, {self.lat()})"]
            if c == "extend":
                lists = sc.of(T_LIST)
                if not lists:
                    return [f"io_note(log, {self.str_expr(sc, ed)}, {self.lat()})"]
                return [f"io_extend({self.choice(lists)}, {self.str_expr(sc, ed)}, "
                        f"{self.lat()})"]
            return [f"g({self.str_expr(sc, ed)}, {self.int_expr(sc, 1)}, log)"]
        if k == "augassign":
            names = sc.of(T_INT) + sc.of(T_STR)
            if not names:
                return [f"log.append({self.str_expr(sc, ed)})"]
            name = self.choice(names)
            if sc.vars[name] == T_INT:
                return [f"{name} += {self.int_expr(sc, ed)}", f"{name} %= 97"]
            return [f"{name} += {self.str_expr(sc, ed)}", f"{name} = {name}[:12]"]
        if k == "shared_set":
            return [f"shared[{self.str_expr(sc, ed)}] = {self.int_expr(sc, ed)}"]
        if k == "store_stmt":
            return [f"io_store(shared, {self.str_expr(sc, ed)}, {self.int_expr(sc, ed)}, "
                    f"{self.lat()})"]
        if k == "break":
            return [f"if {self.cond(sc, 1)}:", "    break"]
        if k == "continue":
            return [f"if {self.cond(sc, 1)}:", "    continue"]
        if k == "glue_raise":
            exc = self.choice(["ValueError", "KeyError", "RuntimeError"])
            return [f"if {self.cond(sc, 1)}:",
                    f"    raise {exc}('glue ' + {self.str_expr(sc, 1)})"]
        if k == "return_if":
            return [f"if {self.cond(sc, 1)}:", f"    return {self.ret_expr(sc)}"]
        if k == "if":
            cond = self.cond(sc, ed)
            body = self.block(sc.child(), d)
            lines = [f"if {cond}:", *indent(body)]
            if self.flag(60):
                lines += ["else:", *indent(self.block(sc.child(), d))]
            return lines
        if k in ("for_append", "for_dict", "for_generic", "early_return"):
            lst = self.list_expr(sc, ed)
            t = self.fresh("t")
            inner = sc.child(loop=True)
            inner.vars[t] = T_STR
            if k == "for_append":
                acc = self.fresh()
                call = self.choice([f"io_upper({t}, {self.lat()})", f"io_check({t}, {self.lat()})",
                                    self.str_expr(inner, 2)])
                lines = [f"{acc} = []", f"for {t} in {lst}:"]
                extra = self.block(inner, d, 0, 1) if self.flag(30) else []
                lines += indent([*extra, f"{acc}.append({call})"])
                sc.vars[acc] = T_LIST
                return lines
            if k == "for_dict":
                acc = self.fresh()
                value = self.choice([f"io_len({t}, {self.lat()})", f"io_lookup({t}, {self.lat()})",
                                     self.int_expr(inner, 2)])
                sc.vars[acc] = T_DICT
                return [f"{acc} = {{}}", f"for {t} in {lst}:",
                        f"    {acc}[{t}] = {value}"]
            if k == "early_return":
                r = self.fresh()
                inner.vars[r] = T_STR
                body = [f"{r} = {self.str_expr(inner, 2)}",
                        f"if {self.cond(inner, 1)}:", f"    return {self.ret_expr(inner)}"]
                return [f"for {t} in {lst}:", *indent(body)]
            return [f"for {t} in {lst}:", *indent(self.block(inner, d))]
        if k == "while":
            i = self.fresh("k")
            inner = sc.child(loop=True)
            body = self.block(inner, d)
            return [f"{i} = 0", f"while {i} < {self.choice(['1', '2', '3'])}:",
                    f"    {i} += 1", *indent(body)]
        if k == "try":
            lines = ["try:", *indent(self.block(sc.child(), d))]
            handlers = self.int_(0, 2)
            for _ in range(handlers):
                exc = self.choice(["ValueError", "KeyError", "(ValueError, KeyError)",
                                   "Exception", "ZeroDivisionError"])
                e = self.fresh("e")
                body = [f'log.append(f"caught {{type({e}).__name__}} {{{e}}}")']
                how = self.choice(["recover", "reraise", "wrap", "pass"])
                if how == "recover" and sc.vars:
                    name = self.choice(sorted(sc.vars))
                    body.append(f"{name} = {self.expr(sc.vars[name], sc, 1)}")
                elif how == "reraise":
                    body.append("raise")
                elif how == "wrap":
                    body.append(f'raise RuntimeError(f"wrapped {{{e}}}") from {e}')
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
        if k == "with":
            cm = self.choice(["Rec", "Swallow"])
            w = self.fresh("w")
            return [f'with {cm}(log, "{w}"):', *indent(self.block(sc.child(), d))]
        raise AssertionError(k)

    def ret_expr(self, sc: Scope) -> str:
        names = sorted(sc.vars)
        k = self.choice(["tuple", "single", "dict", "list_of"])
        if not names or k == "single":
            return self.expr(self.choice([T_STR, T_INT, T_LIST, T_DICT]), sc, 1)
        picked = [self.choice(names) for _ in range(self.int_(1, 4))]
        if k == "tuple":
            return "(" + ", ".join(picked) + ",)"
        if k == "dict":
            return "{" + ", ".join(f'"{p}": {p}' for p in picked) + "}"
        return "[" + ", ".join(picked) + "]"


def indent(lines: list[str]) -> list[str]:
    return ["    " + line for line in lines]


@st.composite
def programs(draw: Callable[[Any], Any]) -> Program:
    gen = Gen(draw)
    # g_impl(s, k, log) -> str: the nested (jitted) helper.
    gsc = Scope({"s": T_STR, "k": T_INT}, in_f=False)
    gen.budget = gen.int_(0, 4)
    g_body = gen.block(gsc, 1, 0, 3) if gen.budget else []
    g_body = [line for line in g_body if line != "pass"]
    g_body.append(f"return {gen.str_expr(gsc, 1)}")
    # f(x, n, log, shared): the function under test.
    fsc = Scope({"x": T_STR, "n": T_INT})
    gen.budget = gen.int_(1, 12)
    f_body = gen.block(fsc, 2, 1, 8)
    f_body.append(f"return {gen.ret_expr(fsc)}")
    source = PRELUDE + "\n".join([
        "def g_impl(s, k, log):", *indent(g_body), "", "",
        "g = g_impl", "", "",
        "def f(x, n, log, shared):", *indent(f_body), "",
    ])
    inputs = [(gen.choice(INPUT_STRS), gen.int_(-1, 6)) for _ in range(gen.int_(1, 3))]
    return Program(source, inputs)
