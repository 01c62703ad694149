"""What a callee is: I/O-bound or not, safe to share, what it may mutate.

Static knowledge, no execution:

* A registry of known blocking I/O: stdlib callables (``time.sleep``, ``socket``,
  ``select``, ``subprocess``, ``urllib.request.urlopen``, ``open``) and, in
  `_registry`, client packages by module prefix (``openai``, ``httpx``, database
  drivers...), framework classes by the methods that do I/O (LangChain's
  ``BaseChatModel.invoke``, not ``PromptTemplate.format``; a chain when it holds a
  model) and module functions (``litellm.completion``). Each says whether one object is
  *shareable*: many concurrent calls may use it (otherwise calls on one object keep
  program order, and `receiver_note` says why in ``explain()``). Registered I/O does
  not mutate its arguments; a store's writes stay in program order (`_store_write`).
  Users extend it with `register_io`, `io`, `sequential`. Classification is cached
  per callee key: a code object, with the receiver's type for a method.
* A scan of a Python callee's source (AST, cached per code object, following the
  Python functions it calls up to `SCAN_DEPTH` levels): does it call known I/O; does
  it write module globals (``global`` assignments, or mutating a module-level object);
  which parameters may it mutate (stores into them, mutating methods on them, passing
  them to code that is not known to leave them alone).

Dynamic knowledge (the site's timings, see `_sites`) confirms or overrides this.
"""

from __future__ import annotations

import ast
import builtins
import dataclasses
import functools
import inspect
import linecache
import select
import socket
import subprocess
import sys
import threading
import time
import types
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from . import _registry
from ._operator import Operator
from ._source import NoSource, function_def, parse_quietly

__all__ = [
    "CalleeInfo",
    "classify",
    "register_io",
    "io",
    "sequential",
    "is_safe_type",
    "SCAN_DEPTH",
]

F = TypeVar("F", bound=Callable[..., Any])

SCAN_DEPTH = 3

_IO_CALLABLES: set[Any] = {
    time.sleep,
    select.select,
    socket.create_connection,
    socket.getaddrinfo,
    socket.gethostbyname,
    subprocess.run,
    subprocess.call,
    subprocess.check_call,
    subprocess.check_output,
    builtins.open,
    builtins.input,
}
_IO_CALLABLE_IDS: set[int] = {id(f) for f in _IO_CALLABLES}
# (`urllib.request.urlopen` is I/O by its module, below: importing urllib.request here
# would add 30 ms to `import wavejit`.)

# Packages, classes and functions known to do network or database I/O, and whether
# their objects may be shared by concurrent calls: see `_registry`.
_IO_PREFIXES = _registry.IO_PREFIXES
_SAFE_PREFIXES = _registry.SAFE_PREFIXES

# Methods that mutate their receiver, for the scan of parameters and globals.
_MUTATING_METHODS = frozenset({
    "append", "extend", "insert", "pop", "popitem", "remove", "clear", "update",
    "setdefault", "add", "discard", "sort", "reverse", "write", "writelines",
    "__setitem__", "__delitem__", "put", "put_nowait", "appendleft", "extendleft",
    "rotate", "difference_update", "intersection_update", "symmetric_difference_update",
})
# Builtins known to leave their arguments alone (passing a parameter to them is a read).
_READ_ONLY_BUILTINS = frozenset({
    "len", "str", "repr", "format", "print", "isinstance", "issubclass", "sorted",
    "list", "tuple", "dict", "set", "frozenset", "sum", "min", "max", "any", "all",
    "enumerate", "zip", "map", "filter", "reversed", "hash", "id", "type", "int",
    "float", "bool", "bytes", "abs", "round", "range", "iter", "next", "getattr",
    "hasattr", "callable", "divmod", "pow", "ord", "chr", "hex", "oct", "bin", "ascii",
})

# Library functions known to leave their arguments alone (copies, serialisations).
_READ_ONLY_LIBRARY = frozenset({
    ("copy", "deepcopy"), ("copy", "copy"), ("json", "dumps"), ("pprint", "pformat"),
    ("textwrap", "dedent"), ("textwrap", "shorten"), ("textwrap", "wrap"),
})

# Methods that end a client's life (or its connections'): never run ahead of the calls
# before them.
_LIFECYCLE = frozenset({"close", "aclose", "shutdown", "disconnect", "terminate",
                        "__exit__", "__aexit__"})

_registry_lock = threading.RLock()
# The user's own classes (`register_io(cls, ...)`), by identity: they come before the
# registry's entries for the same type.
_user_types: dict[type, _registry.Methods] = {}
_safe_type_cache: dict[type, bool] = {}
_prefix_cache: dict[str, bool] = {}


def _module_matches(module: str | None, prefixes: list[str]) -> bool:
    if not module:
        return False
    return any(module == p or module.startswith(p + ".") for p in prefixes)


def register_io(target: Any, *, shareable: bool = True,
                methods: Iterable[str] | None = None) -> None:
    """Declare `target` I/O-bound: a callable, a class (its methods), or a module prefix.

    ``register_io("mycompany.llm")`` treats every function and method of that package as
    I/O; ``register_io(MyClient, methods=["query"])`` only the named methods of
    `MyClient` objects (all of them without ``methods``). ``shareable=True`` (the
    default): one object may serve concurrent calls from several threads, and the calls
    do not mutate their arguments. ``shareable=False``: the calls are still I/O, but
    calls on one object keep program order (a deferred call borrows its receiver and
    the next use of it waits). A class registration takes precedence over the built-in
    registry (`wavejit._registry`) for that class and its subclasses.
    """
    with _registry_lock:
        if isinstance(target, str):
            _IO_PREFIXES.append(target)
            if shareable:
                _SAFE_PREFIXES.append(target)
        elif isinstance(target, type):
            names = None if methods is None else frozenset(methods)
            _user_types[target] = _registry.Methods(
                f"{target.__module__}.{target.__qualname__}", names, shareable)
        elif callable(target):
            _IO_CALLABLES.add(target)  # keeps it alive, so its id stays valid
            _IO_CALLABLE_IDS.add(id(target))
        else:
            raise TypeError(
                f"register_io() takes a callable, a class or a module prefix string, "
                f"not {type(target).__name__}"
            )
        _registry.clear_caches()
        for cache in (_classify_cache, _prefix_cache, _safe_type_cache,
                      _io_client_type_cache, _entries_cache, _composite_cache):
            cache.clear()


