"""Class merges: granular CODEX cluster names → the 14 PhenoCell classes (a data file, overridable).

The default mapping is ``class_map.csv`` beside this module: two columns ``cluster_name,class_name``,
where ``class_name`` is one of :data:`phenocell.schema.CLASS_NAMES` (not ``Background``) or ``ignore``.
A user file in the same format adds names or overrides rows of the default.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from phenocell.errors import CorruptInputError, InvalidInputError, require_file
from phenocell.schema import CLASS_NAMES, IGNORE_INDEX, IGNORE_NAME, class_name

DEFAULT_CLASS_MAP = "class_map.csv"


@dataclass(frozen=True)
class ClassMap:
    """Granular name → class id (1..14, or 255 for ignored names), and the files it came from."""

    ids: dict[str, int]
    sources: tuple[str, ...]

    def class_id(self, name: str, *, context: str = "") -> int:
        """Class id of a granular name; an unknown name raises naming it and the mapping files."""
        try:
            return self.ids[name]
        except KeyError:
            raise InvalidInputError(
                f"unknown cluster name {name!r}{context}",
                expected=f"a name listed in the class map ({', '.join(self.sources)})",
                found=repr(name),
                fix=f"add a line '{name},<class>' to a CSV and pass it with --class-map FILE; "
                f"<class> is one of {', '.join(CLASS_NAMES[1:])} or {IGNORE_NAME}",
            ) from None

    def merged_names(self) -> dict[str, list[str]]:
        """Class name → the granular names merged into it (``ignore`` included)."""
        out: dict[str, list[str]] = {}
        for name, cid in sorted(self.ids.items()):
            out.setdefault(class_name(cid), []).append(name)
        return out


def _read_rows(text: str, source: str) -> dict[str, int]:
    rows = list(csv.reader(text.splitlines()))
    if not rows or [c.strip() for c in rows[0]] != ["cluster_name", "class_name"]:
        raise CorruptInputError(
            f"class map {source} has the wrong header",
            expected="first line 'cluster_name,class_name'",
            found=repr(",".join(rows[0]) if rows else ""),
            fix="start the file with the header line cluster_name,class_name",
        )
    valid = {name: i for i, name in enumerate(CLASS_NAMES) if i > 0} | {IGNORE_NAME: IGNORE_INDEX}
    ids: dict[str, int] = {}
    for lineno, row in enumerate(rows[1:], start=2):
        if not row or not "".join(row).strip():
            continue
        if len(row) != 2 or row[1].strip() not in valid:
            raise InvalidInputError(
                f"bad row {lineno} in class map {source}",
                expected=f"'<cluster name>,<class>' with <class> one of {', '.join(valid)}",
                found=repr(",".join(row)),
                fix="correct the class name on that line",
            )
        ids[row[0].strip()] = valid[row[1].strip()]
    return ids


def load_class_map(path: Path | None = None) -> ClassMap:
    """Load the default class map, updated with the rows of ``path`` when given."""
    default = resources.files("phenocell.converters").joinpath(DEFAULT_CLASS_MAP)
    ids = _read_rows(default.read_text(encoding="utf-8"), f"phenocell/converters/{DEFAULT_CLASS_MAP}")
    sources = [f"phenocell/converters/{DEFAULT_CLASS_MAP}"]
    if path is not None:
        require_file(Path(path), "class map file", "pass an existing CSV to --class-map")
        ids.update(_read_rows(Path(path).read_text(encoding="utf-8"), str(path)))
        sources.append(str(path))
    return ClassMap(ids=ids, sources=tuple(sources))
