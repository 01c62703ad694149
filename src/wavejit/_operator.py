"""Operators: composable units of a compound-AI program.

An `Operator` is a callable object whose ``__call__`` runs ``forward``. Sub-operators
are held as attributes or in lists, tuples or dicts; `Operator.sub_operators` lists
them. Nothing else is special: ``@jit`` sees a call to an Operator as a call to its
``forward`` (the source scan follows ``__call__`` into ``forward`` for the operator's
class), so an ensemble's members, called in a comprehension in the ensemble's
``forward``, run concurrently with no change to that ``forward``; nested Operators
compose.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

__all__ = ["Operator"]


class Operator:
    """Base class: subclasses define ``forward``; calling the operator runs it."""

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(
            f"{type(self).__name__} must define forward(self, ...): calling an Operator "
            "runs its forward method"
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    def sub_operators(self) -> list[Operator]:
        """The Operators held directly as attributes or inside containers."""
        return list(_operators_in(vars(self).values()))


def _operators_in(values: Any) -> Iterator[Operator]:
    for value in values:
        if isinstance(value, Operator):
            yield value
        elif isinstance(value, (list, tuple, set, frozenset)):
            yield from _operators_in(value)
        elif isinstance(value, dict):
            yield from _operators_in(value.values())
