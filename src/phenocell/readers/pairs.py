"""Two-column CSV files with a fixed header, read by one function.

The FoV exclusion list (``fov,reason``) and the class map (``cluster_name,class_name``) share it.
"""

from __future__ import annotations

import csv
from pathlib import Path

from phenocell.errors import CorruptInputError, require_file

EXCLUSION_HEADER = ("fov", "reason")


def parse_pairs(text: str, *, source: str, header: tuple[str, str], what: str) -> list[tuple[int, str, str]]:
    """``(line number, key, value)`` rows of a two-column CSV text after its header line.

    Blank lines are skipped; a value may contain commas (everything after the first one). A wrong header or
    a row with an empty key or value raises :class:`CorruptInputError`.
    """
    rows = list(csv.reader(text.splitlines()))
    if not rows or tuple(c.strip() for c in rows[0]) != header:
        raise CorruptInputError(
            f"{what} {source} has the wrong header",
            expected=f"first line '{','.join(header)}'",
            found=repr(",".join(rows[0]) if rows else ""),
            fix=f"start the file with the header line {','.join(header)}",
        )
    out = []
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        key, value = row[0].strip(), ",".join(row[1:]).strip()
        if not key or not value:
            raise CorruptInputError(
                f"bad line {lineno} in {what} {source}",
                expected=f"'<{header[0]}>,<{header[1]}>' with both filled",
                found=repr(",".join(row)),
                fix=f"give every {header[0]} a {header[1]}",
            )
        out.append((lineno, key, value))
    return out


def read_pairs(path: Path, *, header: tuple[str, str], what: str, fix: str) -> list[tuple[int, str, str]]:
    """:func:`parse_pairs` of a file that must exist (``fix`` says what to pass instead)."""
    require_file(Path(path), what, fix)
    return parse_pairs(Path(path).read_text(encoding="utf-8"), source=str(path), header=header, what=what)


def read_exclusions(path: Path) -> dict[str, str]:
    """``{fov: reason}`` from an exclusion list file."""
    rows = read_pairs(
        path,
        header=EXCLUSION_HEADER,
        what="exclusion list",
        fix="pass an existing CSV with columns fov,reason to --exclude",
    )
    return {fov: reason for _, fov, reason in rows}


def write_exclusions(path: Path, exclusions: dict[str, str]) -> None:
    """Write ``{fov: reason}`` as an exclusion list file."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(EXCLUSION_HEADER)
        for fov, reason in sorted(exclusions.items()):
            writer.writerow([fov, reason])
