"""Click options derived from config dataclass fields, so each default and choice is declared once.

``option_from(TileOptions, "tile_size", "--tile-size", help=...)`` reads the field's type and default:

- ``Literal["a", "b"]`` → ``click.Choice(["a", "b"])``; ``bool`` → a flag; ``Path`` → ``click.Path``;
- ``X | None`` → type ``X`` with default ``None``;
- the default (or ``default_factory()``) is shown in ``--help``.

The click parameter name is the field name, so the command's keyword arguments build the dataclass directly.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from phenocell.errors import literal_values as literal_choices
from phenocell.errors import strip_optional

_MISSING = dataclasses.MISSING


def field_info(cls: type, name: str) -> tuple[Any, Any]:
    """The resolved type annotation and default value of dataclass field ``name``."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name == name:
            if f.default is not _MISSING:
                return hints[name], f.default
            if f.default_factory is not _MISSING:
                return hints[name], f.default_factory()
            return hints[name], None
    raise KeyError(f"{cls.__name__} has no field {name!r}")


def click_type(tp: Any) -> Any:
    """The click parameter type for a field annotation."""
    choices = literal_choices(tp)
    if choices is not None:
        if all(isinstance(c, str) for c in choices):
            return click.Choice(list(choices))
        return click.Choice([str(c) for c in choices])
    base = strip_optional(tp)
    if base is Path:
        return click.Path(path_type=Path)
    if base in (int, float, str):
        return base
    raise TypeError(f"no click type for annotation {tp!r}")


def option_from(
    cls: type, name: str, *decls: str, dest: str | None = None, **kwargs: Any
) -> Callable[[Any], Any]:
    """A ``click.option`` for dataclass field ``name`` of ``cls`` (default and choices from the field).

    Args:
        cls: the config dataclass.
        name: the field name; also the click parameter name.
        *decls: the option's flags, e.g. ``"--tile-size"``.
        dest: the click parameter name when it differs from the field name.
        **kwargs: other ``click.option`` arguments (``help``, ...); ``type``/``default`` are derived.

    Returns:
        The click decorator.
    """
    tp, default = field_info(cls, name)
    param = dest or name
    if strip_optional(tp) is bool:
        return click.option(*decls, param, is_flag=True, default=bool(default), **kwargs)
    ctype = click_type(tp)
    if isinstance(ctype, click.Choice) and default is not None and not isinstance(default, str):
        default = str(default)
    return click.option(
        *decls, param, type=ctype, default=default, show_default=default is not None, **kwargs
    )


def apply(func: Callable[..., Any], decorators: list[Callable[[Any], Any]]) -> Callable[..., Any]:
    """Apply click decorators in reading order (the first one listed is the first in ``--help``)."""
    for decorator in reversed(decorators):
        func = decorator(func)
    return func


def cli_defaults(command: click.Command) -> dict[str, Any]:
    """``{parameter name: default}`` of a click command (for alignment tests)."""
    return {p.name: p.default for p in command.params if p.name}


def cli_choices(command: click.Command) -> dict[str, list[str]]:
    """``{parameter name: choices}`` of a click command's ``Choice`` options."""
    return {
        p.name: list(p.type.choices) for p in command.params if p.name and isinstance(p.type, click.Choice)
    }
