"""``phenocell export lmdb``: a PhenoCell dataset directory → the authors' LMDB release layout.

The layout is described in :mod:`phenocell.storage.lmdb`. Each tile becomes one record in FoV order
(``tile_name`` ``<fov>.hdf_TILE_<k>``, ``sample_name`` ``<fov>.hdf``), with the image as (3, H, W) uint8,
``semantic_mask`` uint8 and ``instance_mask`` int32 where our ignored cells (255) are background (0) in both
maps, as their evaluation expects. Extra keys carry our own maps and the row's other fields (JSON), and
``phenocell_splits.json`` our splits file, so that ``phenocell import-lmdb`` restores the dataset exactly.
Every split family becomes a split CSV (base → ``splits/``, domain shifts → ``domain_splits/``, the
data-efficiency subsets → ``splits/data_efficiency_splits/``, drawn nested and seeded if the dataset
has none).
"""

from __future__ import annotations

import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from PIL import Image
from tqdm.auto import tqdm

from phenocell.errors import InvalidInputError, MissingInputError
from phenocell.manifest import MANIFEST_FILE, Manifest
from phenocell.paths import check_out_vs_raw
from phenocell.profiles import DEFAULT_PROFILE
from phenocell.schema import FEATURES, INSTANCE_DTYPE, SEMANTIC_DTYPE, decode_mask
from phenocell.splits import DATA_EFFICIENCY, SPLITS, Splits, nested_subset
from phenocell.splits.rules import EFFICIENCY_PERCENTS
from phenocell.storage.lmdb import write_records
from phenocell.storage.lmdb_layout import (
    EXTRA_INSTANCE,
    EXTRA_MANIFEST_FILE,
    EXTRA_META,
    EXTRA_SEMANTIC,
    EXTRA_SPLITS_FILE,
    LABEL_DICT_FILE,
    LMDB_SUBDIR,
    SPLIT_FILES,
    label_dict,
    sample_name,
    to_authors_maps,
    write_split_csv,
)
from phenocell.storage.writer import atomic_directory

IMAGE_KEYS = ("image", "semantic_mask", "instance_mask")


def _shards(dataset_dir: Path) -> list[tuple[str, Path]]:
    if not (dataset_dir / MANIFEST_FILE).is_file() or not (dataset_dir / "splits.json").is_file():
        raise MissingInputError(
            f"{dataset_dir} is not a PhenoCell dataset directory",
            expected=f"{dataset_dir / MANIFEST_FILE} and {dataset_dir / 'splits.json'}",
            found="missing",
            fix="pass a directory written by phenocell-convert or phenocell import-lmdb",
        )
    manifest = Manifest.read(dataset_dir)
    profile = manifest.profile or DEFAULT_PROFILE
    if profile != DEFAULT_PROFILE:
        raise InvalidInputError(
            f"{dataset_dir} is a {profile!r} dataset; the authors' LMDB layout holds PhenoCell tiles only",
            expected=f"a dataset converted with the {DEFAULT_PROFILE!r} profile (its classes and fields)",
            found=f"profile {profile!r} in {dataset_dir / MANIFEST_FILE}",
            fix="use the dataset directory (Parquet shards) as it is: only PhenoCell data has an LMDB form",
        )
    return [(fov, dataset_dir / shard) for fov, shard in manifest.shard_fovs()]


def _record(row: dict[str, Any], fov: str, k: int) -> dict[str, Any]:
    """One row of our dataset as one of their records (plus our extra keys)."""
    image = np.asarray(Image.open(io.BytesIO(row["image"]["bytes"])).convert("RGB"))
    semantic = decode_mask(row["semantic_mask"], SEMANTIC_DTYPE)
    instance = decode_mask(row["instance_mask"], INSTANCE_DTYPE)
    theirs_sem, theirs_inst = to_authors_maps(semantic, instance)
    meta = {key: value for key, value in row.items() if key not in IMAGE_KEYS}
    meta["tumor_type"] = FEATURES["tumor_type"].int2str(meta["tumor_type"])
    return {
        "tile_name": f"{sample_name(fov)}_TILE_{k}",
        "sample_name": sample_name(fov),
        "image": np.ascontiguousarray(np.moveaxis(image, -1, 0)),
        "semantic_mask": theirs_sem,
        "instance_mask": theirs_inst,
        EXTRA_SEMANTIC: semantic,
        EXTRA_INSTANCE: instance,
        EXTRA_META: json.dumps(meta, sort_keys=True),
    }


def _records(shards: list[tuple[str, Path]], progress: bool) -> Iterator[dict]:
    for fov, shard in tqdm(shards, desc="export lmdb", unit="fov", disable=not progress):
        k = 0
        for batch in pq.ParquetFile(shard).iter_batches(batch_size=32):
            for row in batch.to_pylist():
                yield _record(row, fov, k)
                k += 1


def write_split_files(out: Path, splits: Splits) -> list[Path]:
    """Their split CSV for every family of ``splits``; data-efficiency subsets drawn if it has none.

    Families read from the authors' files keep their data-efficiency subsets; otherwise the nested, seeded
    5/10/20/50 % subsets of Base train are drawn (:func:`phenocell.splits.nested_subset`).
    """
    families = dict(splits.families)
    if not any(f in families for f in DATA_EFFICIENCY):
        base = families["base"]
        for percent in EFFICIENCY_PERCENTS:
            subset = nested_subset(base["train"], percent / 100, seed=splits.seed)
            families[f"base_{percent}pct"] = {
                "train": subset,
                "validation": base["validation"],
                "test": base["test"],
            }
    written = []
    for family, parts in families.items():
        path = out / SPLIT_FILES[family]
        write_split_csv(path, {fov: split for split in SPLITS for fov in parts[split]})
        written.append(path)
    return written


def export_lmdb(
    dataset_dir: Path, out: Path, *, overwrite: bool = False, progress: bool = True
) -> tuple[Path, int]:
    """Write ``dataset_dir`` as the authors' LMDB release at ``out`` (atomically); returns it and the tiles.

    Raises:
        MissingInputError: ``dataset_dir`` is not a dataset directory.
        InvalidInputError: the dataset was converted with another profile than PhenoCell's,
            or has tile-level split families.
        UnsafePathError: ``out`` is, lies inside or contains ``dataset_dir``.
        OutputExistsError: ``out`` exists and ``overwrite`` is false.
        MissingDependencyError: the ``lmdb`` package is not installed.

    """
    dataset_dir = Path(dataset_dir)
    check_out_vs_raw(dataset_dir, Path(out))
    shards = _shards(dataset_dir)
    splits = Splits.read(dataset_dir / "splits.json")
    if splits.tiles:
        raise InvalidInputError(
            f"{dataset_dir} has tile-level split families",
            expected="a dataset whose split families list FoVs",
            found=f"tile-level families {sorted(splits.tiles)}",
            fix="export a conversion without tile-level split files (their FoVs span several shards)",
        )
    with atomic_directory(Path(out), overwrite=overwrite) as tmp:
        count = write_records(tmp / LMDB_SUBDIR, _records(shards, progress))
        (tmp / LABEL_DICT_FILE).write_text(json.dumps(label_dict(), indent=2) + "\n")
        write_split_files(tmp, splits)
        shutil.copyfile(dataset_dir / "splits.json", tmp / EXTRA_SPLITS_FILE)
        shutil.copyfile(dataset_dir / MANIFEST_FILE, tmp / EXTRA_MANIFEST_FILE)
    return Path(out), count