@overload
def io(fn: F, *, max_concurrency: int | None = None,
       rate: float | str | None = None, timeout: float | None = None, retries: Any = 0,
       retry_on: tuple[type[BaseException], ...] = (Exception,),
       backoff: float | Callable[[int], float] = 0.5) -> F: ...


@overload
def io(fn: None = None, *, max_concurrency: int | None = None,
       rate: float | str | None = None, timeout: float | None = None, retries: Any = 0,
       retry_on: tuple[type[BaseException], ...] = (Exception,),
       backoff: float | Callable[[int], float] = 0.5) -> Callable[[F], F]: ...


def io(fn: F | None = None, *, max_concurrency: int | None = None,
       rate: float | str | None = None, timeout: float | None = None, retries: Any = 0,
       retry_on: tuple[type[BaseException], ...] = (Exception,),
       backoff: float | Callable[[int], float] = 0.5) -> F | Callable[[F], F]:
    """Decorator: `fn` is I/O-bound and safe to run concurrently with other calls.

    ``@wavejit.io`` alone, or with options for its deferred calls (see
    `wavejit._limits.CallPolicy`): ``max_concurrency`` / ``rate`` (calls per second or
    ``"N/min"``) across every invocation in the process, ``timeout`` (seconds; its use
    raises ``TimeoutError``), ``retries`` (a count, or a ``tenacity.Retrying``) on
    ``retry_on`` exceptions spaced ``backoff * 2**attempt`` plus jitter.
    """
    options = (max_concurrency, rate, timeout) != (None, None, None) or bool(retries)

    def mark(f: F) -> F:
        f.__wavejit_io__ = True  # type: ignore[attr-defined]
        if options:
            from ._limits import CallPolicy, parse_rate

            if rate is not None:
                parse_rate(rate)  # a bad rate fails here, not at the first call
            if max_concurrency is not None and max_concurrency < 1:
                raise ValueError(f"max_concurrency={max_concurrency} must be >= 1")
            f.__wavejit_policy__ = CallPolicy(  # type: ignore[attr-defined]
                max_concurrency, rate, timeout, retries, tuple(retry_on), backoff)
        _classify_cache.clear()
        return f

    if fn is not None:
        return mark(fn)
    return mark


def sequential(fn: F) -> F:
    """Decorator: never defer calls to `fn`; they run inline, in program order."""
    fn.__wavejit_sequential__ = True  # type: ignore[attr-defined]
    _classify_cache.clear()
    return fn


_entries_cache: dict[type, tuple[_registry.Methods, ...]] = {}


def _entries(t: type) -> tuple[_registry.Methods, ...]:
    """Class entries for type `t`: the user's registrations, then the registry's, each
    in MRO order (nearest class first)."""
    found = _entries_cache.get(t)
    if found is None:
        mro = getattr(t, "__mro__", ())
        found = (tuple(_user_types[c] for c in mro if c in _user_types)
                 + _registry.methods_of(t))
        _entries_cache[t] = found
    return found


def _io_method(t: type, name: str) -> _registry.Methods | None:
    """The entry that makes method `name` of `t` objects I/O, if one does."""
    for entry in _entries(t):
        if entry.methods is None or name in entry.methods:
            return entry
    return None


def is_safe_type(t: type) -> bool:
    """Objects of type `t` may be shared by concurrent calls (registered clients)."""
    cached = _safe_type_cache.get(t)
    if cached is None:
        entries = _entries(t)
        cached = entries[0].shareable if entries else _module_matches(
            getattr(t, "__module__", None), _SAFE_PREFIXES)
        _safe_type_cache[t] = cached
    return cached


def _is_io_object(obj: Any) -> bool:
    """`obj` is an instance of a registered I/O client class or package."""
    return is_io_client_type(type(obj))


_io_client_type_cache: dict[type, bool] = {}


def is_io_client_type(t: type) -> bool:
    """Instances of `t` are I/O clients (an ``openai.OpenAI``, an ``httpx.Client``, a
    LangChain chat model...). A composite (a LangChain chain) is not: whether it does
    I/O depends on what it holds."""
    cached = _io_client_type_cache.get(t)
    if cached is None:
        cached = t not in _NOT_CLIENTS and (
            _is_io_module(getattr(t, "__module__", None))
            or any(not e.contains for e in _entries(t)))
        _io_client_type_cache[t] = cached
    return cached


_composite_cache: dict[type, bool] = {}


def _is_composite(t: type) -> bool:
    """Objects of `t` do I/O only when they hold an I/O object (a LangChain chain)."""
    cached = _composite_cache.get(t)
    if cached is None:
        entries = _entries(t)
        cached = bool(entries) and entries[0].contains
        _composite_cache[t] = cached
    return cached


def _holds_io(obj: Any) -> bool:
    return _registry.holds_io(obj, _is_io_object)


