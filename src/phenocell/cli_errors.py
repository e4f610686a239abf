"""The one top-level error handler of the CLI: typed errors → clean message and exit status 2.

- :class:`PhenoCellError`: its expected / found / fix message, exit 2.
- ``OSError`` (disk full, permission denied, read-only file system, a path under a file, ...): a typed
  message naming the path and the cause, exit 2; network failures likewise.
- An exception class defined by a library that parses user data (pyarrow, tifffile, PIL, ...): the input
  could not be read, exit 2.
- Anything else is a bug in phenocell: one line saying so, exit 1; ``--debug`` (or ``PHENOCELL_DEBUG=1``)
  shows the traceback instead.
"""

from __future__ import annotations

import errno
import functools
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from phenocell import __version__
from phenocell.errors import PhenoCellError, SystemResourceError, network_error

#: The ``--debug`` flag of the top-level commands (read by :func:`friendly_errors`).
DEBUG = click.option("--debug", is_flag=True, help="Show the traceback of an unexpected error.")

EXIT_USER = 2
EXIT_BUG = 1
#: Libraries whose own exception classes mean "this input could not be parsed".
DATA_LIBRARIES = (
    "pyarrow",
    "tifffile",
    "PIL",
    "zarr",
    "numcodecs",
    "imagecodecs",
    "rasterio",
    "shapely",
    "pandas",
    "datasets",
    "safetensors",
    "yaml",
    "json",
    "openpyxl",
)

_OS_CAUSES = {
    errno.ENOSPC: ("the disk is full", "free space or write --out to another disk"),
    errno.EDQUOT: ("the disk quota is exceeded", "free space or write --out elsewhere"),
    errno.EACCES: ("permission denied", "choose a path you may write / read, or fix its permissions"),
    errno.EPERM: ("operation not permitted", "choose another path"),
    errno.EROFS: ("the file system is read-only", "write --out to a writable location"),
    errno.ENOTDIR: ("a part of the path is a file, not a directory", "choose a path under a directory"),
    errno.ENOENT: ("no such file or directory", "check the path exists"),
    errno.EISDIR: ("a directory is where a file was expected", "check the path"),
    errno.EEXIST: ("the path already exists", "choose another path or remove it"),
    errno.ENAMETOOLONG: ("a file name is too long", "use shorter names"),
}


def debug_requested() -> bool:
    """True when ``--debug`` was given to any command in the current chain, or ``PHENOCELL_DEBUG=1``."""
    if os.environ.get("PHENOCELL_DEBUG", "").lower() in ("1", "true", "yes"):
        return True
    ctx = click.get_current_context(silent=True)
    while ctx is not None:
        if ctx.params.get("debug"):
            return True
        ctx = ctx.parent
    return False


def os_error(err: OSError) -> PhenoCellError:
    """The typed error for an operating-system failure (disk full, permissions, ...)."""
    network = network_error(err, "reach the remote service")
    if network is not None:
        return network
    cause, fix = _OS_CAUSES.get(err.errno or -1, (err.strerror or type(err).__name__, "check the path"))
    path = " -> ".join(str(p) for p in (err.filename, err.filename2) if p is not None) or "(no path given)"
    return SystemResourceError(
        f"the system refused an operation: {cause}",
        expected="a readable input and a writable output location",
        found=f"{type(err).__name__} [errno {err.errno}] on {path}: {err.strerror or err}",
        fix=f"{fix}; a failed conversion leaves any previous output untouched",
    )


def library_error(err: Exception) -> PhenoCellError | None:
    """A typed error for an exception class of a data-parsing library, else ``None``."""
    network = network_error(err, "reach the remote service")
    if network is not None:
        return network
    module = type(err).__module__.split(".")[0]
    if module not in DATA_LIBRARIES:
        return None
    first = str(err).splitlines()[0][:300] if str(err) else ""
    return PhenoCellError(
        "an input file could not be read",
        expected="well-formed input files",
        found=f"{type(err).__module__}.{type(err).__name__}: {first}",
        fix="check or re-create the file the message names; run with --debug for details",
    )


def _typed(err: BaseException) -> PhenoCellError | None:
    if isinstance(err, OSError):
        return os_error(err)
    if isinstance(err, MemoryError):
        return PhenoCellError(
            "out of memory",
            expected="inputs that fit in memory",
            found="MemoryError",
            fix="check image sizes (--max-pixels) or use a machine with more memory",
        )
    return library_error(err) if isinstance(err, Exception) else None


def friendly_errors(func: Callable[..., Any]) -> Callable[..., Any]:
    """Run a command body under the top-level handler (see the module docstring)."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except (click.exceptions.ClickException, click.exceptions.Exit, click.exceptions.Abort):
            raise
        except KeyboardInterrupt:
            click.echo("Error: interrupted; any previous output is untouched", err=True)
            sys.exit(130)
        except PhenoCellError as err:
            click.echo(f"Error: {err}", err=True)
            sys.exit(EXIT_USER)
        except Exception as err:
            typed = _typed(err)
            if debug_requested():
                raise
            if typed is not None:
                click.echo(f"Error: {typed}", err=True)
                sys.exit(EXIT_USER)
            click.echo(
                f"Error: internal error, this is a bug in phenocell {__version__} ({type(err).__name__}: "
                f"{str(err).splitlines()[0][:200] if str(err) else ''}); rerun with --debug for the "
                "traceback and report it",
                err=True,
            )
            sys.exit(EXIT_BUG)

    return wrapper
