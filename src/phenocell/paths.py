"""Path safety: names from data are identifiers, outputs stay in their folder and never touch the inputs.

Region names (the cell table's ``File Name``) become file names of shards, overlays and GeoJSON files, so
they must not carry path syntax. Every path built from one is checked again to lie inside its folder.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

from phenocell.errors import OutputExistsError, SystemResourceError, UnsafePathError

#: Characters a region name may hold: letters, digits and ``_ - . + = @ ( ) ,`` and spaces inside.
_NAME_OK = re.compile(r"^[\w\-.+=@(), ]+$")
MAX_NAME_LENGTH = 200


def check_region_name(name: object, *, source: str = "the cell table") -> str:
    r"""Return ``name`` if it is a safe identifier; raise :class:`UnsafePathError` otherwise.

    Refused: empty names, separators (``/``, ``\\``), ``.`` / ``..``, absolute paths, NUL and other control
    characters, a leading ``.``, leading / trailing spaces, names longer than :data:`MAX_NAME_LENGTH`.
    """
    text = str(name)
    problem = None
    if not text.strip():
        problem = "an empty name"
    elif "\x00" in text or any(ord(c) < 32 for c in text):
        problem = "a NUL or control character"
    elif ".." in re.split(r"[/\\]", text):
        problem = "a parent-directory reference ('..')"
    elif "/" in text or "\\" in text or os.sep in text:
        problem = "an absolute path" if text.startswith(("/", "\\")) else "a path separator"
    elif text.startswith("."):
        problem = "a leading '.'"
    elif text != text.strip() or len(text) > MAX_NAME_LENGTH or not _NAME_OK.match(text):
        problem = "characters outside letters, digits and _-.+=@(), (or surrounding spaces)"
    if problem:
        raise UnsafePathError(
            f"region name {text!r} in {source} is not a plain identifier",
            expected="a name like reg001_A (letters, digits, _-.; no path syntax)",
            found=f"{problem} in {text!r}",
            fix="correct the region column (--region-column) so each value names one region, not a path",
        )
    return text


def _absolute(path: Path) -> Path:
    return Path(os.path.abspath(path))


def check_inside(path: Path, root: Path, *, what: str = "output file", follow_links: bool = True) -> Path:
    """Return ``path`` if it lies inside ``root``, else raise :class:`UnsafePathError`.

    The check is lexical (``..`` collapsed) and, with ``follow_links``, also after resolving symbolic links.
    Inputs are checked lexically only: a raw export may link its image folders to another disk on purpose.
    """
    pairs = [(_absolute(path), _absolute(root))]
    if follow_links:
        pairs.append((Path(path).resolve(), Path(root).resolve()))
    for a, b in pairs:
        if a != b and b not in a.parents:
            raise UnsafePathError(
                f"{what} {path} would lie outside {root}",
                expected=f"a path inside {root}",
                found=str(a),
                fix="use plain region names without path syntax or links leaving the folder",
            )
    return Path(path)


def _overlap(raw: Path, out: Path) -> str | None:
    for r, o in ((_absolute(raw), _absolute(out)), (raw.resolve(), out.resolve())):
        if r == o:
            return "is the raw export itself"
        if r in o.parents:
            return "lies inside the raw export"
        if o in r.parents:
            return "contains the raw export"
    return None


def check_out_vs_raw(raw: Path, out: Path, *, flag: str = "--out") -> None:
    """Refuse an output directory equal to, inside, or containing the raw export (before any work)."""
    problem = _overlap(Path(raw), Path(out))
    if problem:
        raise UnsafePathError(
            f"{flag} {out} {problem} ({raw})",
            expected=f"{flag} outside the raw export and not containing it",
            found=f"{flag} {out}, raw export {raw}",
            fix=f"choose a {flag} directory beside the raw export, e.g. {Path(raw).parent / 'phenocell'}",
        )


#: Files that mark a directory as written by PhenoCell (a dataset, QC page or GeoJSON export; an LMDB export).
MANIFEST_NAMES = ("manifest.json", "phenocell_manifest.json")


def written_by_phenocell(path: Path) -> bool:
    """Whether directory ``path`` holds a PhenoCell manifest: a JSON object with a ``phenocell_version``."""
    for name in MANIFEST_NAMES:
        try:
            doc = json.loads((Path(path) / name).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "phenocell_version" in doc:
            return True
    return False


def _listing(path: Path, shown: int = 5) -> str:
    names = sorted(p.name for p in path.iterdir())
    more = f", ... ({len(names)} entries)" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def nearest_existing(path: Path) -> Path:
    """``path`` itself if it exists, else its nearest existing ancestor (what creating it would go into)."""
    return next(p for p in (Path(path), *Path(path).parents) if p.exists())


def why_not_creatable(folder: Path) -> str | None:
    """Why ``folder`` cannot be created and written in, else None.

    Catches a file on its path and a read-only or virtual file system (``/proc``: no space, no new folders)
    by making and removing a temporary folder in its nearest existing ancestor: nothing is left behind, and
    a concurrent run writing the same folder is not touched.
    """
    probe = nearest_existing(folder)
    if not probe.is_dir():
        return f"{probe} is a file, not a directory"
    try:
        os.rmdir(tempfile.mkdtemp(prefix=".phenocell-probe-", dir=probe))
    except OSError as err:
        return f"{type(err).__name__}: {err.strerror or err} (creating a folder in {probe})"
    return None


def check_output_file(out: Path, *, flag: str = "--out") -> None:
    """Refuse, before any work, an output file that cannot be written (a directory, an uncreatable folder).

    Raises:
        SystemResourceError: ``out`` is a directory, or its folder cannot be created or written in.
    """
    out = Path(out)
    problem = f"{out} is a directory" if out.is_dir() else why_not_creatable(out.parent)
    if problem:
        raise SystemResourceError(
            f"cannot write {flag} {out}",
            expected=f"{flag}: a file path in a folder this user can create and write",
            found=problem,
            fix=f"choose another {flag}",
        )


def check_replaceable(out: Path, *, overwrite: bool, flag: str = "--out") -> None:
    """Refuse an existing ``out`` unless ``overwrite`` and it is empty or something PhenoCell wrote.

    ``--overwrite`` replaces only a directory holding a PhenoCell manifest (see :func:`written_by_phenocell`)
    or an empty directory; an ordinary file, a link or a directory of other files is never replaced.

    Raises:
        OutputExistsError: ``out`` exists and may not be replaced; the message names what is there.
    """
    out = Path(out)
    if not out.exists() and not out.is_symlink():
        return
    if not overwrite:
        raise OutputExistsError(
            f"output directory {out} already exists",
            expected="a path that does not exist yet",
            found=f"existing {'directory' if out.is_dir() else 'file'} {out}",
            fix=f"choose another {flag} or pass --overwrite to replace it",
        )
    if out.is_symlink() or not out.is_dir():
        what = "a symbolic link" if out.is_symlink() else f"a file of {out.stat().st_size:,d} bytes"
        found = f"{out} is {what}, not a directory PhenoCell wrote"
    elif any(out.iterdir()) and not written_by_phenocell(out):
        found = f"{out} holds {_listing(out)} and no PhenoCell manifest.json"
    else:
        return
    raise OutputExistsError(
        f"--overwrite only replaces what PhenoCell wrote; {out} is something else",
        expected=f"{flag} missing, an empty directory, or a directory holding a PhenoCell manifest.json",
        found=found,
        fix=f"choose another {flag}; if you mean to discard {out}, delete it yourself first",
    )


def ensure_empty_output_dir(path: Path | str, *, overwrite: bool = False) -> Path:
    """Return ``path`` as a :class:`Path` if it is missing or empty (or ``overwrite``); raise otherwise.

    Raises:
        OutputExistsError: ``path`` holds files and ``overwrite`` is false.
    """
    out = Path(path)
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise OutputExistsError(
            f"{out} is not empty",
            expected="a new or empty directory",
            found=str(out),
            fix="choose another directory or pass --overwrite",
        )
    return out