def _registered_io(fn: Any) -> tuple[str, bool] | None:
    """Is `fn` registered I/O by the registry: (what, shareable receiver), or None.

    A bound method whose receiver's class lists it (``llm.invoke``; a chain's
    ``invoke`` only if the chain holds an I/O object); a callable object whose class
    lists ``__call__`` (a DSPy module); a registered module function
    (``litellm.completion``).
    """
    receiver = getattr(fn, "__self__", None)
    if receiver is not None and not isinstance(receiver, types.ModuleType):
        target = getattr(fn, "__func__", fn)
        name = getattr(target, "__name__", "")
        t = type(receiver)
    elif isinstance(fn, (types.FunctionType, types.BuiltinFunctionType, type)):
        registered = _registry.function_entry(fn)
        return None if registered is None else (registered, True)
    elif not callable(fn):
        # Not a callee but the object a static resolution stopped at (`_tiers` names
        # ``llm.invoke(...)`` by ``llm``): it stands for "a method of this object".
        # Only the strategy choice and explain()'s predictions read this; every call
        # is classified by its bound method when it runs.
        t = type(fn)
        if any(not e.contains for e in _entries(t)) or (_is_composite(t) and _holds_io(fn)):
            return f"a method of a {t.__name__}", is_safe_type(t)
        return None
    else:
        receiver, name, t = fn, "__call__", type(fn)
    entry = _io_method(t, name)
    if entry is None or (entry.contains and not _holds_io(receiver)):
        return None
    what = f"{t.__name__}.{name}"
    if entry.contains:
        what += " (it holds a model, retriever or client)"
    return what, is_safe_type(t)


def _store_write(receiver: Any, name: str) -> bool:
    """Is ``receiver.name(...)`` a write to a store (a vector store's ``add_texts``, a
    Qdrant ``upsert``, an Elasticsearch ``index``)? A later read of the store must see
    it, so it is not deferred: it runs inline, after the calls before it."""
    t = type(receiver)
    if any(name in e.writes for e in _entries(t)):
        return True
    return _module_matches(getattr(t, "__module__", None),
                           _registry.ORDERED_WRITE_PREFIXES) and _registry.is_write_name(name)


_NOT_CLIENTS = frozenset({type, types.ModuleType, types.FunctionType,
                          types.BuiltinFunctionType, types.MethodType})


def _is_io_module(module: str | None) -> bool:
    if not module:
        return False
    cached = _prefix_cache.get(module)
    if cached is None:
        cached = _module_matches(module, _IO_PREFIXES)
        _prefix_cache[module] = cached
    return cached


@dataclass(frozen=True)
class CalleeInfo:
    """What is known of a callee before running it.

    ``io`` is True (known I/O), False (known not to be worth deferring) or None
    (unknown: run inline and measure). ``mutated`` names the parameters the callee may
    mutate (None: any of them); ``positional`` lists its positional parameter names.
    """

    io: bool | None
    reason: str
    writes_globals: bool = False
    sequential: bool = False
    safe_receiver: bool = False
    mutated: frozenset[str] | None = None
    positional: tuple[str, ...] = ()
    varargs: str | None = None
    self_offset: int = 0
    declared: bool = False  # @wavejit.io: never demoted by measurements
    # Why calls on one receiver keep program order, when they do: its type is not known
    # shareable (see `receiver_note`). Said by explain() beside a deferred verdict.
    receiver_note: str | None = None
    # Callable parameters whose default the scan judged (``generate_fn=...``): a call
    # passing one of them is not covered by this information.
    assumed: frozenset[str] = frozenset()
    # Globals written only to initialize them (see `Scan.lazy`): while one is unset,
    # `classify` answers with ``writes_globals`` True (and nothing caches that answer).
    lazy: tuple[tuple[dict[str, Any], str], ...] = ()
    global_write: str | None = None  # where it writes module state (see `Scan`)

    def passes_assumed(self, args: tuple[Any, ...], kwargs: dict[str, Any]) -> bool:
        """Does this call pass a parameter the scan judged by its default?"""
        for name in self.assumed:
            if name in kwargs:
                return True
            if name in self.positional:
                if self.positional.index(name) - self.self_offset < len(args):
                    return True
        return False

    def mutates_arg(self, position: int, args: tuple[Any, ...],
                    kwargs: dict[str, Any]) -> bool:
        if self.mutated is None:
            return True
        if not self.mutated:
            return False  # mutates nothing (registered I/O has no parameter list here)
        if position < len(args):
            index = position + self.self_offset
            if index < len(self.positional):
                return self.positional[index] in self.mutated
            return self.varargs is None or self.varargs in self.mutated
        name = list(kwargs)[position - len(args)]
        return name in self.mutated or (name not in self.positional and bool(self.mutated))

    @property
    def mutates_self(self) -> bool:
        if self.mutated is None:
            return True
        return bool(self.positional) and self.positional[0] in self.mutated


_classify_cache: dict[Any, CalleeInfo] = {}


def callee_key(fn: Any) -> Any:
    """A hashable key for what `fn` runs: its code object where it has one (with the
    receiver's type for a method)."""
    fn = _unwrap(fn, partials=True)
    func = getattr(fn, "__func__", None)
    if func is not None:
        code = getattr(func, "__code__", None)
        key = code if code is not None else func
        # With the receiver's type: an inherited method is one code object, but what
        # is known of it (registry entries, shareable, the scan of `self.` calls)
        # depends on the class it is called on.
        t = type(fn.__self__)
        composite = _composite_cache.get(t)
        if composite is None:
            composite = _is_composite(t)
        if composite:
            # A chain's `invoke` is one code object for every chain; whether it does
            # I/O depends on what this chain holds, and so does its decision.
            return (key, t, _holds_io(fn.__self__))
        return (key, t)
    code = getattr(fn, "__code__", None)
    if code is not None:
        return code
    if isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        owner = getattr(fn, "__self__", None)
        if owner is None or isinstance(owner, types.ModuleType):
            return fn
        return (type(owner), fn.__name__)
    if isinstance(fn, type):
        return fn  # a class: itself (its type is its metaclass, the same for nearly all)
    return type(fn)  # a callable object: what its class's __call__ runs


