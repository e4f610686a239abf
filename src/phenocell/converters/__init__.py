"""Converters: one module per input format, each a :class:`~phenocell.converters.base.Source`, and one driver.

:data:`FORMATS` maps each format name (the ``--source`` value) to its module, in the order ``--source auto``
tries them. Auto-detection calls the function of :mod:`phenocell.converters.recognisers` named like the
module (file names only, no format module imported); only the detected format's module is then imported.
CODEX comes last: it is what a folder that no other format recognises is read as (its own errors then say
which CODEX file is missing).
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

from phenocell.converters import recognisers
from phenocell.errors import InvalidOptionError

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


def source_type(name: str) -> Any:
    """The Source class of format ``name``.

    Raises:
        InvalidOptionError: ``name`` is not a known format (the message lists them).

    """
    if name not in FORMATS:
        raise InvalidOptionError(
            f"unknown input format {name!r}",
            expected="one of " + ", ".join(SOURCES),
            found=repr(name),
            fix="pass --source with one of those",
        )
    return importlib.import_module(f"{__name__}.{FORMATS[name]}").SOURCE


def detect(path: Path, source: str = "auto") -> str:
    """The format to read ``path`` as: ``source`` itself, or (``auto``) the first that recognises it.

    Detection imports no format module; naming ``source`` imports that one only (to check it exists).
    """
    if source != "auto":
        source_type(source)
        return source
    for name in FORMATS:
        if name != FALLBACK and getattr(recognisers, FORMATS[name])(Path(path)):
            return name
    return FALLBACK
