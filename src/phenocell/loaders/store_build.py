"""One parquet shard decoded into the tile store's raw arrays (layout: :mod:`phenocell.loaders.tile_store`).

Tiles are written with plain file writes, one row group at a time (never through a writable memory map, so
the building process's resident memory stays one row group however large the shard).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from PIL import Image

from phenocell.errors import CorruptInputError
from phenocell.schema import INSTANCE_DTYPE

#: The per-tile arrays of a store folder and their dtypes.
TILE_ARRAYS: dict[str, np.dtype] = {
    "image": np.dtype(np.uint8),
    "semantic": np.dtype(np.uint8),
    "instance": INSTANCE_DTYPE,
}
_COLUMNS = {"image": "image", "semantic": "semantic_mask", "instance": "instance_mask"}
_CELL_FIELDS = ("instance_id", "cell_id", "label")
READ_COLUMNS = [*_COLUMNS.values(), *(f"cells.list.element.{f}" for f in _CELL_FIELDS)]


def _decode(data: bytes, name: str) -> np.ndarray:
    with Image.open(io.BytesIO(data)) as image:
        if name == "image":
            rgb = np.asarray(image.convert("RGB") if image.mode != "RGB" else image, dtype=np.uint8)
            return rgb.transpose(2, 0, 1)
        if name == "semantic":
            return np.asarray(image, dtype=np.uint8)
        raw = np.asarray(image)
    if raw.size and (int(raw.min()) < 0 or int(raw.max()) > np.iinfo(INSTANCE_DTYPE).max):
        raise CorruptInputError(
            "instance mask out of range",
            expected=f"ids 0..{np.iinfo(INSTANCE_DTYPE).max}",
            found=f"{raw.min()}..{raw.max()}",
            fix="re-convert the dataset",
        )
    return raw.astype(INSTANCE_DTYPE)


def _blobs(table: pa.Table, column: str) -> list[bytes]:
    """The PNG bytes of an image column of one row group."""
    return table.column(column).combine_chunks().field("bytes").to_pylist()


def _header(handle: IO[bytes], dtype: np.dtype, shape: tuple[int, ...]) -> None:
    header = {"descr": np.lib.format.dtype_to_descr(dtype), "fortran_order": False, "shape": shape}
    np.lib.format.write_array_header_1_0(handle, header)


def _cell_rows(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """Per-tile cell counts and the (cells, 3) int64 table of one row group's ``cells`` column."""
    cells = column.combine_chunks()
    counts = cells.value_lengths().fill_null(0).to_numpy(zero_copy_only=False).astype(np.int64)
    values = cells.flatten()
    table = np.stack(
        [values.field(f).to_numpy(zero_copy_only=False).astype(np.int64) for f in _CELL_FIELDS], axis=1
    )
    return counts, table.reshape(-1, 3)


def _mixed(parquet: Path, first: tuple[int, ...], found: tuple[int, ...]) -> CorruptInputError:
    return CorruptInputError(
        "tiles of different shapes in one shard",
        expected=f"every tile of {parquet.name} of shape {first}",
        found=str(found),
        fix="re-convert the dataset (one --tile-size per dataset)",
    )


class _Arrays:
    """The open ``.npy`` files of a folder being built; each header is written with the first tile's shape."""

    def __init__(self, out: Path, parquet: Path, n: int) -> None:
        self.out, self.parquet, self.n = out, parquet, n
        self.files: dict[str, IO[bytes]] = {}
        self.shapes: dict[str, tuple[int, ...]] = {}

    def add(self, name: str, tile: np.ndarray) -> None:
        if name not in self.files:
            self.files[name] = open(self.out / f"{name}.npy", "wb")  # noqa: SIM115 - closed in close()
            _header(self.files[name], TILE_ARRAYS[name], (self.n, *tile.shape))
            self.shapes[name] = tile.shape
        if tile.shape != self.shapes[name]:
            raise _mixed(self.parquet, self.shapes[name], tile.shape)
        self.files[name].write(np.ascontiguousarray(tile).tobytes())

    def close(self) -> None:
        for f in self.files.values():
            f.close()


def build_shard(parquet: Path, out: Path, advance: Callable[[int], Any]) -> int:
    """Decode every tile of ``parquet`` into the arrays of folder ``out``; returns the tile count."""
    handle = pq.ParquetFile(parquet)
    n = handle.metadata.num_rows
    arrays = _Arrays(out, parquet, n)
    groups, counts, cells = [0], [], []
    try:
        for g in range(handle.metadata.num_row_groups):
            table = handle.read_row_group(g, columns=READ_COLUMNS)
            blobs = {k: _blobs(table, c) for k, c in _COLUMNS.items()}
            for i in range(table.num_rows):
                for name in TILE_ARRAYS:
                    arrays.add(name, _decode(blobs[name][i], name))
            per_tile, table_cells = _cell_rows(table.column("cells"))
            counts.append(per_tile)
            cells.append(table_cells)
            groups.append(groups[-1] + table.num_rows)
            advance(table.num_rows)
    finally:
        arrays.close()
    if groups[-1] != n:
        raise CorruptInputError(
            "shard row count differs from its footer",
            expected=f"{n} rows",
            found=f"{groups[-1]} rows in {parquet}",
            fix="re-download or re-convert the dataset",
        )
    np.save(out / "cells.npy", np.concatenate(cells) if cells else np.zeros((0, 3), np.int64))
    offsets = np.concatenate([[0], np.cumsum(np.concatenate(counts) if counts else [])]).astype(np.int64)
    np.save(out / "cell_offsets.npy", offsets)
    np.save(out / "row_groups.npy", np.asarray(groups, dtype=np.int64))
    return n