def classify(fn: Any) -> CalleeInfo:
    """What is statically known of callee `fn` (cached per code object); while a global
    it initializes lazily is unset, it counts as writing globals (see `Scan.lazy`)."""
    info = classify_base(fn)
    if info.lazy and not info.writes_globals and uninitialized(info.lazy):
        return dataclasses.replace(info, writes_globals=True)
    return info


def classify_base(fn: Any) -> CalleeInfo:
    """`classify`, globals written only to initialize them not counted."""
    key = callee_key(fn)
    try:
        info = _classify_cache.get(key)
    except TypeError:  # an unhashable callable
        return _classify(fn)
    if info is None:
        info = _classify(fn)
        _classify_cache[key] = info
    return info


def _unwrap(fn: Any, partials: bool = False) -> Any:
    """What a wrapper runs: a jitted function's original (and, for keys, a partial's
    function; not for classification, whose parameter positions a partial shifts)."""
    # A bound jitted method first: the method object proxies attribute reads to the
    # JitFunction, so the test below would see through it and drop the receiver.
    func = getattr(fn, "__func__", None)
    if func is not None and getattr(func, "__wavejit_jit__", False):
        return types.MethodType(func.__wrapped__, fn.__self__)  # a jitted method
    if getattr(fn, "__wavejit_jit__", False):
        return fn.__wrapped__
    if partials and isinstance(fn, functools.partial):
        return _unwrap(fn.func, partials)
    return fn


def _classify(fn: Any) -> CalleeInfo:
    fn = _unwrap(fn)
    target = getattr(fn, "__func__", fn)
    receiver = getattr(fn, "__self__", None)
    if isinstance(receiver, types.ModuleType):
        receiver = None
    if getattr(target, "__wavejit_sequential__", False):
        return CalleeInfo(False, "declared @wavejit.sequential", sequential=True)
    safe_receiver = receiver is not None and is_safe_type(type(receiver))
    if id(target) in _IO_CALLABLE_IDS or id(fn) in _IO_CALLABLE_IDS:
        return CalleeInfo(True, f"registered I/O: {_name(fn)}", mutated=frozenset(),
                          safe_receiver=True)
    if receiver is not None and getattr(target, "__name__", "") in _LIFECYCLE and (
        _is_io_object(receiver)
    ):
        # `await client.close()`: every call before it that uses the client must have
        # finished, as in plain Python; it stays in program order (and mutates it).
        return CalleeInfo(False, f"{_name(fn)} ends its client's life: it stays in "
                          "program order", sequential=True)
    if receiver is not None and _store_write(receiver, getattr(target, "__name__", "")):
        return CalleeInfo(False, f"{_name(fn)} writes to a store later calls may read: "
                          "it stays in program order", sequential=True)
    registered = _registered_io(fn)
    if registered is not None:
        what, shareable = registered
        return CalleeInfo(True, f"known I/O (wavejit registry): {what}",
                          mutated=frozenset(), safe_receiver=shareable,
                          receiver_note=None if shareable else receiver_note(receiver))
    module = getattr(target, "__module__", None)
    io_receiver = receiver is not None and _is_io_module(type(receiver).__module__)
    if _is_io_module(module) or io_receiver:
        return CalleeInfo(True, f"I/O client: {_name(fn)}", mutated=frozenset(),
                          safe_receiver=safe_receiver,
                          receiver_note=None if safe_receiver else receiver_note(receiver))
    if isinstance(fn, (types.BuiltinFunctionType, types.BuiltinMethodType)):
        return CalleeInfo(None, f"C function {_name(fn)}: unknown until measured",
                          safe_receiver=safe_receiver)
    function: Any = target
    self_offset = 0
    if not isinstance(function, types.FunctionType):
        call = None
        for klass in type(fn).__mro__:
            if "__call__" in klass.__dict__:
                call = klass.__dict__["__call__"]
                break
        if isinstance(call, types.FunctionType):
            function, receiver, self_offset = call, fn, 1
        else:
            return CalleeInfo(None, f"{_name(fn)} has no Python source: unknown until "
                              "measured", safe_receiver=safe_receiver)
    elif receiver is not None:
        self_offset = 1
    if getattr(function, "__wavejit_io__", False) or getattr(fn, "__wavejit_io__", False):
        scan = scan_function(function, type(receiver) if receiver is not None else None)
        return CalleeInfo(True, "declared @wavejit.io", declared=True, mutated=scan.mutated,
                          positional=scan.positional, varargs=scan.varargs,
                          self_offset=self_offset, safe_receiver=safe_receiver)
    scan = scan_function(function, type(receiver) if receiver is not None else None)
    io_reason = scan.io_reason
    if io_reason is None and isinstance(fn, Operator):
        # Structural: an Operator is I/O-bound if one of its sub-operators is.
        for sub in fn.sub_operators():
            sub_info = classify(sub)
            if sub_info.io:
                io_reason = f"sub-operator {type(sub).__name__}: {sub_info.reason}"
                break
    return CalleeInfo(
        io=True if io_reason else None,
        reason=io_reason or f"{_name(fn)}: no known I/O in its source",
        writes_globals=scan.writes_globals,
        global_write=scan.global_write,
        lazy=scan.lazy,
        mutated=scan.mutated,
        positional=scan.positional,
        varargs=scan.varargs,
        self_offset=self_offset,
        safe_receiver=safe_receiver,
        receiver_note=None if safe_receiver else receiver_note(receiver),
        assumed=scan.assumed,
    )


