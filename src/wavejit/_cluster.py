"""Shipping jitted functions to other processes, and the code that runs there.

A cluster runs *whole invocations* of a jitted function (or whole graph nodes); inside
each, the worker process's own jit and thread pool overlap the I/O.

**Pickling a jitted function** (`reduce_jitted`, used by ``JitFunction.__reduce__``):
by reference (module and qualified name, re-imported on the worker, which then has
its own jit state and its own module globals) when the function can be found under
its name in an importable module; otherwise -- ``__main__``, a closure, a renamed
object -- by value: the plain function and the jit options, which ``cloudpickle``
ships with the globals and closure cells the function uses.

**Shipping** (`ship`): the function is pickled with ``cloudpickle`` once per map or
graph, on the caller, so a failure is found before anything runs and reported as a
`WavejitError` naming the object that cannot be pickled (a global client holding an
``RLock``, a closure over a lock) and the fix, instead of a traceback from inside the
engine. Arguments are pickled per item the same way.

**On the worker** (`run_item`, `run_node`): the function is unpickled once per process
(a small cache keyed by its pickle), so a by-value function keeps its compiled code
between items. An item's outcome goes back as ``(True, pickled value)`` or
``(False, pickled exception)``: the engine only ever sees bytes, so its own error
wrapping means "the infrastructure failed", never "the user's function raised". The
exception gets a note with the worker's traceback text (tracebacks do not pickle) and
the item's index; one that cannot be pickled back becomes a `WavejitError` carrying
its text.

**Provider limits** (`wavejit.limit`): the caller's limits on hosts travel with every
item and node (`_limits.shared_spec`) and are installed on the worker before it runs
(`_limits.install_shared`), with the engine's cluster-wide slots (see
`wavejit.executors`): a ``max_concurrency`` holds across every worker process.
"""

from __future__ import annotations

import collections
import importlib
import inspect
import os
import pickle
import socket
import sys
import threading
import traceback
import types
from collections.abc import Callable, Iterator
from typing import Any

from ._errors import WavejitError, add_note
from ._limits import install_shared

__all__ = [
    "reduce_jitted", "load_jitted", "rebuild_jitted", "ship", "pack_args", "run_item",
    "unpack_outcome", "run_node", "Slot", "cluster_executor",
]


def _cloudpickle() -> Any:
    try:
        cloudpickle = importlib.import_module("cloudpickle")
    except ImportError:  # pragma: no cover - both extras install it
        raise WavejitError(
            "running on a cluster needs cloudpickle: pip install 'wavejit[dask]' or "
            "'wavejit[ray]'"
        ) from None
    return cloudpickle


# -- pickling a JitFunction --------------------------------------------------------------


def _lookup(module: str, qualname: str) -> Any:
    obj: Any = importlib.import_module(module)
    for part in qualname.split("."):
        obj = getattr(obj, part)
    return obj


def reduce_jitted(jitted: Any) -> tuple[Any, ...]:
    """``__reduce__`` of a `JitFunction`: by reference if importable, else by value."""
    fn = jitted.__wrapped__
    module = getattr(fn, "__module__", None)
    qualname = getattr(fn, "__qualname__", None)
    if (module and qualname and module != "__main__" and "<locals>" not in qualname
            and module in sys.modules):
        try:
            found = _lookup(module, qualname)
        except Exception:  # noqa: BLE001 - not found under its name: ship by value
            found = None
        if found is jitted:
            return load_jitted, (module, qualname)
    executor = jitted.executor if jitted.executor in (None, "threads", "sequential") else None
    options = {
        "strategy": jitted.strategy,
        "max_workers": jitted.max_workers,
        "executor": executor,
        "enabled": jitted._plain_reason != "disabled by jit(enabled=False)",
        "speculate": jitted.speculate,
    }
    return rebuild_jitted, (fn, options)


def load_jitted(module: str, qualname: str) -> Any:
    """Unpickle a jitted function by reference: import it (the worker's own object)."""
    return _lookup(module, qualname)


def rebuild_jitted(fn: Callable[..., Any], options: dict[str, Any]) -> Any:
    """Unpickle a jitted function by value: jit the shipped plain function again."""
    from ._jit import JitFunction

    return JitFunction(fn, **options)


# -- shipping, with a diagnosis when it fails ---------------------------------------------


def _describe(obj: object) -> str:
    kind = type(obj)
    return f"{kind.__module__}.{kind.__qualname__}".removeprefix("builtins.")


def _code_names(code: types.CodeType) -> Iterator[str]:
    yield from code.co_names
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            yield from _code_names(const)


def _parts(fn: types.FunctionType) -> Iterator[tuple[str, object]]:
    """What cloudpickle ships with a function sent by value, labelled for a message."""
    cells = fn.__closure__ or ()
    for name, cell in zip(fn.__code__.co_freevars, cells, strict=True):
        try:
            yield f"closure variable {name!r}", cell.cell_contents
        except ValueError:  # an empty cell
            continue
    seen = set()
    for name in _code_names(fn.__code__):
        if name in fn.__globals__ and name not in seen:
            seen.add(name)
            value = fn.__globals__[name]
            if not isinstance(value, types.ModuleType):
                yield f"global {name!r}", value
    for i, value in enumerate(fn.__defaults__ or ()):
        yield f"default argument {i}", value
    for name, value in (fn.__kwdefaults__ or {}).items():
        yield f"default of {name!r}", value


