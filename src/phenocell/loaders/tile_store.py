"""Decoded tile store: each parquet shard decoded once into raw ``.npy`` arrays, read back from memory maps.

The published shards keep their tiles as PNG bytes (small, right for the Hub); decoding a random tile there
means reading and decoding a whole row group. On first use the benchmark decodes every shard a run needs
once into this store, and from then on a tile read is a copy out of a memory map. Layout, one folder per
shard, named by the shard's sha256 (the dataset manifest's; a shard whose bytes change gets a new folder):

    STORE/v1/<sha256>/image.npy        (N, 3, T, T) uint8, channels first (a batch is one copy per tile)
    STORE/v1/<sha256>/semantic.npy     (N, T, T) uint8
    STORE/v1/<sha256>/instance.npy     (N, T, T) uint16 (the schema's instance dtype)
    STORE/v1/<sha256>/cells.npy        (M, 3) int64: instance id, cell id, label of every cell, row order
    STORE/v1/<sha256>/cell_offsets.npy (N + 1,) int64: tile n's cells are rows offsets[n]:offsets[n + 1]
    STORE/v1/<sha256>/row_groups.npy   (G + 1,) int64: row group g's first tile, so (group, row) → tile

A folder is built in a private temporary sibling and renamed into place when complete
(:func:`phenocell.storage.writer.atomic_directory`): a failed build leaves nothing, and a concurrent run
waits for the other run's build instead of repeating it. Reads map the files (``mmap``): a tile is one copy
out of the page cache, and re-reading a tile whose pages are still mapped costs no page fault. A process
gives its mapped pages back (``MADV_DONTNEED``: they stay in the page cache) once the distinct tiles it read
since the last time exceed ``RELEASE_BYTES``, so its resident memory stays within that whatever the
dataset's size, and a split smaller than that stays mapped. Giving them back after every batch instead
made every read page-fault again, which cost about as much as the copies.
"""

from __future__ import annotations

import mmap
import os
import shutil
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from tqdm.auto import tqdm

from phenocell.errors import InvalidInputError, OutputExistsError, OutputLockedError, SystemResourceError
from phenocell.loaders.store_build import TILE_ARRAYS, build_shard
from phenocell.manifest import Manifest
from phenocell.paths import nearest_existing, why_not_creatable
from phenocell.storage.writer import atomic_directory, sha256_file

FORMAT = 1
AUTO, OFF = "auto", "none"
MARGIN = 1 << 30  # free disk space left over after a build, for ``auto``
WAIT_SECONDS = 900  # how long a run waits for another run building the same shard
RELEASE_BYTES = 256 << 20  # bytes of distinct tiles a process maps before it gives the mapped pages back


def default_root() -> Path:
    """``$PHENOCELL_CACHE/tiles``, else ``$XDG_CACHE_HOME`` (or ``~/.cache``) ``/phenocell/tiles``."""
    if os.environ.get("PHENOCELL_CACHE"):
        return Path(os.environ["PHENOCELL_CACHE"]) / "tiles"
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "phenocell" / "tiles"


def tile_bytes(size: int) -> int:
    """Store bytes of one square tile of side ``size`` (image 3 + semantic 1 + instance 2 per pixel)."""
    return size * size * (3 + 1 + 2)


