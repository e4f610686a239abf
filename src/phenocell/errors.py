"""Typed errors: each says what was expected, what was found, and how to fix it.

The classes subclass the builtin a caller would catch (``FileNotFoundError``, ``ValueError``,
``FileExistsError``), so ``except ValueError`` keeps working, and :class:`PhenoCellError` catches them all.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
import types
import typing
from collections.abc import Iterable
from pathlib import Path
from typing import Any


class PhenoCellError(Exception):
    """Base of all PhenoCell errors; the message has ``expected`` / ``found`` / ``fix`` lines."""

    def __init__(self, what: str, *, expected: str, found: str, fix: str) -> None:
        self.what, self.expected, self.found, self.fix = what, expected, found, fix
        super().__init__(f"{what}\n  expected: {expected}\n  found:    {found}\n  fix:      {fix}")

    def __str__(self) -> str:
        return str(self.args[0])

    def __reduce__(self) -> tuple[Any, ...]:
        # keyword-only fields: the default ``cls(*args)`` would fail when a worker process sends this back
        return (_rebuild, (type(self), self.what, self.expected, self.found, self.fix), self.__dict__)


def _rebuild(cls: type[PhenoCellError], what: str, expected: str, found: str, fix: str) -> PhenoCellError:
    """Recreate a pickled error (see :meth:`PhenoCellError.__reduce__`)."""
    return cls(what, expected=expected, found=found, fix=fix)


class MissingInputError(PhenoCellError, FileNotFoundError):
    """A raw input file or directory is absent."""


class CorruptInputError(PhenoCellError, ValueError):
    """A raw input file exists but cannot be read (truncated TIFF, unparsable CSV, ...)."""


class InvalidInputError(PhenoCellError, ValueError):
    """A raw input is readable but its content breaks the contract (missing column, unknown class...)."""


class InvalidOptionError(PhenoCellError, ValueError):
    """An option value is not one of the valid choices or out of range."""


class OutputExistsError(PhenoCellError, FileExistsError):
    """The output directory exists and ``overwrite`` was not given."""


class SplitLeakageError(PhenoCellError, ValueError):
    """A split family puts one patient in two splits, or breaks its own rule."""


class IntegrityError(PhenoCellError, ValueError):
    """A written file does not match the hash its manifest recorded."""


class UnsafeInputError(PhenoCellError, ValueError):
    """A downloaded file would run code when read (e.g. a pickle naming a global outside the allow-list)."""


class MissingDependencyError(PhenoCellError, ImportError):
    """An optional package needed by this command is not installed."""


def require_package(module: str, extra: str, what: str) -> None:
    """Raise :class:`MissingDependencyError` naming the install command when ``module`` cannot be imported."""
    if importlib.util.find_spec(module) is None:
        raise MissingDependencyError(
            f"{what} needs the Python package {module!r}",
            expected=f"{module!r} importable",
            found="not installed",
            fix=f'pip install "phenocell[{extra}]"  (or: pip install {module})',
        )


class UnsafePathError(PhenoCellError, ValueError):
    """A name used in a path would leave its folder, or an output would overlap the raw input."""


class OutputLockedError(PhenoCellError, FileExistsError):
    """Another run is writing the same output directory."""


class ResourceLimitError(PhenoCellError, ValueError):
    """An input declares a size beyond the configured limit (e.g. ``--max-pixels``)."""


class SystemResourceError(PhenoCellError, OSError):
    """The operating system refused an operation (disk full, permission denied, read-only file system)."""


class NetworkError(PhenoCellError, ConnectionError):
    """A remote service (the Hugging Face Hub) could not be reached or refused the request."""


class WorkerError(PhenoCellError, RuntimeError):
    """A worker process or cluster worker died while processing a FoV (killed, out of memory)."""


def check_choice(name: str, value: object, choices: Iterable[object]) -> None:
    """Raise :class:`InvalidOptionError` listing the valid choices when ``value`` is not among them."""
    options = list(choices)
    if value not in options:
        raise InvalidOptionError(
            f"invalid value for {name}",
            expected=f"one of {', '.join(map(repr, options))}",
            found=repr(value),
            fix=f"pass one of the valid values for {name}",
        )


def strip_optional(annotation: Any) -> Any:
    """``X`` for an ``X | None`` (or ``Optional[X]``) annotation; any other annotation unchanged."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def literal_values(annotation: Any) -> tuple[Any, ...] | None:
    """The values of a ``Literal[...]`` (optionally ``| None``) annotation, else ``None``."""
    annotation = strip_optional(annotation)
    return typing.get_args(annotation) if typing.get_origin(annotation) is typing.Literal else None


def check_literal_fields(obj: Any) -> None:
    """:func:`check_choice` for every ``Literal`` field of a dataclass instance (``None`` values skipped)."""
    hints = typing.get_type_hints(type(obj))
    for f in dataclasses.fields(obj):
        choices, value = literal_values(hints[f.name]), getattr(obj, f.name)
        if choices is not None and value is not None:
            check_choice(f.name, value, choices)


def require_file(path: Path, what: str, fix: str) -> Path:
    """Return ``path`` if it is a file, else raise :class:`MissingInputError`."""
    if not path.is_file():
        raise MissingInputError(
            f"missing {what}", expected=f"a file at {path}", found="nothing there", fix=fix
        )
    return path


def read_json_file(path: Path, what: str, fix: str) -> Any:
    """The parsed JSON of a required file; a missing or unparsable file is a typed error."""
    require_file(Path(path), what, fix)
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptInputError(
            f"{what} {path} is not valid JSON", expected="a JSON document", found=str(err), fix=fix
        ) from err


#: Top-level packages whose exceptions mean "the network / remote service failed".
NETWORK_PACKAGES = ("httpx", "httpx2", "requests", "urllib3", "huggingface_hub", "aiohttp", "hf_xet")


def network_error(err: BaseException, action: str) -> NetworkError | None:
    """A :class:`NetworkError` for ``err`` if it comes from the network stack (or is a socket error)."""
    packages = {cls.__module__.split(".")[0] for cls in type(err).__mro__}
    if not (packages & set(NETWORK_PACKAGES) or isinstance(err, (ConnectionError, TimeoutError))):
        return None
    first = str(err).splitlines()[0][:300] if str(err) else ""
    return NetworkError(
        f"could not {action}",
        expected="a reachable Hugging Face Hub that accepts the request",
        found=f"{type(err).__name__}: {first}",
        fix="check the network, HF_ENDPOINT and your token (`hf auth login`), then run the command again; "
        "an interrupted upload resumes",
    )