def _culprit(obj: object, dumps: Callable[[object], bytes], depth: int = 0,
             seen: set[int] | None = None) -> list[str] | None:
    """The chain of names leading to an object that cannot be pickled, if found."""
    seen = set() if seen is None else seen
    if id(obj) in seen or depth > 4:
        return None
    seen.add(id(obj))
    fn = getattr(obj, "__wrapped__", obj) if getattr(obj, "__wavejit_jit__", False) else obj
    if not isinstance(fn, types.FunctionType):
        return None
    for label, value in _parts(fn):
        try:
            dumps(value)
        except Exception:  # noqa: BLE001 - this is the part that fails
            deeper = _culprit(value, dumps, depth + 1, seen)
            name = getattr(fn, "__qualname__", "?")
            if deeper:
                return [*deeper, f"used by {name}()"]
            return [f"{label} ({_describe(value)})", f"used by {name}()"]
    return None


def ship(fn: object, what: str) -> bytes:
    """``cloudpickle.dumps(fn)``, or a `WavejitError` naming what cannot be pickled."""
    cloudpickle = _cloudpickle()
    try:
        return bytes(cloudpickle.dumps(fn))
    except Exception as err:  # noqa: BLE001 - re-raised as a WavejitError that teaches
        chain = _culprit(fn, cloudpickle.dumps)
        name = getattr(fn, "__qualname__", repr(fn))
        module = getattr(fn, "__module__", "?")
        if "<locals>" in name:
            how = ("it is a local function, so it is sent by value with its closure and "
                   "the globals it uses")
        elif module == "__main__":
            how = "it is defined in __main__, so it is sent by value with the globals it uses"
        else:
            how = ("it is not importable under its name, so it is sent by value with "
                   "the globals it uses")
        where = " ".join(chain) if chain else "some object it uses"
        raise WavejitError(
            f"cannot send {what} {name!r} to the cluster: {how}, and {where} cannot be "
            f"pickled ({type(err).__name__}: {err}). Fix: define the function, and the "
            "object, in an importable module (the function is then sent by reference and "
            "each worker creates its own object when it imports the module), or create "
            "the object on first use per process, in a function decorated with "
            "functools.cache. A module-level lock is then a different lock in each "
            "worker process: it no longer excludes across processes."
        ) from err


def pack_args(args: tuple[Any, ...], kwargs: dict[str, Any], what: str) -> bytes:
    """Pickle one item's arguments, or a `WavejitError` naming the one that fails."""
    cloudpickle = _cloudpickle()
    try:
        return bytes(cloudpickle.dumps((args, kwargs)))
    except Exception as err:  # noqa: BLE001 - re-raised as a WavejitError that teaches
        label = "an argument"
        for i, value in enumerate(args):
            try:
                cloudpickle.dumps(value)
            except Exception:  # noqa: BLE001 - this is the one
                label = f"argument {i} ({_describe(value)})"
                break
        raise WavejitError(
            f"cannot send {what} to the cluster: {label} cannot be pickled "
            f"({type(err).__name__}: {err}). Pass data the worker can rebuild (ids, "
            "strings, plain objects) and create clients on the worker."
        ) from err


# -- on the worker -----------------------------------------------------------------------

_functions: collections.OrderedDict[bytes, Any] = collections.OrderedDict()
_functions_lock = threading.Lock()
_CACHED_FUNCTIONS = 64


def _load_function(blob: bytes) -> Any:
    with _functions_lock:
        fn = _functions.get(blob)
        if fn is not None:
            _functions.move_to_end(blob)
            return fn
    fn = _cloudpickle().loads(blob)
    with _functions_lock:
        fn = _functions.setdefault(blob, fn)  # concurrent first loads: keep one
        while len(_functions) > _CACHED_FUNCTIONS:
            _functions.popitem(last=False)
    return fn