def receiver_note(receiver: Any) -> str | None:
    """What explain() says of a deferred call whose receiver is not known shareable.

    The runtime lets a deferred call *borrow* such a receiver: the next use of the
    object (fetching its next method) waits for the call, so calls on one object run
    one after another, in program order.
    """
    if receiver is None or isinstance(receiver, types.ModuleType):
        return None
    t = type(receiver)
    if t.__module__ == "builtins":
        return None  # a list's or a str's methods: program order is right
    return (f"calls on one {t.__name__} object were serialized (program order) because "
            f"{t.__module__}.{t.__qualname__} is not known shareable across threads; "
            f"lift with wavejit.register_io({t.__name__}, shareable=True) if one object "
            "may serve concurrent calls")


def describe(reason: str, info: CalleeInfo, deferred: bool) -> str:
    """A verdict's reason for explain(), with the receiver rule when it applied."""
    if deferred and info.receiver_note:
        return f"{reason}; {info.receiver_note}"
    return reason


def _name(fn: Any) -> str:
    return str(getattr(fn, "__qualname__", None) or getattr(fn, "__name__", None)
               or type(fn).__name__)


# -- the source scan ------------------------------------------------------------------


@dataclass(frozen=True)
class Scan:
    io_reason: str | None
    writes_globals: bool
    mutated: frozenset[str] | None
    positional: tuple[str, ...]
    varargs: str | None
    assumed: frozenset[str] = frozenset()  # callable parameters judged by their default
    # Globals it (or a helper it calls) writes only to initialize them, under ``if G is
    # None:`` / ``if not G:`` (a lazy client singleton): (module globals, name) pairs.
    lazy: tuple[tuple[dict[str, Any], str], ...] = ()
    # Where it writes module state, for explain(): "`total` at line 12 of record".
    global_write: str | None = None


_scan_cache: dict[Any, Scan] = {}
_scanning: set[Any] = set()


def scan_function(fn: types.FunctionType, self_type: type | None = None,
                  depth: int = 0) -> Scan:
    """Scan `fn`'s source (cached per code object and receiver type)."""
    key = (fn.__code__, self_type)
    cached = _scan_cache.get(key)
    if cached is not None:
        return cached
    code = fn.__code__
    positional = code.co_varnames[: code.co_argcount + code.co_kwonlyargcount]
    varargs = code.co_varnames[len(positional)] if code.co_flags & inspect.CO_VARARGS else None
    if key in _scanning:  # recursion: assume nothing more than found so far
        return Scan(None, False, frozenset(), positional, varargs)
    _scanning.add(key)
    try:
        result = _scan(fn, self_type, depth, positional, varargs)
    finally:
        _scanning.discard(key)
    _scan_cache[key] = result
    return result


def _function_node(fn: types.FunctionType) -> ast.FunctionDef | ast.AsyncFunctionDef | None:
    if fn.__code__.co_name == "<lambda>":
        return _lambda_node(fn)
    try:
        # The function's own def, even when `functools.wraps` renamed it: a wrapper is
        # scanned for what it does itself and, through the call to what it wraps (a
        # closure cell the scan resolves), for what that does.
        return function_def(fn, name=fn.__code__.co_name)
    except (NoSource, OSError):
        return None


def _own_nonlocals(node: ast.FunctionDef | ast.AsyncFunctionDef) -> set[str]:
    """The names `node` itself declares ``nonlocal`` (not those of defs inside it)."""
    names: set[str] = set()
    stack: list[ast.AST] = list(node.body)
    while stack:
        sub = stack.pop()
        if isinstance(sub, ast.Nonlocal):
            names.update(sub.names)
        elif not isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda,
                                  ast.ClassDef)):
            stack.extend(ast.iter_child_nodes(sub))
    return names


def _lambda_node(fn: types.FunctionType) -> ast.FunctionDef | None:
    """A lambda as ``def <lambda>(params): return BODY``, its body read from the file at
    the span its instructions cover (`co_positions`, 3.11+), so the scan can see what it
    calls (``df.apply(lambda row: classify(row))``). None if that cannot be done."""
    code = fn.__code__
    positions = getattr(code, "co_positions", None)
    if positions is None:  # 3.10
        body = _lambda_on_its_line(code)
        if body is None:
            return None
    else:
        spans = [p for p in positions() if None not in p and (p[0], p[2]) != (p[1], p[3])]
        if not spans:
            return None
        start = min((p[0], p[2]) for p in spans)
        end = max((p[1], p[3]) for p in spans)
        lines = linecache.getlines(code.co_filename)
        if not lines or end[0] > len(lines):
            return None
        # Columns are UTF-8 byte offsets. Cut at the end column first (on one line, the
        # start column would shift it).
        data = "".join(lines[start[0] - 1:end[0]]).encode()
        last = len(data) - len(lines[end[0] - 1].encode()) + end[1]
        try:
            text = data[start[1]:last].decode()
            parsed = parse_quietly(f"({text.strip()})", mode="eval")
            assert isinstance(parsed, ast.Expression)
            body = parsed.body
        except (SyntaxError, UnicodeDecodeError):
            return None
    if isinstance(body, ast.Lambda):
        body = body.body
    params = [ast.arg(n) for n in code.co_varnames[:code.co_argcount]]
    node = ast.FunctionDef(
        name="<lambda>", args=ast.arguments(posonlyargs=[], args=params, vararg=None,
                                            kwonlyargs=[], kw_defaults=[], kwarg=None,
                                            defaults=[]),
        body=[ast.Return(body)], decorator_list=[], returns=None, type_comment=None)
    return ast.fix_missing_locations(node)


