"""Converters: one module per input format, each a :class:`~phenocell.converters.base.Source`, and one driver.

:data:`FORMATS` maps each format name (the ``--source`` value) to its module, in the order ``--source auto``
tries them. Auto-detection calls the function of :mod:`phenocell.converters.recognisers` named like the
module (file names only, no format module imported); only the detected format's module is then imported.
CODEX comes last: it is what a folder that no other format recognises is read as (its own errors then say
which CODEX file is missing). :func:`options_type` gives a format's options dataclass from
:data:`phenocell.converters.options.FORMAT_OPTIONS`, so the CLI builds and checks its options without
importing a format module either: that module (with ``datasets``, pandas, its readers) is imported after
the local workers start.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from phenocell.converters import recognisers
from phenocell.errors import InvalidOptionError, MissingInputError

if TYPE_CHECKING:
    from phenocell.converters.options import RunOptions

#: Format name → module under ``phenocell.converters`` (and its recogniser's name in ``recognisers``), in
#: auto-detection order.
FORMATS: dict[str, str] = {
    "phenobench-hdf5": "phenobench_hdf5",
    "authors-lmdb": "authors_lmdb",
    "lizard": "lizard",
    "pannuke": "pannuke",
    "arctique": "arctique",
    "spatialdata": "spatialdata",
    "codex": "codex",
}
#: The ``--source`` choices.
SOURCES: tuple[str, ...] = ("auto", *FORMATS)
#: What ``auto`` falls back to when no format recognises the input.
FALLBACK = "codex"


def _check_format(name: str) -> None:
    if name not in FORMATS:
        raise InvalidOptionError(
            f"unknown input format {name!r}",
            expected="one of " + ", ".join(SOURCES),
            found=repr(name),
            fix="pass --source with one of those",
        )


def source_type(name: str) -> Any:
    """The Source class of format ``name`` (this imports its module).

    Raises:
        InvalidOptionError: ``name`` is not a known format (the message lists them).

    """
    _check_format(name)
    return importlib.import_module(f"{__name__}.{FORMATS[name]}").SOURCE


def options_type(name: str) -> type[RunOptions]:
    """The options dataclass of format ``name`` (its Source's ``options_type``), without importing its module.

    Raises:
        InvalidOptionError: ``name`` is not a known format (the message lists them).

    """
    from phenocell.converters.options import FORMAT_OPTIONS

    _check_format(name)
    return FORMAT_OPTIONS[name]


def detect(path: Path, source: str = "auto") -> str:
    """The format to read ``path`` as: ``source`` itself, or (``auto``) the first that recognises it.

    Detection imports no format module (a named ``source`` is checked against :data:`FORMATS`).

    Raises:
        MissingInputError: nothing exists at ``path`` (said before any format's own missing file).
        InvalidOptionError: ``source`` is not ``auto`` or a known format.

    """
    if not Path(path).exists():
        raise MissingInputError(
            "raw input not found",
            expected="an existing raw export: a directory, or the file or store a --source format reads",
            found=f"nothing at {path}",
            fix="check the path (and the working directory it is relative to)",
        )
    if source != "auto":
        _check_format(source)
        return source
    for name in FORMATS:
        if name != FALLBACK and getattr(recognisers, FORMATS[name])(Path(path)):
            return name
    return FALLBACK
