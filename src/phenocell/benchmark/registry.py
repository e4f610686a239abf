"""A registry of decorated factories under keys (``namespace/name`` for encoders), like timm's and eva's."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from phenocell.errors import InvalidOptionError

T = TypeVar("T")


class Registry(Generic[T]):
    """Maps keys to factories; duplicate or unknown keys raise.

    Keys are ``namespace/name`` (``pathology/uni``) unless ``namespaced`` is False (heads: ``linear``).
    """

    def __init__(self, kind: str, *, namespaced: bool = True) -> None:
        self.kind = kind
        self.namespaced = namespaced
        self._items: dict[str, Callable[[], T]] = {}

    def register(self, key: str) -> Callable[[Callable[[], T]], Callable[[], T]]:
        """Decorator that registers a factory under ``key``."""
        parts = key.split("/")
        if not all(parts) or len(parts) != (2 if self.namespaced else 1):
            raise InvalidOptionError(
                f"bad {self.kind} key",
                expected="'namespace/name'" if self.namespaced else "a name without '/'",
                found=repr(key),
                fix="use a key such as " + ("'pathology/uni'" if self.namespaced else "'linear'"),
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

    def __contains__(self, key: object) -> bool:
        return key in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(self.keys())
