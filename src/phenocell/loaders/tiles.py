"""Streaming tiles of one split from the parquet shards: an index in memory, pixels decoded on demand.

Only the index (shard, row group, row, FoV, tile origin: a few hundred bytes per tile) is held for the whole
split. A :class:`TileDataset` item reads its row group from the shard (a small per-worker LRU keeps the last
row groups: sequential passes read each group once) and decodes that tile's PNGs, so memory does not grow
with the split; :func:`make_loader` runs the decoding in DataLoader worker processes with pinned memory.
With a tile store (:mod:`phenocell.loaders.tile_store`, what ``benchmark run`` uses by default) an item
is a copy out of the store's memory maps instead, a whole batch per call, into a batch buffer that the
loader recycles (:mod:`phenocell.loaders.batch_slots`).
The split's shards are those the dataset card lists for ``family`` / ``split`` (the same files
``datasets.load_dataset(data, family, split=split)`` reads).
"""

from __future__ import annotations

import copy
import io
from collections import OrderedDict
from collections.abc import Iterable, Iterator
from typing import Any, overload

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import torch
from PIL import Image
from torch.utils.data import DataLoader, Dataset, Sampler, get_worker_info

from phenocell.loaders.batch_slots import BatchSlots, Fields, SlotBatch, layout, tensor_views
from phenocell.loaders.split_index import (
    INDEX_COLUMNS,
    VALID,
    SplitIndex,
    TileRef,
    dataset_profile,
    load_index,
    local_dataset,
    split_shards,
)

__all__ = [
    "INDEX_COLUMNS",
    "PIXELS",
    "VALID",
    "SplitIndex",
    "TileDataset",
    "TileRef",
    "class_counts",
    "collate",
    "dataset_profile",
    "decode_png",
    "load_index",
    "local_dataset",
    "make_loader",
    "split_shards",
]

#: The pixel fields of a tile, in batch order: what a :class:`TileDataset` reads unless told fewer.
PIXELS = ("image", "semantic", "instance")
#: Each pixel field's parquet column (PNG bytes).
PNG_COLUMNS = {"image": "image", "semantic": "semantic_mask", "instance": "instance_mask"}
CELL_COLUMNS = [
    "cells.list.element.instance_id",
    "cells.list.element.cell_id",
    "cells.list.element.label",
]
LRU_GROUPS = 2
OPEN_FILES = 64  # parquet files a TileDataset keeps open per process (one per shard up to this many)
PREFETCH = 2  # batches each DataLoader worker works ahead (torch's default prefetch_factor)


def decode_png(data: bytes, dtype: np.dtype) -> np.ndarray:
    """PNG bytes → array of ``dtype`` (RGB images come back (H, W, 3))."""
    with Image.open(io.BytesIO(data)) as image:
        return np.array(image, dtype=dtype)  # a writable copy (torch.from_numpy needs one)


