"""Store batches in recycled slots: equal to per-tile decoding, valid while held, recycled when freed."""

from __future__ import annotations

import gc
import os
import pickle
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from phenocell.loaders import tile_store, tiles
from phenocell.loaders.tile_store import open_store
from phenocell.loaders.tiles import CellColumn, TileDataset, load_index, make_loader

FIELDS = ("index", "image", "semantic", "instance")
CELLS = ("cell_instance", "cell_ids", "cell_labels")


def _store_tiles(dataset_dir: Path, tmp_path: Path) -> TileDataset:
    index = load_index(dataset_dir, "base", "train")
    store = open_store(str(tmp_path), dataset_dir, {t.shard: t.size for t in index.tiles}, progress=False)
    return TileDataset(index, store=store)


def _free_slots(slots: Any) -> int:
    """How many slots the pool's free list holds (drains a shared pool's pipe: call once, at the end)."""
    if not slots.shared:
        return len(slots._free)
    count = 0
    while slots.take() is not None:
        count += 1
    return count


@pytest.mark.parametrize("workers", [0, 1])
def test_held_batches_stay_equal_to_the_decoded_tiles(
    dataset_dir: Path, tmp_path: Path, workers: int
) -> None:
    stored = _store_tiles(dataset_dir, tmp_path)
    decoded = TileDataset(stored.index)
    order = [int(i) for i in np.random.default_rng(1).permutation(len(stored))]
    loader = make_loader(stored, batch_size=3, workers=workers, pin_memory=False, sampler=order)
    slots = loader.dataset.slots  # type: ignore[attr-defined]
    assert slots is not None and slots.shared == (workers > 0)
    held = list(loader) + list(loader)  # more batches than slots: later ones take the fallback buffers
    assert len(held) > slots.count
    for batch, start in zip(held, [*range(0, len(order), 3)] * 2, strict=True):
        ids = order[start : start + 3]
        assert batch["index"].tolist() == ids
        for k, i in enumerate(ids):
            tile = decoded[i]
            for key in FIELDS[1:]:
                assert batch[key].dtype == tile[key].dtype and torch.equal(batch[key][k], tile[key]), key
            for key in CELLS:
                assert isinstance(batch[key], CellColumn) and len(batch[key]) == len(ids)
                assert batch[key][k].dtype == np.int64 and np.array_equal(batch[key][k], tile[key]), key


@pytest.mark.parametrize("workers", [0, 1])
def test_slots_are_recycled_once_their_batches_are_freed(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, workers: int
) -> None:
    def no_fallback(*args: Any) -> None:
        raise AssertionError("a batch left the slots (no slot was free)")

    monkeypatch.setattr(tiles, "_batch_tensors", no_fallback)  # before the workers fork: they see it too
    stored = _store_tiles(dataset_dir, tmp_path)
    loader = make_loader(stored, batch_size=2, workers=workers, pin_memory=False)
    slots = loader.dataset.slots  # type: ignore[attr-defined]
    batches = 0
    for _ in range(3):  # each pass has more batches than the pool has slots
        for batch in loader:
            view = batch["image"][0]  # a view keeps the slot taken; dropping it frees the slot
            del batch
            assert view.sum() >= 0
            batches += 1
    assert batches > slots.count
    del view
    gc.collect()
    if workers:
        del loader  # its workers hold prefetched slots until they stop
        gc.collect()
    assert _free_slots(slots) == slots.count


def test_a_pool_stays_behind_when_a_dataset_is_pickled(dataset_dir: Path, tmp_path: Path) -> None:
    loader = make_loader(_store_tiles(dataset_dir, tmp_path), batch_size=2, workers=1, pin_memory=False)
    copy = pickle.loads(pickle.dumps(loader.dataset))  # what a spawned worker gets
    assert loader.dataset.slots is not None and copy.slots is None  # type: ignore[attr-defined]
    batch = copy.__getitems__([0, 1])
    assert batch["index"].tolist() == [0, 1] and isinstance(batch["cell_ids"], CellColumn)


def test_mapped_pages_are_given_back_only_past_the_budget(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = _store_tiles(dataset_dir, tmp_path)
    refs = stored.index.tiles
    released: list[int] = []
    real = tile_store._Mapped.release
    monkeypatch.setattr(
        tile_store._Mapped, "release", lambda self: released.append(os.getpid()) or real(self)
    )
    monkeypatch.setattr(tile_store, "RELEASE_BYTES", int(2.5 * tile_store.tile_bytes(stored.index.tile_size)))
    for _ in range(4):  # two tiles read again and again stay mapped
        stored.store.read(refs[:2])
    assert released == []
    stored.store.read(refs[2:3])  # a third distinct tile passes the budget: every mapped file released once
    assert len(released) == len(stored.store._open) * len(tile_store.TILE_ARRAYS) > 0
    stored.store.read(refs[:2])
    assert len(released) == len(stored.store._open) * len(tile_store.TILE_ARRAYS)


def test_cell_columns_index_like_lists() -> None:
    values = np.arange(6, dtype=np.int64)
    column = CellColumn(values, [0, 2, 2, 6])
    assert len(column) == 3 and column[0].tolist() == [0, 1] and column[1].tolist() == []
    assert column[-1].tolist() == [2, 3, 4, 5] and [c.tolist() for c in column[1:]] == [[], [2, 3, 4, 5]]
    assert [c.tolist() for c in column] == [[0, 1], [], [2, 3, 4, 5]]
    with pytest.raises(IndexError):
        column[3]


@pytest.mark.parametrize("shared", [False, True])
def test_the_slot_given_back_last_is_taken_first(shared: bool) -> None:
    """A filler takes the most recently freed slot: the one whose pages the CPU's caches still hold."""
    from phenocell.loaders.batch_slots import BatchSlots

    slots = BatchSlots(tiles.tile_fields((4, 4)), 2, 4, shared=shared)
    taken = [slots.take() for _ in range(4)]
    assert sorted(taken) == [0, 1, 2, 3] and slots.take() is None  # type: ignore[type-var]
    for slot in (2, 0, 3):
        slots.give_back(slot)
    assert [slots.take(), slots.take(), slots.take(), slots.take()] == [3, 0, 2, None]
