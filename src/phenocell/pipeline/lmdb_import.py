"""``phenocell import-lmdb``: the authors' LMDB release → a PhenoCell dataset directory.

Reads the release layout of :mod:`phenocell.dataset.lmdb_layout`: every record is unpickled with the
allow-list and checked before anything is written; tiles are kept as they are (one shard per FoV, in key
order); the split families come from the split CSVs (``splits/schuerch_dataset_split.csv`` → ``base``,
``domain_splits/*`` → ``tumor_type`` / ``tumor_stage`` / ``msi`` / ``group``).

A release written by ``phenocell export lmdb`` carries our maps, row fields, ``splits.json`` and manifest
fields, and imports exactly. A release of the authors has no patient table: tumor type, stage and group of
a FoV are read off the domain-split CSVs (test side of ``adeno → mucinous`` is mucinous, and so on; absent:
unknown), the patient is the FoV's region (``reg002``, the unit of their Base split), ``tile_x``/``tile_y``
are -1 (their tiles carry no origin) and the pixel size is the release's 0.377442 µm.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from phenocell import __version__
from phenocell.cards import write_card
from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.converters.classes import load_class_map
from phenocell.dataset.lmdb import env_path, get_records, iter_records
from phenocell.dataset.lmdb_layout import (
    BASE_SPLIT_FILE,
    DOMAIN_DIR,
    DOMAIN_FILES,
    EXTRA_MANIFEST_FILE,
    EXTRA_SPLITS_FILE,
    GROUP_REVERSED_FILE,
    LABEL_DICT_FILE,
    fov_name,
    read_label_dict,
    read_split_csv,
)
from phenocell.dataset.lmdb_tiles import authors_row, has_phenocell_fields, restore_row
from phenocell.dataset.writer import atomic_directory, sha256_file, write_shard
from phenocell.errors import InvalidInputError, MissingInputError, read_json_file
from phenocell.readers.pairs import write_exclusions
from phenocell.records import FovSummary
from phenocell.splits import SPLITS
from phenocell.splits.families import RULES, SPLITS_VERSION

#: The authors' Base split was drawn with np.random.seed(42) over region numbers.
AUTHORS_SEED = 42
#: Patient attributes a domain-split CSV tells: family → (test value, train/validation value).
SIDES: dict[str, tuple[str, Any, Any]] = {
    "tumor_type": ("tumor_type", "mucinous", "adenocarcinoma"),
    "tumor_stage": ("stage", 4, 3),
}
NOTE = (
    "imported from the authors' LMDB release: it has no ignore value, so dirt is background (0) in both "
    "maps; cells carry no granular names or markers"
)


def read_families(lmdb_dir: Path) -> tuple[dict[str, dict[str, list[str]]], dict[str, str]]:
    """Split families from the release's CSVs, and the file each came from."""
    base = lmdb_dir / BASE_SPLIT_FILE
    if not base.is_file():
        raise MissingInputError(
            f"the release {lmdb_dir} has no base split file",
            expected=str(base),
            found="no such file",
            fix="pass the release folder (it holds lmdb/, label_dict.json and splits/)",
        )
    files = {"base": BASE_SPLIT_FILE}
    for family, name in {**DOMAIN_FILES, "group_reversed": GROUP_REVERSED_FILE}.items():
        if (lmdb_dir / DOMAIN_DIR / name).is_file():
            files[family.removesuffix("_reversed")] = f"{DOMAIN_DIR}/{name}"
    families = {}
    for family, name in files.items():
        assignment = read_split_csv(lmdb_dir / name)
        families[family] = {s: sorted(f for f, v in assignment.items() if v == s) for s in SPLITS}
    return families, files


def _splits_doc(lmdb_dir: Path, families: dict[str, Any], files: dict[str, str], fovs: list[str]) -> dict:
    """Our ``splits.json``: the exported one when the release carries it (and agrees), else built."""
    extra = lmdb_dir / EXTRA_SPLITS_FILE
    if extra.is_file():
        doc = read_json_file(extra, "exported splits file", f"delete {extra.name} to import the CSVs")
        theirs = {f: v["splits"] for f, v in doc["families"].items()}
        if theirs != families:
            raise InvalidInputError(
                f"{extra} disagrees with the release's split CSVs",
                expected="the same FoV lists per family and split",
                found=f"families {sorted(theirs)} vs {sorted(families)} (or their FoVs) differ",
                fix=f"delete {extra.name} to import the CSVs as they are",
            )
        return doc
    rules = {
        f: f"the authors' {files[f]}: " + RULES[f].format(by="region")
        if f == "base"
        else f"the authors' {files[f]}"
        for f in families
    }
    return {
        "version": SPLITS_VERSION,
        "seed": AUTHORS_SEED,
        "families": {f: {"rule": rules[f], "splits": families[f]} for f in families},
        "fov_patient": {fov: _region(fov) for fov in sorted(fovs)},
    }


def _region(fov: str) -> str:
    match = re.match(r"(reg\d+)", fov)
    return match.group(1) if match else fov


