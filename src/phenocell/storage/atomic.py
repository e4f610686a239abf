"""Atomic output directories: a lock per output, a unique temporary sibling per run, safe stale clean-up.

For an output ``DIR`` a run holds ``.DIR.lock`` (created exclusively, holding ``pid host``) for its whole
life and writes into ``.DIR.partial-<pid>-<token>``. On success the partial replaces ``DIR``; on failure it is
renamed aside and removed. A second run on the same ``DIR`` finds the lock and is refused while the first
lives; the lock and partials of a run that died (same host, pid gone) are removed by the next run.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from phenocell.errors import InvalidOptionError, OutputLockedError, SystemResourceError
from phenocell.paths import check_replaceable, nearest_existing, why_not_creatable

PARTIAL = "partial"


def _pid_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    return True


def _lock_owner(lock: Path) -> tuple[int, str]:
    try:
        pid, _, host = lock.read_text().strip().partition(" ")
        return int(pid), host
    except (OSError, ValueError):
        return -1, ""


def _is_stale(pid: int, host: str) -> bool:
    """A lock is stale when it was taken on this host by a process that no longer runs."""
    return host == socket.gethostname() and not _pid_alive(pid)


def _acquire(lock: Path, out: Path) -> None:
    for _ in range(2):
        try:
            fd = os.open(lock, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        except FileExistsError:
            pid, host = _lock_owner(lock)
            if _is_stale(pid, host):
                lock.unlink(missing_ok=True)
                continue
            raise OutputLockedError(
                f"another phenocell run is writing {out}",
                expected=f"no other run on {out}",
                found=f"lock {lock} held by pid {pid} on {host or 'an unknown host'}",
                fix=f"wait for that run to finish, or choose another --out; delete {lock} only if no run is "
                "active",
            ) from None
        with os.fdopen(fd, "w") as handle:
            handle.write(f"{os.getpid()} {socket.gethostname()}\n")
        return
    raise OutputLockedError(
        f"cannot lock {out}",
        expected=f"a lock file {lock} this run can create",
        found="the lock reappeared while removing a stale one",
        fix="retry; another run is starting on the same --out",
    )


def clean_stale_partials(out: Path) -> list[Path]:
    """Remove temporary siblings of ``out`` left by dead runs on this host; returns what was removed.

    Only call this while holding ``out``'s lock, so no live run on this host can own them.
    """
    removed = []
    for path in out.parent.glob(f".{out.name}.{PARTIAL}-*"):
        pid_text = path.name.removeprefix(f".{out.name}.{PARTIAL}-").split("-")[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _remove(path: Path) -> None:
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path)
    else:
        path.unlink()


def _discard(tmp: Path) -> None:
    """Remove a failed run's partial; renamed aside first, so that no late writer can add files to it.

    A Dask task already running when the run failed cannot be interrupted and may still write its shard.
    Removed in place, the folder could get a new file between the listing and the ``rmdir`` and survive;
    once renamed, the old path no longer resolves, so such a task fails instead (its result is dropped).
    """
    aside = tmp.with_name(f"{tmp.name}-discarded")
    try:
        tmp.rename(aside)
    except OSError:
        aside = tmp
    shutil.rmtree(aside, ignore_errors=True)


def _replace(out: Path, tmp: Path, old: Path) -> None:
    """Move ``tmp`` to ``out``; a previous ``out`` is moved aside first and put back if the move fails."""
    if out.exists():
        out.rename(old)
    try:
        tmp.rename(out)
    except BaseException:
        if old.exists() and not out.exists():
            old.rename(out)
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if old.exists():
        _remove(old)


def _check_parent(out: Path) -> None:
    """Refuse an output under a file, or whose folder cannot be created (read-only or virtual file system)."""
    parent = nearest_existing(Path(os.path.abspath(out)).parent)
    if not parent.is_dir():
        raise InvalidOptionError(
            f"output directory {out} lies under a file",
            expected="--out inside a directory (or a path whose folders can be created)",
            found=f"{parent} is a file",
            fix="choose another --out",
        )
    problem = why_not_creatable(parent)
    if problem:
        raise SystemResourceError(
            f"cannot create output directory {out}",
            expected="--out in a folder this user can create and write",
            found=problem,
            fix="choose another --out, on a writable disk",
        )


@contextmanager
def atomic_file(path: Path) -> Iterator[Path]:
    """A hidden partial file beside ``path`` to write; it replaces ``path`` when the block ends without error.

    Whole or not at all: on an error the partial file is removed and ``path`` is left as it was. The partial's
    name holds the process and thread, so concurrent writers of the same ``path`` never share one.
    """
    path = Path(path)
    partial = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.{PARTIAL}")
    try:
        yield partial
        os.replace(partial, path)
    finally:
        partial.unlink(missing_ok=True)


def _make_parents(out: Path) -> list[Path]:
    """Create ``out``'s missing parent folders; returns those created, deepest first."""
    created = [p for p in Path(os.path.abspath(out)).parents if not p.exists()]
    out.parent.mkdir(parents=True, exist_ok=True)
    return created


def _remove_empty(folders: list[Path]) -> None:
    """Remove the folders a failed run created for its ``--out`` (deepest first), if they stayed empty."""
    for folder in folders:
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextmanager
def atomic_directory(out: Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary sibling of ``out``; on success it replaces ``out``, on failure it is removed.

    ``overwrite`` replaces only an empty directory or one PhenoCell wrote (:func:`check_replaceable`). A
    failed run also removes the parent folders it created for ``out``.

    Raises:
        OutputLockedError: another live run holds ``out``'s lock.
        OutputExistsError: ``out`` exists and may not be replaced (checked before any work).

    """
    out = Path(out)
    _check_parent(out)
    created = _make_parents(out)
    lock = out.parent / f".{out.name}.lock"
    done = False
    try:
        _acquire(lock, out)
        try:
            check_replaceable(out, overwrite=overwrite)
            clean_stale_partials(out)
            token = f"{os.getpid()}-{secrets.token_hex(4)}"
            tmp = out.parent / f".{out.name}.{PARTIAL}-{token}"
            tmp.mkdir()
            try:
                yield tmp
            except BaseException:
                _discard(tmp)
                raise
            _replace(out, tmp, out.parent / f".{out.name}.{PARTIAL}-{token}-old")
            done = True
        finally:
            with contextlib.suppress(OSError):
                lock.unlink()
    finally:
        if not done:
            _remove_empty(created)
