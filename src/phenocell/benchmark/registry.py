"""A registry of decorated factories under namespaced keys (``namespace/name``), like timm's and eva's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

from phenocell.errors import InvalidOptionError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps ``namespace/name`` keys to factories; duplicate or unknown keys raise."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: dict[str, Callable[[], T]] = {}

    def register(self, key: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
        """Decorator that registers a factory under ``key``."""
        if key.count("/") != 1 or not all(key.split("/")):
            raise InvalidOptionError(
                f"bad {self.kind} key",
                expected="'namespace/name'",
                found=repr(key),
                fix="use a namespaced key such as 'pathology/uni'",
            )

        def decorate(factory: Callable[[], T]) -> Callable[[], T]:
            if key in self._items:
                raise InvalidOptionError(
                    f"duplicate {self.kind} key",
                    expected="a new key",
                    found=f"{key!r} is already registered",
                    fix="pick another name",
                )
            self._items[key] = factory
            return factory

        return decorate

    def get(self, key: str) -> T:
        """Build the entry registered under ``key``."""
        if key not in self._items:
            raise InvalidOptionError(
                f"unknown {self.kind} {key!r}",
                expected=f"one of {', '.join(self.keys())}",
                found=repr(key),
                fix=f"pick a registered {self.kind}",
            )
        return self._items[key]()

    def keys(self) -> list[str]:
        """Registered keys, sorted."""
        return sorted(self._items)