def _lambda_on_its_line(code: types.CodeType) -> ast.expr | None:
    """Without `co_positions` (3.10): the body of the one lambda in the file that starts
    on the code's first line with the code's parameters; None if not exactly one (two
    lambdas alike on one line cannot be told apart by line and parameters alone)."""
    try:
        tree = parse_quietly("".join(linecache.getlines(code.co_filename)))
    except (SyntaxError, ValueError):
        return None
    positional = list(code.co_varnames[:code.co_argcount])
    keyword = list(code.co_varnames[code.co_argcount:
                                    code.co_argcount + code.co_kwonlyargcount])
    found = [node.body for node in ast.walk(tree) if isinstance(node, ast.Lambda)
             and node.lineno == code.co_firstlineno
             and [a.arg for a in node.args.posonlyargs + node.args.args] == positional
             and [a.arg for a in node.args.kwonlyargs] == keyword
             and node.args.vararg is None and node.args.kwarg is None]
    return found[0] if len(found) == 1 else None


def _root_name(node: ast.expr) -> str | None:
    while isinstance(node, (ast.Attribute, ast.Subscript)):
        node = node.value
    return node.id if isinstance(node, ast.Name) else None


def _scan(fn: types.FunctionType, self_type: type | None, depth: int,
          positional: tuple[str, ...], varargs: str | None) -> Scan:
    node = _function_node(fn)
    if node is None:
        return Scan(None, False, None, positional, varargs)
    params = set(fn.__code__.co_varnames[: fn.__code__.co_argcount
                                         + fn.__code__.co_kwonlyargcount])
    if varargs:
        params.add(varargs)
    local_names = set(fn.__code__.co_varnames) | set(fn.__code__.co_cellvars)
    # `global` and `nonlocal` names: a store to either is seen by other calls (a
    # closure's counter, `nonlocal cnt; cnt += 1`, is the caller's state), so the
    # function "writes globals": it stays in program order.
    nodes = list(ast.walk(node))  # walked once; the helpers below read this list
    declared_global: set[str] = set()
    for sub in nodes:
        if isinstance(sub, ast.Global):
            declared_global.update(sub.names)
    if any(isinstance(sub, ast.Nonlocal) for sub in nodes):  # (rare: skip the walk)
        declared_global |= _own_nonlocals(node)  # (a nested def's are this one's locals)
    self_name = positional[0] if self_type is not None and positional else None
    copied = _copied_params(node, params)
    defaults = _callable_defaults(fn, nodes, params)
    assumed: set[str] = set()
    mutated: set[str] = set()
    unknown_mutation = False
    writes_globals = False
    global_write: str | None = None  # the first write found, said by explain()
    lazy: set[tuple[int, str]] = set()
    lazy_refs: list[tuple[dict[str, Any], str]] = []
    initializers = _lazy_initializers(nodes)
    clients = _local_clients(nodes, fn, self_type, self_name)
    io_reason: str | None = None

    def writes(name: str, at: ast.AST) -> None:
        nonlocal writes_globals, global_write
        writes_globals = True
        if global_write is None:
            global_write = f"`{name}` at line {getattr(at, 'lineno', '?')} of {fn.__qualname__}"

    def mark_root(target: ast.expr, at: ast.AST) -> None:
        root = _root_name(target)
        if root is None:
            return
        if root in params:
            mutated.add(root)
        elif root in declared_global or (root not in local_names and root in fn.__globals__
                                         and not _immutable_global(fn.__globals__[root])):
            writes(root, at)

    for sub in nodes:
        if isinstance(sub, (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Delete)):
            targets = (sub.targets if isinstance(sub, (ast.Assign, ast.Delete))
                       else [sub.target])
            for target in targets:
                for t in ast.walk(target):
                    if isinstance(t, ast.Name) and t.id in declared_global:
                        if initializers.get(id(sub)) == t.id:  # `if G is None: G = ...`
                            if (id(fn.__globals__), t.id) not in lazy:
                                lazy.add((id(fn.__globals__), t.id))
                                lazy_refs.append((fn.__globals__, t.id))
                            continue
                        writes(t.id, sub)
                    if isinstance(t, (ast.Attribute, ast.Subscript)) and isinstance(
                        t.ctx, (ast.Store, ast.Del)
                    ):
                        mark_root(t.value, sub)
        elif isinstance(sub, ast.Call):
            func = sub.func
            if isinstance(func, ast.Attribute) and func.attr in _MUTATING_METHODS:
                mark_root(func.value, sub)
            callee = _resolve(func, fn, self_type, self_name, clients)
            if callee is None and isinstance(func, ast.Name) and func.id in defaults:
                # `generate_fn=generate_together`: judged by its default; a call that
                # passes another is judged at run time (see `CalleeInfo.assumed`).
                callee = defaults[func.id]
                assumed.add(func.id)
            if not writes_globals and isinstance(func, ast.Attribute) and _writes_a_store(
                    callee, func.attr):  # state outside the process that later calls read
                writes(f"{ast.unparse(func)}()", sub)
            if io_reason is None:
                io_reason = _io_reason(callee, func, fn, depth, self_type)
            inner = _global_writer_scan(callee, depth, self_type)
            if not writes_globals and inner is not None:
                if inner.writes_globals:  # a wrapper, a helper: what they call, it does
                    writes_globals = True
                    global_write = inner.global_write
                for ref in inner.lazy:
                    if (id(ref[0]), ref[1]) not in lazy:
                        lazy.add((id(ref[0]), ref[1]))
                        lazy_refs.append(ref)
            passed = [a.value if isinstance(a, ast.Starred) else a for a in sub.args]
            passed += [k.value for k in sub.keywords]
            for arg in passed:
                if not isinstance(arg, ast.Name) or arg.id not in params or arg.id in copied:
                    continue
                if not _leaves_args_alone(callee, func, depth):
                    if callee is None:
                        unknown_mutation = True  # passed to code we cannot see
                    else:
                        mutated.add(arg.id)
    return Scan(
        io_reason=io_reason,
        writes_globals=writes_globals,
        mutated=None if unknown_mutation else frozenset(mutated - copied),
        positional=positional,
        varargs=varargs,
        assumed=frozenset(assumed),
        lazy=tuple(lazy_refs),
        global_write=global_write,
    )