class TileDataset(Dataset[dict[str, Any]]):
    """Decoded tiles of a :class:`SplitIndex`, plus cached token grids when a cache reader is given.

    With a tile store reader (:mod:`phenocell.loaders.tile_store`) tiles are copied out of its memory
    maps instead of decoded from the shards, and :meth:`__getitems__` reads a whole batch per call (the
    DataLoader then hands one already-stacked batch per worker message to :func:`collate`).

    ``fields``: the pixel fields (of :data:`PIXELS`) its items and batches carry; a consumer that needs
    fewer (a token-cache fill reads images only, training no instance map) reads, decodes and moves only
    those. ``index`` and the cell tables are always there.
    """

    def __init__(
        self, index: SplitIndex, cache: Any = None, store: Any = None, fields: tuple[str, ...] = PIXELS
    ) -> None:
        unknown = [f for f in fields if f not in PIXELS]
        if unknown:
            raise ValueError(f"unknown tile fields {unknown}: expected some of {list(PIXELS)}")
        self.index, self.cache, self.store = index, cache, store
        self.fields = tuple(f for f in PIXELS if f in fields)
        self.slots: BatchSlots | None = None
        self._groups: OrderedDict[tuple[str, int], pa.Table] = OrderedDict()
        self._files: OrderedDict[str, pq.ParquetFile] = OrderedDict()

    def __getstate__(self) -> dict[str, Any]:
        """Pickled for DataLoader workers without open files or row groups (each worker opens its own)."""
        return {**self.__dict__, "_groups": OrderedDict(), "_files": OrderedDict()}

    def __len__(self) -> int:
        return len(self.index)

    def with_slots(self, slots: BatchSlots) -> TileDataset:
        """This dataset, its DataLoader workers filling ``slots`` (a shallow copy: same index and readers)."""
        twin = copy.copy(self)
        twin.slots = slots
        return twin

    def _file(self, shard: str) -> pq.ParquetFile:
        """The shard's parquet file, opened once per process (at most ``OPEN_FILES`` kept open)."""
        if shard not in self._files:
            if len(self._files) >= OPEN_FILES:
                self._files.popitem(last=False)[1].close()
            self._files[shard] = pq.ParquetFile(self.index.root / shard)
        self._files.move_to_end(shard)
        return self._files[shard]

    def _group(self, shard: str, group: int) -> pa.Table:
        key = (shard, group)
        if key not in self._groups:
            if len(self._groups) >= LRU_GROUPS:
                self._groups.popitem(last=False)
            columns = [PNG_COLUMNS[f] for f in self.fields] + CELL_COLUMNS
            self._groups[key] = self._file(shard).read_row_group(group, columns=columns)
        self._groups.move_to_end(key)
        return self._groups[key]

    def __getitems__(self, indices: list[int]) -> Any:
        """The tiles ``indices``: one stacked batch from the tile store, else a list of items to collate.

        With batch slots (:func:`make_loader`) the batch is filled into a free slot; a DataLoader worker
        returns it as a :class:`~phenocell.loaders.batch_slots.SlotBatch` (the main process unpickles it as
        the batch dict).
        """
        if self.store is None:
            return [self[i] for i in indices]
        n, slots = len(indices), self.slots
        slot = slots.take() if slots is not None and n <= slots.batch_size else None
        if slots is None or slot is None:
            return _cell_columns(self._read(indices, None))
        try:
            batch = self._read(indices, slots.arrays(slot, n))
        except BaseException:
            slots.give_back(slot)
            raise
        if not slots.shared:
            return _cell_columns(batch | slots.batch(slot, n))
        return SlotBatch(slots.key, slot, n, batch, _cell_columns)  # pickled: the cells, taps, slot number

    def _read(self, indices: list[int], out: dict[str, np.ndarray] | None) -> dict[str, Any]:
        """Store tiles into ``out`` (:func:`tile_fields` of ``fields``), else into new tensors (returned).

        Returns the new tensors (none when ``out`` is given), ``cells`` and ``cell_bounds`` (see
        :meth:`~phenocell.loaders.tile_store.StoreReader.read`) and the cached ``taps``.
        """
        refs = [self.index.tiles[i] for i in indices]
        batch: dict[str, Any] = {}
        if out is None:
            side = self.store.tile_shape(refs[0].shard)
            batch = _batch_tensors(tile_fields(side, self.fields), len(refs))
            out = {k: v.numpy() for k, v in batch.items()}
        out["index"][:] = indices
        read = self.store.read(refs, out)
        batch["cells"], batch["cell_bounds"] = read["cells"], read["cell_bounds"]
        if self.cache is not None:
            taps = [self.cache.read(ref) for ref in refs]
            batch["taps"] = [_stack([t[k] for t in taps]) for k in range(len(taps[0]))]
        return batch

    def __getitem__(self, i: int) -> dict[str, Any]:
        """One tile: its ``fields`` and cell tables.

        The fields: uint8 image (3, T, T), semantic (T, T) uint8, instance (T, T) int32; all three unless
        the dataset was told fewer.
        """
        if self.store is not None:
            batch = _cell_columns(self._read([i], None))
            stored = {k: v[0] for k, v in batch.items() if k != "taps"}
            stored["index"] = i
            if "taps" in batch:
                stored["taps"] = [t[0] for t in batch["taps"]]
            return stored
        ref = self.index.tiles[i]
        table = self._group(ref.shard, ref.group)
        cells = table.column("cells")[ref.row].values
        item: dict[str, Any] = {"index": i}
        for field in self.fields:
            png = table.column(PNG_COLUMNS[field])[ref.row]["bytes"].as_py()
            if field == "image":
                image = decode_png(png, np.dtype(np.uint8))
                item[field] = torch.from_numpy(np.ascontiguousarray(image[..., :3].transpose(2, 0, 1)))
            else:
                item[field] = torch.from_numpy(decode_png(png, np.dtype(_DTYPES[field])))
        item["cell_instance"] = np.asarray(cells.field("instance_id"), dtype=np.int64)
        item["cell_ids"] = np.asarray(cells.field("cell_id"), dtype=np.int64)
        item["cell_labels"] = np.asarray(cells.field("label"), dtype=np.int64)
        if self.cache is not None:
            item["taps"] = self.cache.read(ref)
        return item


