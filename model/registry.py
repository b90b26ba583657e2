"""Named registries filled by decorators (stimulus kinds, scenario metrics).

A leaf module. ``KINDS = Registry("stimulus kind")`` then ``@KINDS.register("pulse")`` on a
function adds it under that name; a second function under the same name is an error, so
two modules cannot silently replace each other's entry.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

F = TypeVar("F", bound=Callable[..., Any])


class Registry(dict[str, Callable[..., Any]]):
    """A dict of named functions with a ``register(name)`` decorator."""

    def __init__(self, what: str) -> None:
        super().__init__()
        self.what = what

    def register(self, name: str) -> Callable[[F], F]:
        """Decorator: add the function under ``name`` and return it unchanged."""

        def add(fn: F) -> F:
            if name in self and self[name] is not fn:
                raise ValueError(f"{self.what} '{name}' is registered twice")
            self[name] = fn
            return fn

        return add
