"""``--source authors-lmdb`` (``phenocell import-lmdb``): the authors' LMDB release → a dataset directory.

Reads the release layout of :mod:`phenocell.storage.lmdb_layout`: every record is unpickled with the
allow-list and checked before anything is written; tiles are kept as they are (one shard per FoV, in key
order); the split families come from the split CSVs, read as ``--splits-from`` reads them
(:mod:`phenocell.splits.authors`: base, tumor_type, tumor_stage, dii_clr, msi, base_{5,10,20,50}pct). A
FoV that a tile-level split file names is written in parts (:mod:`phenocell.converters.tile_parts`).
Each FoV is one unit; the source takes no option beyond how the run goes (:class:`RunOptions`).

A release written by ``phenocell export lmdb`` carries our maps, row fields, ``splits.json`` and manifest
fields, and imports exactly. A release of the authors has no patient table: tumor type, stage and group of
a FoV are read off the domain-split CSVs (test side of ``adeno → mucinous`` is mucinous, and so on; absent:
unknown), the patient is the FoV's region number (the unit of their Base split), ``tile_x``/``tile_y``
are -1 (their tiles carry no origin) and the pixel size is the release's 0.377442 µm.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.converters import recognisers
from phenocell.converters.base import ManifestParts, UnitStats
from phenocell.converters.options import RunOptions
from phenocell.converters.outputs import input_hashes
from phenocell.errors import InvalidInputError, MissingInputError, read_json_file
from phenocell.panoptic.class_merges import load_class_map
from phenocell.paths import check_region_name
from phenocell.profiles import PHENOCELL, DatasetProfile
from phenocell.readers.pairs import write_exclusions
from phenocell.records import Patient
from phenocell.splits import DATA_EFFICIENCY, SPLITS, Splits
from phenocell.splits.authors import AuthorsSplits, file_rule, fov_of_sample, read_authors_splits
from phenocell.splits.rules import AUTHORS_SEED, SHIFT_RULES, region_of
from phenocell.splits.validate import validate_splits
from phenocell.storage.lmdb import env_path, get_records, iter_records
from phenocell.storage.lmdb_layout import (
    BASE_SPLIT_FILE,
    EXTRA_MANIFEST_FILE,
    EXTRA_SPLITS_FILE,
    LABEL_DICT_FILE,
    read_label_dict,
)
from phenocell.storage.lmdb_tiles import authors_row, has_phenocell_fields, restore_row

NOTE = (
    "imported from the authors' LMDB release: it has no ignore value, so dirt is background (0) in both "
    "maps; cells carry no granular names or markers"
)


def _splits(lmdb_dir: Path, authors: AuthorsSplits, fovs: list[str]) -> Splits:
    """Our splits: the exported ``splits.json`` when the release carries it (and agrees), else built.

    Built splits are validated: their patient overlaps and rule breaks are recorded in ``findings``.
    """
    extra = lmdb_dir / EXTRA_SPLITS_FILE
    if extra.is_file():
        doc = read_json_file(extra, "exported splits file", f"delete {extra.name} to import the CSVs")
        ours = {f: v["splits"] for f, v in doc["families"].items()}
        differ = [f for f in ours if authors.families.get(f) != ours[f]]
        differ += [f for f in authors.families if f not in ours and f not in DATA_EFFICIENCY]
        if differ:  # data-efficiency files the export drew for the authors' code are not ours
            raise InvalidInputError(
                f"{extra} disagrees with the release's split CSVs",
                expected="the same FoV lists per family and split",
                found=f"families {sorted(differ)} differ",
                fix=f"delete {extra.name} to import the CSVs as they are",
            )
        return Splits.read(extra)
    splits = Splits(
        seed=AUTHORS_SEED,
        base_by="region",
        families=authors.families,
        fov_patient={fov: region_of(fov) for fov in sorted(fovs)},
        rules={f: file_rule(authors, f) for f in authors.families},
        source="the authors' LMDB release",
        tiles=authors.tiles,
    )
    validate_splits(splits, _region_patients(authors.families, fovs))
    return splits


def _region_patients(families: dict[str, dict[str, list[str]]], fovs: list[str]) -> dict[str, Patient]:
    """One patient per region number, with the fields its first FoV reads off the domain-split files."""
    patients: dict[str, Patient] = {}
    for fov in sorted(fovs):
        attrs = fov_attributes(families, fov)
        patients.setdefault(
            attrs["patient"],
            Patient(attrs["patient"], attrs["tumor_type"] or "", attrs["stage"] or 0, attrs["group"]),
        )
    return patients


def fov_attributes(families: dict[str, dict[str, list[str]]], fov: str) -> dict[str, Any]:
    """Patient fields of a FoV read off the domain-split files (``None`` / ``""`` where no file tells).

    The shift rules (:data:`phenocell.splits.rules.SHIFT_RULES`) read backwards, for the fields a tile row
    carries: a FoV on a family's test side has the rule's test value, elsewhere in the family its train value.
    """
    out: dict[str, Any] = {"patient": region_of(fov), "group": "", "tumor_type": None, "stage": None}
    for family, rule in SHIFT_RULES.items():
        parts = families.get(family, {})
        if rule.field in out and any(fov in parts.get(s, []) for s in SPLITS):
            out[rule.field] = rule.test if fov in parts["test"] else rule.train
    return out


def _release_splits(release: Path) -> AuthorsSplits:
    """The split files of the release folder itself (this source takes no ``--splits-from``)."""
    try:
        return read_authors_splits(release)
    except MissingInputError as err:  # its fix names --splits-from, an option of the other sources
        raise MissingInputError(
            err.what,
            expected=f"{err.expected} in the release, e.g. {release / BASE_SPLIT_FILE}",
            found=err.found,
            fix="pass the release folder with its splits/ folder (restore it from the release download)",
        ) from err


def index_samples(env_dir: Path) -> tuple[dict[str, list[str]], set[int]]:
    """First pass: every record unpickled with the allow-list and checked; keys grouped by FoV, in order.

    Also returns the widths of the authors' own tiles (records without our extra keys).
    """
    keys: dict[str, list[str]] = {}
    widths: set[int] = set()
    for key, record in iter_records(env_dir):
        fov = check_region_name(fov_of_sample(record["sample_name"]), source=f"record {key} of {env_dir}")
        keys.setdefault(fov, []).append(key)
        if not has_phenocell_fields(record):
            widths.add(int(record["semantic_mask"].shape[1]))
    if not keys:
        raise InvalidInputError(
            f"the LMDB {env_dir} is empty",
            expected="at least one tile record",
            found="no records",
            fix="pass a complete release",
        )
    return keys, widths


@dataclass
class AuthorsLmdbSource:
    """The authors' LMDB release opened: its records indexed by FoV, its label dict and split files."""

    name: ClassVar[str] = "authors-lmdb"
    options_type: ClassVar[type] = RunOptions
    unit_word: ClassVar[str] = "FoVs"
    profile: ClassVar[DatasetProfile] = PHENOCELL

    raw: Path
    options: RunOptions
    env_dir: Path
    label_map: Any
    authors: AuthorsSplits
    keys: dict[str, list[str]]  # FoV → its record keys, in key order
    fov_index: dict[str, int]  # FoV → 1-based index among the release's FoVs (global cell ids)
    tile_widths: set[int]  # widths of the authors' own tiles

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """A folder holding ``label_dict.json`` and an LMDB (``lmdb/data.mdb`` or ``data.mdb``)."""
        return recognisers.authors_lmdb(path)

    @classmethod
    def open(cls, path: Path, options: RunOptions) -> AuthorsLmdbSource:
        """Read the label dict and split files, and check every record, before anything is written."""
        env_dir = env_path(path)
        label_map = read_label_dict(Path(path) / LABEL_DICT_FILE)
        authors = _release_splits(Path(path))
        keys, widths = index_samples(env_dir)
        index = {fov: i for i, fov in enumerate(sorted(keys), start=1)}
        return cls(Path(path), options, env_dir, label_map, authors, keys, index, widths)

    def units(self) -> list[str]:
        """The release's FoVs, sorted."""
        return sorted(self.keys)

    def for_unit(self, unit: str) -> AuthorsLmdbSource:
        """Only this FoV's record keys."""
        return replace(self, keys={unit: self.keys[unit]})

    def tiles(self, unit: str, stats: UnitStats) -> Iterator[dict[str, Any]]:
        """The FoV's records as rows (ours restored; the authors' converted), cells counted once each."""
        keys = self.keys[unit]
        attributes = fov_attributes(self.authors.families, unit)
        labels: dict[int, int] = {}
        stats.qc.update(tiles=0, instances_on_background_dropped=0)
        for k, record in enumerate(get_records(self.env_dir, keys)):
            source = f"record {keys[k]} ({record['tile_name']})"
            if has_phenocell_fields(record):
                row = restore_row(record, source)
            else:
                id_base = (self.fov_index[unit] << 32) | (k << 16)
                row, dropped = authors_row(record, self.label_map, id_base=id_base, source=source)
                stats.qc["instances_on_background_dropped"] += dropped
                row = {
                    **row,
                    "tile_id": record["tile_name"],
                    "fov": unit,
                    **attributes,
                    "tile_x": -1,
                    "tile_y": -1,
                    "tile_size": int(record["semantic_mask"].shape[1]),
                    "mpp": DEFAULT_MASK_MPP,
                }
            labels.update((c["cell_id"], int(c["label"])) for c in row["cells"])
            stats.qc["tiles"] += 1
            yield row
        stats.add_cells(labels.values())

    def splits(self) -> Splits:
        """The exported ``splits.json`` when the release carries it (and agrees), else built from the CSVs."""
        return _splits(self.raw, self.authors, list(self.keys))

    def manifest_parts(self) -> ManifestParts:
        """The exported manifest's options, markers and merges when carried, else the release's defaults."""
        extra = self.raw / EXTRA_MANIFEST_FILE
        fix = f"delete {extra.name} to import without it"
        kept = read_json_file(extra, "exported manifest", fix) if extra.is_file() else {}
        tile_size = min(self.tile_widths, default=None)
        return ManifestParts(
            options=kept.get("options", {"source": self.name, "tile_size": tile_size, "note": NOTE}),
            inputs=input_hashes(self.raw, exclude=("lock.mdb",)),
            markers=kept.get("markers", []),
            class_map=kept.get("class_map", load_class_map().merged_names()),
        )

    def write_extras(self, folder: Path) -> None:
        """An empty ``qc/excluded.csv``."""
        write_exclusions(folder / "qc" / "excluded.csv", {})


SOURCE = AuthorsLmdbSource