class TileStore:
    """The store folder of one dataset directory's shards (module docstring)."""

    def __init__(self, root: Path, data_root: Path) -> None:
        self.dir = Path(root) / f"v{FORMAT}"
        self.data = Path(data_root)
        manifest = Manifest.read_if_present(self.data)
        self._sha = manifest.shard_sha256() if manifest else {}

    def sha(self, shard: str) -> str:
        """The shard's sha256: the manifest's, or hashed from the file when the manifest lacks it."""
        if shard not in self._sha:
            self._sha[shard] = sha256_file(self.data / shard)
        return self._sha[shard]

    def missing(self, shards: Iterable[str]) -> list[str]:
        """The shards (relative paths, each once, in order) without a complete store folder."""
        return [s for s in dict.fromkeys(shards) if not (self.dir / self.sha(s)).is_dir()]

    def bytes_needed(self, shards: Iterable[str], tile_size: dict[str, int]) -> int:
        """Store bytes of ``shards`` (rows from the parquet footers, sides from ``tile_size``)."""
        return sum(pq.ParquetFile(self.data / s).metadata.num_rows * tile_bytes(tile_size[s]) for s in shards)

    def build(self, shards: Sequence[str], *, progress: bool = True) -> None:
        """Decode each of ``shards`` into its folder (atomic; waits for a concurrent build of the same)."""
        rows = sum(pq.ParquetFile(self.data / s).metadata.num_rows for s in shards)
        desc = "tile store: decoding shards once"
        with tqdm(total=rows, unit="tile", desc=desc, disable=not progress or not rows) as bar:
            for shard in shards:
                self._build_once(shard, bar)

    def _build_once(self, shard: str, bar: Any) -> None:
        out = self.dir / self.sha(shard)
        deadline = time.monotonic() + WAIT_SECONDS
        while not out.is_dir():
            try:
                with atomic_directory(out) as tmp:
                    build_shard(self.data / shard, tmp, bar.update)
            except OutputExistsError:
                return  # another run completed it between our check and our lock
            except OutputLockedError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)  # another run is building it: wait and use its folder

    def reader(self, shards: Iterable[str]) -> StoreReader:
        """A picklable reader of ``shards`` (each must be built)."""
        return StoreReader(self.dir, {s: self.sha(s) for s in dict.fromkeys(shards)})


class _Mapped:
    """One ``.npy`` file mapped read-only: the array view and the map (to give pages back)."""

    def __init__(self, path: Path) -> None:
        with open(path, "rb") as handle:
            version = np.lib.format.read_magic(handle)
            if version != (1, 0):
                raise InvalidInputError(
                    "unexpected tile store file",
                    expected="an .npy file of format 1.0 written by the tile store",
                    found=f"{path}: format {version}",
                    fix="delete that store folder; the next run rebuilds it",
                )
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
            offset = handle.tell()
            self.map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        self.array: np.ndarray = np.ndarray(shape, dtype=dtype, buffer=self.map, offset=offset)

    def release(self) -> None:
        """Drop this process's mapped pages (the page cache keeps them; the next read maps them again)."""
        if hasattr(mmap, "MADV_DONTNEED"):
            self.map.madvise(mmap.MADV_DONTNEED)


class _Shard:
    """The mapped arrays of one shard's store folder."""

    def __init__(self, folder: Path) -> None:
        self.maps = {name: _Mapped(folder / f"{name}.npy") for name in TILE_ARRAYS}
        self.arrays = {name: self.maps[name].array for name in TILE_ARRAYS}
        self.semantic = self.arrays["semantic"]
        self.cells = np.ascontiguousarray(np.load(folder / "cells.npy").T)  # (3, M): one row per field
        self.offsets: list[int] = np.load(folder / "cell_offsets.npy").tolist()
        self.first: list[int] = np.load(folder / "row_groups.npy").tolist()
        self.touched = bytearray(len(self.semantic))  # tiles read since the mapped pages were last given back

    def row(self, group: int, row: int) -> int:
        return self.first[group] + row


