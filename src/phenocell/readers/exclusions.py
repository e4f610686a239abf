"""The FoV exclusion list: CSV ``fov,reason`` (read by ``phenocell-convert --exclude``)."""

from __future__ import annotations

import csv
from pathlib import Path

from phenocell.errors import CorruptInputError, require_file

HEADER = ["fov", "reason"]


def read_exclusions(path: Path) -> dict[str, str]:
    """``{fov: reason}`` from an exclusion list file."""
    require_file(Path(path), "exclusion list", "pass an existing CSV with columns fov,reason to --exclude")
    rows = list(csv.reader(Path(path).read_text(encoding="utf-8").splitlines()))
    if not rows or [c.strip() for c in rows[0]] != HEADER:
        raise CorruptInputError(
            f"exclusion list {path} has the wrong header",
            expected="first line 'fov,reason'",
            found=repr(",".join(rows[0]) if rows else ""),
            fix="start the file with the line fov,reason",
        )
    out = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row:
            continue
        if len(row) < 2 or not row[0].strip() or not row[1].strip():
            raise CorruptInputError(
                f"bad line {lineno} in exclusion list {path}",
                expected="'<fov>,<reason>' with both filled",
                found=repr(",".join(row)),
                fix="give every excluded FoV a reason",
            )
        out[row[0].strip()] = ",".join(row[1:]).strip()
    return out


def write_exclusions(path: Path, exclusions: dict[str, str]) -> None:
    """Write ``{fov: reason}`` as an exclusion list file."""
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HEADER)
        for fov, reason in sorted(exclusions.items()):
            writer.writerow([fov, reason])
