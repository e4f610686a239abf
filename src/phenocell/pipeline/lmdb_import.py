"""``phenocell import-lmdb``: the authors' LMDB release → a PhenoCell dataset directory.

Reads the release layout of :mod:`phenocell.storage.lmdb_layout`: every record is unpickled with the
allow-list and checked before anything is written; tiles are kept as they are (one shard per FoV, in key
order); the split families come from the split CSVs, read as ``--splits-from`` reads them
(:mod:`phenocell.splits.authors`: base, tumor_type, tumor_stage, dii_clr, msi, base_{5,10,20,50}pct). A
FoV that a tile-level split file names is written in parts (:mod:`phenocell.pipeline.tile_parts`).

A release written by ``phenocell export lmdb`` carries our maps, row fields, ``splits.json`` and manifest
fields, and imports exactly. A release of the authors has no patient table: tumor type, stage and group of
a FoV are read off the domain-split CSVs (test side of ``adeno → mucinous`` is mucinous, and so on; absent:
unknown), the patient is the FoV's region number (the unit of their Base split), ``tile_x``/``tile_y``
are -1 (their tiles carry no origin) and the pixel size is the release's 0.377442 µm.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from phenocell import __version__
from phenocell.cards import write_card
from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.errors import InvalidInputError, read_json_file
from phenocell.panoptic.class_merges import load_class_map
from phenocell.paths import check_out_vs_raw, check_region_name
from phenocell.pipeline.outputs import input_hashes, shard_entries, write_metadata_files
from phenocell.pipeline.tile_parts import count_cells, split_tile_families
from phenocell.readers.pairs import write_exclusions
from phenocell.records import FovSummary, Patient
from phenocell.splits import DATA_EFFICIENCY, SPLITS, Splits
from phenocell.splits.authors import AuthorsSplits, file_rule, fov_of_sample, read_authors_splits
from phenocell.splits.rules import AUTHORS_SEED, region_of
from phenocell.splits.validate import validate_splits
from phenocell.storage.lmdb import env_path, get_records, iter_records
from phenocell.storage.lmdb_layout import (
    EXTRA_MANIFEST_FILE,
    EXTRA_SPLITS_FILE,
    LABEL_DICT_FILE,
    read_label_dict,
)
from phenocell.storage.lmdb_tiles import authors_row, has_phenocell_fields, restore_row
from phenocell.storage.writer import atomic_directory, write_named_shard

#: Patient fields a domain-split file tells: family → (field, value on the test side, value elsewhere).
SIDES: dict[str, tuple[str, Any, Any]] = {
    "tumor_type": ("tumor_type", "mucinous", "adenocarcinoma"),
    "tumor_stage": ("stage", 4, 3),
    "dii_clr": ("group", "1", "2"),  # test = CLR (group 1), train / validation = DII (group 2)
}
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
    """Patient fields of a FoV read off the domain-split files (``None`` / ``""`` where no file tells)."""
    out: dict[str, Any] = {"patient": region_of(fov), "group": "", "tumor_type": None, "stage": None}
    for family, (field, test_value, other_value) in SIDES.items():
        parts = families.get(family, {})
        if any(fov in parts.get(s, []) for s in SPLITS):
            out[field] = test_value if fov in parts["test"] else other_value
    return out


def index_samples(env_dir: Path) -> dict[str, list[str]]:
    """First pass: every record unpickled with the allow-list and checked; keys grouped by FoV, in order."""
    keys: dict[str, list[str]] = {}
    for key, record in iter_records(env_dir):
        fov = check_region_name(fov_of_sample(record["sample_name"]), source=f"record {key} of {env_dir}")
        keys.setdefault(fov, []).append(key)
    if not keys:
        raise InvalidInputError(
            f"the LMDB {env_dir} is empty",
            expected="at least one tile record",
            found="no records",
            fix="pass a complete release",
        )
    return keys


def _rows(env_dir: Path, keys: list[str], fov: str, context: dict[str, Any]) -> Any:
    """Rows of one FoV's records; counts dropped instances into ``context['dropped']``."""
    for k, record in enumerate(get_records(env_dir, keys)):
        source = f"record {keys[k]} ({record['tile_name']})"
        if has_phenocell_fields(record):
            yield restore_row(record, source)
            continue
        id_base = (context["fov_index"] << 32) | (k << 16)
        row, dropped = authors_row(record, context["label_map"], id_base=id_base, source=source)
        context["dropped"] += dropped
        width = int(record["semantic_mask"].shape[1])
        context["tile_sizes"].add(width)
        yield {
            **row,
            "tile_id": record["tile_name"],
            "fov": fov,
            **context["attributes"],
            "tile_x": -1,
            "tile_y": -1,
            "tile_size": width,
            "mpp": DEFAULT_MASK_MPP,
        }