def fov_attributes(families: dict[str, Any], files: dict[str, str], fov: str) -> dict[str, Any]:
    """Patient fields of a FoV read off the domain-split CSVs (``None`` / ``""`` where no file tells)."""
    out: dict[str, Any] = {"patient": _region(fov), "group": "", "tumor_type": None, "stage": None}
    for family, (field, test_value, other_value) in SIDES.items():
        parts = families.get(family, {})
        if any(fov in parts.get(s, []) for s in SPLITS):
            out[field] = test_value if fov in parts["test"] else other_value
    if "group" in families and any(fov in families["group"][s] for s in SPLITS):
        clr_test = files["group"].endswith(DOMAIN_FILES["group"])
        on_test = fov in families["group"]["test"]
        out["group"] = "1" if on_test == clr_test else "2"  # group 1 = CLR, 2 = DII
    return out


def index_samples(env_dir: Path) -> dict[str, list[str]]:
    """First pass: every record unpickled with the allow-list and checked; keys grouped by FoV, in order."""
    keys: dict[str, list[str]] = {}
    for key, record in iter_records(env_dir):
        keys.setdefault(fov_name(record["sample_name"]), []).append(key)
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


def _count_cells(rows: list[dict[str, Any]]) -> dict[int, int]:
    labels = {cell["cell_id"]: cell["label"] for row in rows for cell in row["cells"]}
    counts: dict[int, int] = {}
    for label in labels.values():
        counts[int(label)] = counts.get(int(label), 0) + 1
    return dict(sorted(counts.items()))


def _write_fov(out: Path, fov: str, rows_iter: Any) -> FovSummary:
    rows: list[dict[str, Any]] = []

    def keep() -> Any:
        for row in rows_iter:
            rows.append({"cells": [{"cell_id": c["cell_id"], "label": c["label"]} for c in row["cells"]]})
            yield row

    staging = out / "data" / f"{fov}.parquet.writing"
    count = write_shard(staging, keep())
    digest = sha256_file(staging)
    shard = f"data/{fov}-{digest[:12]}.parquet"
    staging.rename(out / shard)
    return FovSummary(fov, shard, digest, count, _count_cells(rows))


def _manifest(lmdb_dir: Path, fovs: dict[str, FovSummary], tile_sizes: set[int]) -> dict[str, Any]:
    extra = lmdb_dir / EXTRA_MANIFEST_FILE
    fix = f"delete {extra.name} to import without it"
    kept = read_json_file(extra, "exported manifest", fix) if extra.is_file() else {}
    files = sorted(p for p in lmdb_dir.rglob("*") if p.is_file() and p.name != "lock.mdb")
    return {
        "phenocell_version": __version__,
        "options": kept.get(
            "options", {"source": "authors-lmdb", "tile_size": min(tile_sizes, default=None), "note": NOTE}
        ),
        "inputs": {str(p.relative_to(lmdb_dir)): sha256_file(p) for p in files},
        "shards": {
            f.shard: {"fov": f.fov, "sha256": f.sha256, "rows": f.tiles, "cells_per_class": f.cells_per_class}
            for f in fovs.values()
        },
        "markers": kept.get("markers", []),
        "class_map": kept.get("class_map", load_class_map().merged_names()),
    }


def import_lmdb(lmdb_dir: Path, out: Path, *, overwrite: bool = False, progress: bool = True) -> Path:
    """Convert the authors' LMDB release at ``lmdb_dir`` into a PhenoCell dataset directory (atomically).

    Raises:
        MissingInputError: the release lacks its LMDB, label_dict.json or base split file.
        UnsafeInputError: a record's pickle names a global outside the allow-list (nothing is written).
        InvalidInputError / CorruptInputError: a record, label_dict or split file is malformed.
        MissingDependencyError: the ``lmdb`` package is not installed.

    """
    lmdb_dir = Path(lmdb_dir)
    env_dir = env_path(lmdb_dir)
    label_map = read_label_dict(lmdb_dir / LABEL_DICT_FILE)
    families, files = read_families(lmdb_dir)
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
                "attributes": fov_attributes(families, files, fov),
                "tile_sizes": tile_sizes,
            }
            fovs[fov] = _write_fov(tmp, fov, _rows(env_dir, keys[fov], fov, context))
            qc[fov] = {"tiles": fovs[fov].tiles, "instances_on_background_dropped": context["dropped"]}
        doc = _splits_doc(lmdb_dir, families, files, list(keys))
        (tmp / "splits.json").write_text(json.dumps(doc, indent=2) + "\n")
        (tmp / "manifest.json").write_text(json.dumps(_manifest(lmdb_dir, fovs, tile_sizes), indent=2) + "\n")
        (tmp / "qc" / "fov_stats.json").write_text(json.dumps(qc, indent=2, sort_keys=True) + "\n")
        write_exclusions(tmp / "qc" / "excluded.csv", {})
        write_card(tmp)
    return Path(out)