def _lazy_initializers(nodes: list[ast.AST]) -> dict[int, str]:
    """id(assignment) -> G for each ``G = ...`` in the body of an ``if G is None:`` or
    ``if not G:`` (a global initialized once: after that the function only reads it);
    `nodes`: the function's nodes, as `ast.walk` yields them."""
    found: dict[int, str] = {}
    for sub in nodes:
        if not isinstance(sub, ast.If):
            continue
        test = sub.test
        name: str | None = None
        if isinstance(test, ast.Compare) and isinstance(test.left, ast.Name) and len(
            test.ops) == 1 and isinstance(test.ops[0], (ast.Is, ast.Eq)) and isinstance(
            test.comparators[0], ast.Constant) and test.comparators[0].value is None:
            name = test.left.id
        elif isinstance(test, ast.UnaryOp) and isinstance(test.op, ast.Not) and isinstance(
                test.operand, ast.Name):
            name = test.operand.id
        if name is None:
            continue
        for stmt in sub.body:
            for inner in ast.walk(stmt):
                if isinstance(inner, (ast.Assign, ast.AnnAssign)) and any(
                    isinstance(t, ast.Name) and t.id == name
                    for t in (inner.targets if isinstance(inner, ast.Assign)
                              else [inner.target])
                ):
                    found[id(inner)] = name
    return found


def uninitialized(lazy: tuple[tuple[dict[str, Any], str], ...]) -> bool:
    """Is any of these lazily initialized globals still unset (None, or empty)?"""
    return any(not glob.get(name) for glob, name in lazy)


_COPIES = frozenset({"deepcopy", "copy", "list", "dict", "set"})


def _copied_params(node: ast.FunctionDef | ast.AsyncFunctionDef, params: set[str]
                   ) -> set[str]:
    """Parameters rebound to a copy of themselves (``messages = copy.deepcopy(messages)``)
    before any other use: what the function mutates through the name is the copy."""
    copied: set[str] = set()
    mentioned: set[str] = set()
    if not any(isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
            stmt.targets[0], ast.Name) and stmt.targets[0].id in params for stmt in node.body):
        return copied  # (the common case: no statement could be such a copy)
    for stmt in node.body:
        if isinstance(stmt, ast.Assign) and len(stmt.targets) == 1 and isinstance(
            stmt.targets[0], ast.Name
        ) and stmt.targets[0].id in params and stmt.targets[0].id not in mentioned:
            name = stmt.targets[0].id
            value = stmt.value
            if isinstance(value, ast.Call) and len(value.args) == 1 and isinstance(
                value.args[0], ast.Name
            ) and value.args[0].id == name and (
                isinstance(value.func, ast.Name) and value.func.id in _COPIES
                or isinstance(value.func, ast.Attribute) and value.func.attr in _COPIES
            ):
                copied.add(name)
        mentioned |= {n.id for n in ast.walk(stmt) if isinstance(n, ast.Name)}
        if params <= mentioned:  # every parameter used: none can be copied first now
            break
    return copied


def _callable_defaults(fn: types.FunctionType, nodes: list[ast.AST],
                       params: set[str]) -> dict[str, Any]:
    """Parameters whose default is a function and that the body (`nodes`, as
    `ast.walk` yields them) never rebinds."""
    code = fn.__code__
    names = code.co_varnames[: code.co_argcount]
    out: dict[str, Any] = {}
    for name, value in zip(names[len(names) - len(fn.__defaults__ or ()):],
                           fn.__defaults__ or (), strict=True):
        if isinstance(value, types.FunctionType):
            out[name] = value
    for name, value in (fn.__kwdefaults__ or {}).items():
        if isinstance(value, types.FunctionType):
            out[name] = value
    if out:
        for sub in nodes:
            if isinstance(sub, ast.Name) and not isinstance(sub.ctx, ast.Load):
                out.pop(sub.id, None)
    return out


def _writes_a_store(callee: Any, name: str) -> bool:
    """A call the scan resolved to a store's write method (see `_store_write`)."""
    receiver = getattr(callee, "__self__", None)
    if isinstance(callee, types.MethodType) and receiver is not None:
        return _store_write(receiver, name)
    if callee is None or isinstance(callee, (type, types.ModuleType, types.FunctionType)):
        return False
    return _is_io_object(callee) and _store_write(callee, name)  # `client.upsert(...)`


def _immutable_global(value: Any) -> bool:
    return isinstance(value, (types.ModuleType, type, types.FunctionType,
                              types.BuiltinFunctionType, int, float, str, bytes, tuple,
                              frozenset)) or value is None