class StoreReader:
    """Reads batches of tiles out of the store's memory maps; each process maps the files itself."""

    def __init__(self, directory: Path, shas: dict[str, str]) -> None:
        self.dir, self.shas = Path(directory), shas
        self._open: dict[str, _Shard] = {}
        self._mapped = 0  # bytes of the tiles read since the mapped pages were last given back

    def __getstate__(self) -> dict[str, Any]:
        return {"dir": self.dir, "shas": self.shas, "_open": {}, "_mapped": 0}

    def shard(self, shard: str) -> _Shard:
        """The mapped arrays of ``shard`` (mapped once per process)."""
        if shard not in self._open:
            self._open[shard] = _Shard(self.dir / self.shas[shard])
        return self._open[shard]

    def semantic(self, shard: str, group: int, row: int) -> np.ndarray:
        """One tile's semantic map (a view into the map)."""
        mapped = self.shard(shard)
        return mapped.semantic[mapped.row(group, row)]

    def tile_shape(self, shard: str) -> tuple[int, ...]:
        """(T, T) of the tiles of ``shard``."""
        return tuple(self.shard(shard).semantic.shape[1:])

    def read(self, refs: Sequence[Any], out: dict[str, np.ndarray] | None = None) -> dict[str, Any]:
        """Tiles of ``refs`` (``TileRef``s: shard, group, row) stacked, in order, and their cells.

        ``out``: arrays to fill, e.g. a batch slot: some of ``image`` (n, 3, T, T) uint8, ``semantic``
        (n, T, T) uint8 and ``instance`` (n, T, T) int32; only those are read (other keys are left alone).
        Without ``out`` all three are allocated here. Returns them with ``cells``, the (3, M) int64 table of
        the batch's cells (rows: instance id, cell id, label), tile after tile, and ``cell_bounds``: n + 1
        ints, tile k's cells are columns ``cell_bounds[k]:cell_bounds[k + 1]``.
        """
        n = len(refs)
        if out is None:
            side = self.tile_shape(refs[0].shard)
            out = {
                "image": np.empty((n, 3, *side), np.uint8),
                "semantic": np.empty((n, *side), np.uint8),
                "instance": np.empty((n, *side), np.int32),
            }
        fields = [(out[name], name) for name in TILE_ARRAYS if name in out]
        side = tuple(fields[0][0].shape[-2:]) if fields else self.tile_shape(refs[0].shard)
        cells: list[np.ndarray] = []
        bounds = [0]
        checked: set[str] = set()
        fresh = 0  # tiles not read since the last release
        for k, ref in enumerate(refs):
            mapped = self._open.get(ref.shard) or self.shard(ref.shard)
            if ref.shard not in checked:
                if mapped.semantic.shape[1:] != side:
                    raise _mixed_sizes(ref.shard, mapped.semantic.shape[1:], side)
                checked.add(ref.shard)
            row = mapped.first[ref.group] + ref.row
            for array, name in fields:
                array[k] = mapped.arrays[name][row]  # instance: uint16 → int32 in the same pass
            start, stop = mapped.offsets[row], mapped.offsets[row + 1]
            cells.append(mapped.cells[:, start:stop])
            bounds.append(bounds[-1] + stop - start)
            if not mapped.touched[row]:
                mapped.touched[row] = 1
                fresh += 1
        self._mapped += fresh * tile_bytes(side[-1])
        if self._mapped > RELEASE_BYTES:
            self.release()
        return {**out, "cells": np.concatenate(cells, axis=1), "cell_bounds": bounds}

    def release(self) -> None:
        """Give back the mapped pages of every shard this process mapped (they stay in the page cache)."""
        self._mapped = 0
        for mapped in self._open.values():
            mapped.touched[:] = bytes(len(mapped.touched))
            for m in mapped.maps.values():
                m.release()


def _mixed_sizes(shard: str, found: tuple[int, ...], expected: tuple[int, ...]) -> InvalidInputError:
    return InvalidInputError(
        "tiles of different sizes in one batch",
        expected=f"every tile of the split of shape {expected}",
        found=f"{shard}: {found}",
        fix="convert the dataset with one --tile-size",
    )


def open_store(
    option: str, data_root: Path, shards: dict[str, int], *, log: Any = print, progress: bool = True
) -> StoreReader | None:
    """The store reader for ``shards`` (path → tile side), building what is missing; None when off.

    ``option`` is ``auto`` (:func:`default_root`, skipped with a message when the disk lacks space),
    ``none``, or a directory (too little space there is an error).
    """
    if option == OFF:
        return None
    store = TileStore(default_root() if option == AUTO else Path(option), data_root)
    missing = store.missing(shards)
    need = store.bytes_needed(missing, shards)
    if missing:
        problem = why_not_creatable(store.dir)
        if problem and option == AUTO:
            log(f"tile store off: cannot create {store.dir} ({problem})")
            return None
        if problem:
            raise SystemResourceError(
                f"cannot create the tile store under --tile-store {option}",
                expected="--tile-store DIR: a directory this user can create and write",
                found=problem,
                fix="pass --tile-store DIR on a writable disk, or --tile-store none",
            )
        probe = nearest_existing(store.dir)
        free = shutil.disk_usage(probe).free
        if need + (MARGIN if option == AUTO else 0) > free:
            if option == AUTO:
                log(f"tile store off: it needs {need / 1e9:.1f} GB, {free / 1e9:.1f} GB free under {probe}")
                return None
            raise SystemResourceError(
                "not enough disk space for the tile store",
                expected=f"{need / 1e9:.2f} GB free under {store.dir}",
                found=f"{free / 1e9:.2f} GB free",
                fix="free space, pass --tile-store DIR on a larger disk, or --tile-store none",
            )
        log(f"tile store: decoding {len(missing)} shard(s) once into {store.dir} ({need / 1e6:.0f} MB)")
        store.build(missing, progress=progress)
    return store.reader(shards)