_DTYPES = {"image": np.uint8, "semantic": np.uint8, "instance": np.int32}


def tile_fields(side: tuple[int, ...], fields: tuple[str, ...] = PIXELS) -> Fields:
    """The tensor fields of a store batch of tiles of shape ``side`` (T, T): shape per tile and dtype.

    ``index`` and the pixel ``fields`` (image (3, T, T) uint8, semantic uint8, instance int32).
    """
    out: Fields = {"index": ((), np.dtype(np.int64))}
    for field in (f for f in PIXELS if f in fields):
        out[field] = ((3, *side) if field == "image" else side, np.dtype(_DTYPES[field]))
    return out


def _batch_tensors(fields: Fields, n: int) -> dict[str, torch.Tensor]:
    """Empty batch tensors, views of one buffer; in a DataLoader worker that buffer is shared memory.

    As torch's own collate does: handing the batch to the main process then passes one file descriptor
    instead of copying each tensor into shared memory on the way out (the path of a worker without a
    free batch slot).
    """
    size = layout(fields, n)[1]
    if get_worker_info() is None:
        flat = torch.empty(size, dtype=torch.uint8)
    else:
        flat = torch.empty(0, dtype=torch.uint8).set_(torch.UntypedStorage._new_shared(size))
    return tensor_views(flat, fields, n)