def _call(fn: Any, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    value = fn(*args, **kwargs)
    if inspect.isawaitable(value):  # an async function: its own loop, on this thread
        import asyncio

        async def wait() -> Any:
            return await value

        value = asyncio.run(wait())
    return value


def _where() -> str:
    return f"{socket.gethostname()} (pid {os.getpid()})"


def _pack_exception(exc: BaseException, label: str) -> BaseException:
    """`exc` with the worker's traceback as a note, or a stand-in if it cannot travel."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename == __file__:
        tb = tb.tb_next  # wavejit's own frames on the worker say nothing
    text = "".join(traceback.format_exception(type(exc), exc, tb))
    cloudpickle = _cloudpickle()
    try:
        cloudpickle.loads(cloudpickle.dumps(exc))
    except Exception as err:  # noqa: BLE001 - it cannot travel: send its text
        return WavejitError(
            f"{label} raised {type(exc).__qualname__}: {exc}, which cannot be pickled to "
            f"send it back ({type(err).__name__}: {err}); make the exception class "
            f"picklable (its __init__ taking its args). Worker traceback:\n{text}"
        )
    add_note(exc, f"wavejit: {label} raised on {_where()}; worker traceback:\n{text}")
    return exc


def run_item(fn_blob: bytes, index: int, args_blob: bytes,
             limits: Any = None) -> tuple[bool, bytes]:
    """Run one invocation; ``(True, pickled value)`` or ``(False, pickled exception)``.
    `limits`: the caller's provider limits (`_limits.shared_spec`), installed first."""
    cloudpickle = _cloudpickle()
    label = f"item {index}"
    try:
        install_shared(limits)
        fn = _load_function(fn_blob)
        args, kwargs = cloudpickle.loads(args_blob)
        value = _call(fn, args, kwargs)
    except BaseException as exc:  # noqa: BLE001 - sent back to the caller
        return False, bytes(cloudpickle.dumps(_pack_exception(exc, label)))
    try:
        return True, bytes(cloudpickle.dumps(value))
    except Exception as err:  # noqa: BLE001 - the value cannot travel
        failure = WavejitError(
            f"{label} returned {_describe(value)}, which cannot be pickled to send it "
            f"back ({type(err).__name__}: {err}); return plain data")
        return False, bytes(cloudpickle.dumps(failure))


def _leave_last_dask_slot() -> None:
    """Leave the Dask worker's thread pool (``secede``) if this task holds its last
    free thread: an invocation mostly waits, and must not starve the worker of task
    slots. Not otherwise: seceding costs a message to the scheduler per task (it
    halved throughput here), so a worker with many threads runs invocations on them."""
    distributed = importlib.import_module("distributed")
    try:
        state = distributed.get_worker().state
        full = len(state.executing) >= state.nthreads  # this task counts itself
    except Exception:  # noqa: BLE001 - another version's internals: play safe
        full = True
    if full:
        distributed.secede()


def run_item_dask(fn_blob: bytes, index: int, args_blob: bytes,
                  limits: Any = None) -> tuple[bool, bytes]:
    """`run_item` in a Dask task (see `_leave_last_dask_slot`)."""
    _leave_last_dask_slot()
    return run_item(fn_blob, index, args_blob, limits)


def unpack_outcome(outcome: tuple[bool, bytes]) -> tuple[bool, Any]:
    """The client's side of `run_item`: ``(ok, value or exception)``."""
    ok, blob = outcome
    return ok, pickle.loads(blob)


class Slot:
    """Stands for the result of graph node `index` inside a node's shipped arguments."""

    __slots__ = ("index",)

    def __init__(self, index: int) -> None:
        self.index = index

    def __reduce__(self) -> tuple[Any, ...]:
        return Slot, (self.index,)


def _fill(obj: Any, values: dict[int, Any]) -> Any:
    """`obj` with each `Slot` replaced by its node's value (as ``Node.bind`` does)."""
    if isinstance(obj, Slot):
        return values[obj.index]
    kind = type(obj)
    if kind is list:
        return [_fill(item, values) for item in obj]
    if kind is tuple:
        return tuple(_fill(item, values) for item in obj)
    if kind is dict:
        return {key: _fill(item, values) for key, item in obj.items()}
    if isinstance(obj, tuple) and hasattr(kind, "_make"):  # a namedtuple
        return kind._make(_fill(item, values) for item in obj)
    if isinstance(obj, list):
        return kind(_fill(item, values) for item in obj)
    if isinstance(obj, dict):
        return kind({key: _fill(item, values) for key, item in obj.items()})
    return obj


def run_node(fn_blob: bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
             dep_ids: tuple[int, ...], *dep_values: Any, limits: Any = None) -> Any:
    """Run one graph node; its dependencies' values arrive as top-level arguments (the
    engine resolves only those: Ray never looks inside containers)."""
    values = dict(zip(dep_ids, dep_values, strict=True))
    label = f"graph node {name!r}"
    try:
        install_shared(limits)
        fn = _load_function(fn_blob)
        return _call(fn, _fill(args, values), _fill(kwargs, values))
    except BaseException as exc:  # noqa: BLE001 - re-raised with the worker's traceback
        raise _pack_exception(exc, label) from None


def run_node_dask(fn_blob: bytes, name: str, args: tuple[Any, ...], kwargs: dict[str, Any],
                  dep_ids: tuple[int, ...], *dep_values: Any, limits: Any = None) -> Any:
    """`run_node` in a Dask task (see `_leave_last_dask_slot`)."""
    _leave_last_dask_slot()
    return run_node(fn_blob, name, args, kwargs, dep_ids, *dep_values, limits=limits)


def cluster_executor(executor: object) -> Any:
    """The wavejit cluster executor for `executor`, or None if it is not one.

    A ``distributed.Client`` is wrapped in a `DaskExecutor`; nothing is imported unless
    the caller's objects come from those packages.
    """
    if getattr(executor, "_wavejit_cluster", False):
        return executor
    distributed = sys.modules.get("distributed")
    if distributed is not None and isinstance(executor, distributed.Client):
        from .executors import DaskExecutor

        return DaskExecutor(executor)
    return None