def _local_clients(nodes: list[ast.AST], fn: types.FunctionType, self_type: type | None,
                   self_name: str | None) -> dict[str, type]:
    """Locals bound once, to a new I/O client: ``c = httpx.Client()``, ``async with
    httpx.AsyncClient() as c`` -- name -> its class (its methods are the library's);
    `nodes`: the function's nodes, as `ast.walk` yields them."""
    stores: dict[str, int] = {}
    made: dict[str, type] = {}
    for sub in nodes:
        if isinstance(sub, ast.Name) and isinstance(sub.ctx, ast.Store):
            stores[sub.id] = stores.get(sub.id, 0) + 1
        pairs: list[tuple[ast.expr, ast.expr]] = []
        if isinstance(sub, ast.Assign) and len(sub.targets) == 1:
            pairs.append((sub.targets[0], sub.value))
        elif isinstance(sub, (ast.With, ast.AsyncWith)):
            pairs += [(i.optional_vars, i.context_expr) for i in sub.items
                      if i.optional_vars is not None]
        for target, value in pairs:
            if isinstance(target, ast.Name) and isinstance(value, ast.Call):
                cls = _resolve(value.func, fn, self_type, self_name)
                if isinstance(cls, type) and is_io_client_type(cls):
                    made[target.id] = cls
    return {name: cls for name, cls in made.items() if stores.get(name) == 1}


def _resolve(func: ast.expr, fn: types.FunctionType, self_type: type | None,
             self_name: str | None, clients: dict[str, type] | None = None) -> Any:
    """The object a callee expression names, if it can be known without running
    (`clients`: locals holding a new I/O client, see `_local_clients`)."""
    chain: list[str] = []
    node = func
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    chain.reverse()
    if node.id == self_name and self_type is not None:
        current: Any = self_type
    elif clients and node.id in clients:
        current = clients[node.id]
    elif node.id in fn.__code__.co_varnames:
        return None
    elif node.id in fn.__globals__:
        current = fn.__globals__[node.id]
    elif fn.__closure__ is not None and node.id in fn.__code__.co_freevars:
        cell = fn.__closure__[fn.__code__.co_freevars.index(node.id)]
        try:
            current = cell.cell_contents
        except ValueError:
            return None
    elif hasattr(builtins, node.id):
        current = getattr(builtins, node.id)
    else:
        return None
    for attr in chain:
        if not isinstance(current, (type, types.ModuleType)):
            if _entries(type(current)):
                # A framework object (a LangChain model, a chain): only its listed
                # methods are I/O. Bound here, `_io_reason` asks the registry.
                try:
                    member = inspect.getattr_static(type(current), attr)
                except AttributeError:
                    return None
                if isinstance(member, types.FunctionType):
                    return types.MethodType(member, current)
                return None
            if _is_io_object(current):
                return current  # a client object: its methods are I/O
            return None
        try:
            current = inspect.getattr_static(current, attr)
        except AttributeError:
            return None
        if isinstance(current, (staticmethod, classmethod)):
            current = current.__func__
        if getattr(current, "__wavejit_jit__", False):
            current = current.__wrapped__  # a jitted function: scan what it runs
    return current


def _is_method_of(function: types.FunctionType, self_type: type | None) -> bool:
    return self_type is not None and any(
        vars(klass).get(function.__name__) is function for klass in self_type.__mro__)


def _io_reason(callee: Any, func: ast.expr, fn: types.FunctionType, depth: int,
               self_type: type | None = None) -> str | None:
    if callee is None:
        return None
    if id(callee) in _IO_CALLABLE_IDS or getattr(callee, "__wavejit_io__", False):
        return f"calls {ast.unparse(func)} (known I/O)"
    if not isinstance(callee, (types.ModuleType, type)):
        registered = _registered_io(callee)
        if registered is not None:
            return f"calls {ast.unparse(func)} (known I/O: {registered[0]})"
    module = getattr(callee, "__module__", None)
    if _is_io_module(module) or _is_io_module(type(callee).__module__):
        if not isinstance(callee, types.ModuleType):
            return f"calls {ast.unparse(func)} (I/O client package)"
    if isinstance(callee, types.FunctionType) and depth < SCAN_DEPTH:
        inner = scan_function(callee, self_type if _is_method_of(callee, self_type) else None,
                              depth + 1)
        if inner.io_reason:
            return f"calls {ast.unparse(func)}, which {inner.io_reason}"
    return None


def _global_writer_scan(callee: Any, depth: int, self_type: type | None) -> Scan | None:
    """The scan of `callee`, a function of the program's own, for its global writes
    (None: not the program's, or not looked at)."""
    if not isinstance(callee, types.FunctionType) or depth >= SCAN_DEPTH:
        return None
    if (callee.__module__ or "").partition(".")[0] in sys.stdlib_module_names:
        return None
    if getattr(callee, "__wavejit_io__", False):
        return None  # declared I/O is deferred whatever it writes: so are its callers
    return scan_function(callee, self_type if _is_method_of(callee, self_type) else None,
                         depth + 1)


def _leaves_args_alone(callee: Any, func: ast.expr, depth: int) -> bool:
    """Is passing a parameter to `callee` known to leave it unmutated?"""
    if callee is None:
        return False
    if isinstance(callee, types.BuiltinFunctionType) and callee.__name__ in _READ_ONLY_BUILTINS:
        return True
    if isinstance(callee, type) and callee.__name__ in _READ_ONLY_BUILTINS:
        return True
    if (getattr(callee, "__module__", None), getattr(callee, "__name__", None)) in (
        _READ_ONLY_LIBRARY
    ):
        return True
    if id(callee) in _IO_CALLABLE_IDS or _is_io_module(getattr(callee, "__module__", None)):
        return True
    if not isinstance(callee, (types.ModuleType, type)) and _registered_io(callee):
        return True  # registered I/O does not mutate its arguments
    if isinstance(callee, types.FunctionType) and depth < SCAN_DEPTH:
        inner = scan_function(callee, None, depth + 1)
        return inner.mutated is not None and not inner.mutated
    return False