class CellColumn:
    """One field of the cell tables of a store batch, tile by tile: item k is tile k's cells (a view).

    In a batch as ``cell_instance``, ``cell_ids`` and ``cell_labels``, where the decoding path has lists:
    the same items, made when asked for (training never asks), not for every tile of every batch. Not a
    ``Sequence`` subclass, so that the DataLoader's pinning passes it through as it is.
    """

    __slots__ = ("_bounds", "_values")

    def __init__(self, values: np.ndarray, bounds: list[int]) -> None:
        self._values, self._bounds = values, bounds

    def __len__(self) -> int:
        return len(self._bounds) - 1

    @overload
    def __getitem__(self, k: int) -> np.ndarray: ...

    @overload
    def __getitem__(self, k: slice) -> list[np.ndarray]: ...

    def __getitem__(self, k: int | slice) -> np.ndarray | list[np.ndarray]:
        if isinstance(k, slice):
            return [self[j] for j in range(*k.indices(len(self)))]
        if not -len(self) <= k < len(self):
            raise IndexError(f"tile {k} of a batch of {len(self)}")
        k %= len(self)
        return self._values[self._bounds[k] : self._bounds[k + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        return (self[k] for k in range(len(self)))

    def __repr__(self) -> str:
        return f"CellColumn({list(self)!r})"


def _cell_columns(batch: dict[str, Any]) -> dict[str, Any]:
    """A store batch's ``cells`` table and ``cell_bounds`` → its three :class:`CellColumn` entries."""
    table, bounds = batch.pop("cells"), batch.pop("cell_bounds")
    for k, key in enumerate(("cell_instance", "cell_ids", "cell_labels")):
        batch[key] = CellColumn(table[k], bounds)
    return batch


def _stack(tensors: list[torch.Tensor]) -> torch.Tensor:
    # numpy's single-threaded copy: torch.stack of small tensors with several intra-op threads can stall
    # for a long time on a busy machine (measured 0.47 s vs 0.8 ms for 16 tiles on 2 shared cores)
    return torch.from_numpy(np.stack([t.numpy() for t in tensors]))


def collate(items: list[dict[str, Any]] | dict[str, Any] | SlotBatch) -> Any:
    """Stack the tensors; keep the per-tile cell tables as lists (a batch already stacked passes through)."""
    if isinstance(items, dict | SlotBatch):
        return items
    out: dict[str, Any] = {"index": torch.tensor([it["index"] for it in items])}
    for field in (f for f in PIXELS if f in items[0]):
        out[field] = _stack([it[field] for it in items])
    for key in ("cell_instance", "cell_ids", "cell_labels"):
        out[key] = [it[key] for it in items]
    if "taps" in items[0]:
        out["taps"] = [_stack([it["taps"][k] for it in items]) for k in range(len(items[0]["taps"]))]
    return out


def make_loader(
    dataset: TileDataset,
    *,
    batch_size: int,
    workers: int,
    pin_memory: bool,
    sampler: Sampler[int] | Iterable[int] | None = None,
) -> DataLoader[dict[str, Any]]:
    """A DataLoader decoding in ``workers`` processes (0: in this process), in order unless ``sampler``.

    Workers are persistent (started at the first batch, kept for every later pass). Over a tile store,
    batches are filled into batch slots made here, before any worker starts
    (:mod:`phenocell.loaders.batch_slots`): enough for the batches in flight (``PREFETCH`` per worker), the
    two the consumer holds while it steps to the next, and one more.
    """
    if dataset.store is not None and len(dataset):
        side = dataset.store.tile_shape(dataset.index.tiles[0].shard)
        fields = tile_fields(side, dataset.fields)
        slots = BatchSlots(fields, batch_size, workers * PREFETCH + 3, shared=workers > 0)
        dataset = dataset.with_slots(slots)
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        collate_fn=collate,
        pin_memory=pin_memory,
        persistent_workers=workers > 0,
        prefetch_factor=PREFETCH if workers > 0 else None,
        drop_last=False,
    )


def _bin(sem: np.ndarray, counts: np.ndarray, i: int) -> None:
    binned = np.bincount(sem.ravel(), minlength=256)
    counts[i, :15] = binned[:15]
    counts[i, 15] = binned[255]


def class_counts(index: SplitIndex, store: Any = None) -> np.ndarray:
    """(tiles, 16) pixel counts per tile: classes 0..14, then ignore (255); one row group at a time.

    With a tile store reader the semantic maps are read from the store instead of decoded.
    """
    counts = np.zeros((len(index), 16), dtype=np.int64)
    if store is not None:
        for i, ref in enumerate(index.tiles):
            _bin(store.semantic(ref.shard, ref.group, ref.row), counts, i)
        store.release()
        return counts
    order: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for i, ref in enumerate(index.tiles):
        order.setdefault((ref.shard, ref.group), []).append((i, ref.row))
    for (shard, group), rows in order.items():
        column = pq.ParquetFile(index.root / shard).read_row_group(group, columns=["semantic_mask"])
        masks = column.column("semantic_mask")
        for i, row in rows:
            _bin(decode_png(masks[row]["bytes"].as_py(), np.dtype(np.uint8)), counts, i)
    return counts
