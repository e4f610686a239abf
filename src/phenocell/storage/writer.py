"""Parquet shard writing, hashing and atomic output directories."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import datasets
import pyarrow as pa
import pyarrow.parquet as pq

from phenocell.paths import check_inside
from phenocell.schema import FEATURES
from phenocell.storage.atomic import atomic_directory

__all__ = ["ROWS_PER_GROUP", "atomic_directory", "sha256_file", "write_shard"]

ROWS_PER_GROUP = 32


def sha256_file(path: Path, chunk: int = 1 << 20) -> str:
    """Hex sha256 of a file, read in chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            digest.update(block)
    return digest.hexdigest()


def write_shard(
    path: Path,
    rows: Iterable[dict[str, Any]],
    *,
    rows_per_group: int = ROWS_PER_GROUP,
    features: datasets.Features = FEATURES,
) -> int:
    """Write encoded rows to one parquet file with the PhenoCell schema; returns the row count.

    ``features`` is the schema of the dataset's profile (:func:`phenocell.schema.features_for`).

    Rows are buffered one row group at a time, so memory stays bounded however large the FoV. The file
    carries the ``datasets`` features in its schema metadata; no timestamps, so equal rows give equal bytes.
    """
    schema = features.arrow_schema
    count, batch = 0, []
    with pq.ParquetWriter(path, schema, compression="zstd", write_statistics=False) as writer:
        for row in rows:
            batch.append(features.encode_example(row))
            if len(batch) == rows_per_group:
                writer.write_table(pa.Table.from_pylist(batch, schema=schema))
                count, batch = count + len(batch), []
        if batch:
            writer.write_table(pa.Table.from_pylist(batch, schema=schema))
            count += len(batch)
    return count


def write_named_shard(
    out: Path, name: str, rows: Iterable[dict[str, Any]], *, features: datasets.Features = FEATURES
) -> tuple[str, str, int]:
    """Write ``out/data/<name>-<sha12>.parquet`` (staged, then renamed); returns (shard, sha256, rows).

    The name is content-addressed: `datasets` caches a local dataset by its relative file names, so a
    re-converted dataset must not reuse them or ``load_dataset`` would return the stale cache. Both paths
    are checked to lie inside ``out/data``.
    """
    staging = check_inside(out / "data" / f"{name}.parquet.writing", out / "data")
    count = write_shard(staging, rows, features=features)
    digest = sha256_file(staging)
    shard = f"data/{name}-{digest[:12]}.parquet"
    staging.rename(check_inside(out / shard, out / "data"))
    return shard, digest, count