def _write_fov(out: Path, fov: str, rows_iter: Any) -> FovSummary:
    rows: list[dict[str, Any]] = []

    def keep() -> Any:
        for row in rows_iter:
            rows.append({"cells": [{"cell_id": c["cell_id"], "label": c["label"]} for c in row["cells"]]})
            yield row

    shard, digest, count = write_named_shard(out, fov, keep())
    return FovSummary(fov, shard, digest, count, count_cells(rows))


def _manifest(lmdb_dir: Path, shards: list[FovSummary], tile_sizes: set[int]) -> dict[str, Any]:
    extra = lmdb_dir / EXTRA_MANIFEST_FILE
    fix = f"delete {extra.name} to import without it"
    kept = read_json_file(extra, "exported manifest", fix) if extra.is_file() else {}
    return {
        "phenocell_version": __version__,
        "options": kept.get(
            "options", {"source": "authors-lmdb", "tile_size": min(tile_sizes, default=None), "note": NOTE}
        ),
        "inputs": input_hashes(lmdb_dir, exclude=("lock.mdb",)),
        "shards": shard_entries(shards),
        "markers": kept.get("markers", []),
        "class_map": kept.get("class_map", load_class_map().merged_names()),
    }


def import_lmdb(lmdb_dir: Path, out: Path, *, overwrite: bool = False, progress: bool = True) -> Path:
    """Convert the authors' LMDB release at ``lmdb_dir`` into a PhenoCell dataset directory (atomically).

    Raises:
        MissingInputError: the release lacks its LMDB, label_dict.json or base split file.
        UnsafeInputError: a record's pickle names a global outside the allow-list (nothing is written).
        UnsafePathError: ``out`` is, lies inside or contains ``lmdb_dir``; a sample name is not a plain
            FoV name (path syntax).
        InvalidInputError / CorruptInputError: a record, label_dict or split file is malformed.
        MissingDependencyError: the ``lmdb`` package is not installed.

    """
    lmdb_dir = Path(lmdb_dir)
    check_out_vs_raw(lmdb_dir, Path(out))
    env_dir = env_path(lmdb_dir)
    label_map = read_label_dict(lmdb_dir / LABEL_DICT_FILE)
    authors = read_authors_splits(lmdb_dir)
    keys = index_samples(env_dir)
    with atomic_directory(Path(out), overwrite=overwrite) as tmp:
        (tmp / "data").mkdir()
        (tmp / "qc").mkdir()
        fovs, qc = {}, {}
        tile_sizes: set[int] = set()
        for i, fov in enumerate(tqdm(sorted(keys), desc="import", unit="fov", disable=not progress), start=1):
            context = {
                "fov_index": i,
                "label_map": label_map,
                "dropped": 0,
                "attributes": fov_attributes(authors.families, fov),
                "tile_sizes": tile_sizes,
            }
            fovs[fov] = _write_fov(tmp, fov, _rows(env_dir, keys[fov], fov, context))
            qc[fov] = {"tiles": fovs[fov].tiles, "instances_on_background_dropped": context["dropped"]}
        splits = _splits(lmdb_dir, authors, list(keys))
        shards = split_tile_families(tmp, fovs, splits.tiles)
        write_metadata_files(tmp, splits, _manifest(lmdb_dir, shards, tile_sizes), qc)
        write_exclusions(tmp / "qc" / "excluded.csv", {})
        write_card(tmp)
    return Path(out)
