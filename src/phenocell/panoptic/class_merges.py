"""Class merges: granular CODEX cluster names → the 14 PhenoCell classes (a data file, overridable).

The default mapping is ``class_map.csv`` beside this module: two columns ``cluster_name,class_name``,
where ``class_name`` is one of :data:`phenocell.schema.CLASS_NAMES` (not ``Background``) or ``ignore``.
A user file in the same format adds names or overrides rows of the default.
"""

from __future__ import annotations

from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from phenocell.errors import InvalidInputError
from phenocell.readers.pairs import parse_pairs, read_pairs
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

    def canonical(self, name: str, *, context: str = "") -> str:
        """The class map's own spelling of ``name``, case and spacing folded (the README's one rule).

        The name itself, or the one known name it equals ignoring case and spacing; an unknown (or
        ambiguous) name raises as :meth:`class_id` does.
        """
        if name in self.ids:
            return name
        key = " ".join(name.lower().split())
        matches = [known for known in self.ids if " ".join(known.lower().split()) == key]
        if len(matches) == 1:
            return matches[0]
        self.class_id(name, context=context)  # raises: unknown (or ambiguous) name
        return name  # pragma: no cover - class_id raised

    def merged_names(self) -> dict[str, list[str]]:
        """Class name → the granular names merged into it (``ignore`` included)."""
        out: dict[str, list[str]] = {}
        for name, cid in sorted(self.ids.items()):
            out.setdefault(class_name(cid), []).append(name)
        return out


CLASS_MAP_HEADER = ("cluster_name", "class_name")


def _class_ids(rows: list[tuple[int, str, str]], source: str) -> dict[str, int]:
    valid = {name: i for i, name in enumerate(CLASS_NAMES) if i > 0} | {IGNORE_NAME: IGNORE_INDEX}
    ids: dict[str, int] = {}
    for lineno, cluster, klass in rows:
        if klass not in valid:
            raise InvalidInputError(
                f"bad row {lineno} in class map {source}",
                expected=f"'<cluster name>,<class>' with <class> one of {', '.join(valid)}",
                found=repr(f"{cluster},{klass}"),
                fix="correct the class name on that line",
            )
        ids[cluster] = valid[klass]
    return ids


def load_class_map(path: Path | None = None) -> ClassMap:
    """Load the default class map, updated with the rows of ``path`` when given."""
    default = resources.files("phenocell.panoptic").joinpath(DEFAULT_CLASS_MAP)
    source = f"phenocell/panoptic/{DEFAULT_CLASS_MAP}"
    text = default.read_text(encoding="utf-8")
    ids = _class_ids(parse_pairs(text, source=source, header=CLASS_MAP_HEADER, what="class map"), source)
    sources = [source]
    if path is not None:
        rows = read_pairs(
            Path(path), header=CLASS_MAP_HEADER, what="class map", fix="pass an existing CSV to --class-map"
        )
        ids.update(_class_ids(rows, str(path)))
        sources.append(str(path))
    return ClassMap(ids=ids, sources=tuple(sources))
