"""Decoded tile store: equal to the shards' PNGs, atomic, shared by concurrent runs, batched reads."""

from __future__ import annotations

import json
import os
import random
import socket
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import torch

from phenocell.errors import SystemResourceError
from phenocell.loaders import store_build, tile_store
from phenocell.loaders.tile_store import TileStore, open_store
from phenocell.loaders.tiles import TileDataset, class_counts, load_index, make_loader
from phenocell.schema import INSTANCE_DTYPE, SEMANTIC_DTYPE, decode_mask


def _shards(index) -> dict[str, int]:
    return {t.shard: t.size for t in index.tiles}


def test_store_tiles_equal_the_published_pngs_in_any_order(dataset_dir: Path, tmp_path: Path) -> None:
    from datasets import load_dataset

    index = load_index(dataset_dir, "base", "train")
    rows = load_dataset(str(dataset_dir), "base", split="train")
    store = open_store(str(tmp_path), dataset_dir, _shards(index), progress=False)
    order = list(range(len(index)))
    random.Random(0).shuffle(order)
    batch = TileDataset(index, store=store).__getitems__(order)
    assert batch["image"].dtype == torch.uint8 and batch["instance"].dtype == torch.int32
    for k, i in enumerate(order):
        row = rows[i]
        image = batch["image"][k].numpy().transpose(1, 2, 0)
        assert np.array_equal(image, np.asarray(row["image"].convert("RGB")))
        assert np.array_equal(batch["semantic"][k].numpy(), decode_mask(row["semantic_mask"], SEMANTIC_DTYPE))
        assert np.array_equal(batch["instance"][k].numpy(), decode_mask(row["instance_mask"], INSTANCE_DTYPE))
        assert batch["cell_ids"][k].tolist() == [c["cell_id"] for c in row["cells"]]
        assert batch["cell_labels"][k].tolist() == [c["label"] for c in row["cells"]]
        assert batch["cell_instance"][k].tolist() == [c["instance_id"] for c in row["cells"]]
    assert batch["index"].tolist() == order
    assert np.array_equal(class_counts(index, store), class_counts(index))


def test_loader_batches_from_the_store_equal_the_decoding_loader(dataset_dir: Path, tmp_path: Path) -> None:
    index = load_index(dataset_dir, "base", "train")
    store = open_store(str(tmp_path), dataset_dir, _shards(index), progress=False)
    decoded = list(make_loader(TileDataset(index), batch_size=5, workers=0, pin_memory=False))
    stored = list(make_loader(TileDataset(index, store=store), batch_size=5, workers=1, pin_memory=False))
    assert len(decoded) == len(stored) > 1
    for a, b in zip(decoded, stored, strict=True):
        for key in ("index", "image", "semantic", "instance"):
            assert a[key].dtype == b[key].dtype and torch.equal(a[key], b[key]), key
        for x, y in zip(a["cell_ids"], b["cell_ids"], strict=True):
            assert x.dtype == y.dtype and np.array_equal(x, y)
    item = TileDataset(index, store=store)[3]
    assert item["index"] == 3 and torch.equal(item["image"], TileDataset(index)[3]["image"])


def test_a_failed_build_leaves_nothing_and_the_next_run_builds(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = load_index(dataset_dir, "base", "validation")
    real, calls = store_build._decode, []

    def failing(data: bytes, name: str) -> np.ndarray:
        calls.append(name)
        if len(calls) > 4:
            raise OSError("disk full")
        return real(data, name)

    monkeypatch.setattr(store_build, "_decode", failing)
    with pytest.raises(OSError, match="disk full"):
        open_store(str(tmp_path), dataset_dir, _shards(index), progress=False)
    left = list((tmp_path / "v1").iterdir()) if (tmp_path / "v1").exists() else []
    assert left == []  # no folder, no partial, no lock
    monkeypatch.setattr(store_build, "_decode", real)
    store = open_store(str(tmp_path), dataset_dir, _shards(index), progress=False)
    assert store is not None and len(list((tmp_path / "v1").iterdir())) == len(_shards(index))


def test_a_run_waits_for_a_concurrent_build_of_the_same_shard(dataset_dir: Path, tmp_path: Path) -> None:
    index = load_index(dataset_dir, "base", "validation")
    shard = index.tiles[0].shard
    store = TileStore(tmp_path, dataset_dir)
    out = store.dir / store.sha(shard)
    out.parent.mkdir(parents=True)
    lock = out.parent / f".{out.name}.lock"
    lock.write_text(f"{os.getpid()} {socket.gethostname()}\n")  # a live run holds the shard

    def other_run() -> None:
        time.sleep(1.0)
        partial = out.parent / "other"
        partial.mkdir()
        store_build.build_shard(dataset_dir / shard, partial, lambda n: None)
        partial.rename(out)
        lock.unlink()

    thread = threading.Thread(target=other_run)
    thread.start()
    started = time.monotonic()
    store.build([shard], progress=False)
    thread.join()
    assert time.monotonic() - started >= 0.9 and out.is_dir() and not (out.parent / "other").exists()
    assert sorted(p.name for p in out.parent.iterdir()) == [out.name]  # it built nothing of its own


def test_a_changed_shard_gets_a_new_folder(dataset_dir: Path, tmp_path: Path) -> None:
    index = load_index(dataset_dir, "base", "validation")
    data = tmp_path / "data_copy"
    data.mkdir()
    (data / "data").symlink_to(dataset_dir / "data")
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    (data / "manifest.json").write_text(json.dumps(manifest))
    open_store(str(tmp_path / "s"), data, _shards(index), progress=False)
    assert TileStore(tmp_path / "s", data).missing(_shards(index)) == []
    first = index.tiles[0].shard
    manifest["shards"][first]["sha256"] = "f" * 64
    (data / "manifest.json").write_text(json.dumps(manifest))
    assert TileStore(tmp_path / "s", data).missing(_shards(index)) == [first]


def test_store_options_none_auto_without_room_and_dir_without_room(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = load_index(dataset_dir, "base", "validation")
    assert open_store("none", dataset_dir, _shards(index)) is None
    monkeypatch.setenv("PHENOCELL_CACHE", str(tmp_path / "cache"))
    full = type("Usage", (), {"free": 1000})
    monkeypatch.setattr(tile_store.shutil, "disk_usage", lambda path: full)
    said: list[str] = []
    assert open_store("auto", dataset_dir, _shards(index), log=said.append) is None
    assert "tile store off" in said[0] and not (tmp_path / "cache" / "tiles" / "v1").exists()
    with pytest.raises(SystemResourceError, match="disk space") as err:
        open_store(str(tmp_path / "explicit"), dataset_dir, _shards(index))
    assert "--tile-store none" in str(err.value)


@pytest.mark.parametrize("where", ["under a file", "in /proc"])
def test_store_dir_that_cannot_be_created_is_named_as_the_option(
    dataset_dir: Path, tmp_path: Path, where: str
) -> None:
    """Not "not enough disk space" (/proc has none) nor "choose another --out": what --tile-store got."""
    if where == "in /proc" and not Path("/proc/self").is_dir():
        pytest.skip("no /proc here")
    index = load_index(dataset_dir, "base", "validation")
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    option = str(blocker / "store") if where == "under a file" else "/proc/phenocell-store"
    with pytest.raises(SystemResourceError, match="cannot create the tile store") as err:
        open_store(option, dataset_dir, _shards(index), progress=False)
    assert "disk space" not in str(err.value) and "--out" not in str(err.value)
    assert "--tile-store none" in str(err.value) and not Path(option).exists()


def test_store_size_per_tile_is_the_raw_arrays() -> None:
    assert tile_store.tile_bytes(224) == 224 * 224 * 3 + 224 * 224 + 224 * 224 * 2


@pytest.mark.parametrize("fields", [("image",), ("semantic",), ("semantic", "instance")])
def test_a_loader_reads_and_brings_only_the_fields_asked_for(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fields: tuple[str, ...]
) -> None:
    from phenocell.loaders import tiles

    index = load_index(dataset_dir, "base", "train")
    full = next(iter(make_loader(TileDataset(index), batch_size=5, workers=0, pin_memory=False)))
    decoded: list[object] = []
    real = tiles.decode_png
    monkeypatch.setattr(tiles, "decode_png", lambda data, dtype: decoded.append(dtype) or real(data, dtype))
    store = open_store(str(tmp_path), dataset_dir, _shards(index), progress=False)
    for dataset, workers in (
        (TileDataset(index, fields=fields), 0),
        (TileDataset(index, store=store, fields=fields), 1),
    ):
        batch = next(iter(make_loader(dataset, batch_size=5, workers=workers, pin_memory=False)))
        assert {"image", "semantic", "instance"} & set(batch) == set(fields)
        for key in ("index", *fields):
            assert batch[key].dtype == full[key].dtype and torch.equal(batch[key], full[key]), key
        assert [c.tolist() for c in batch["cell_ids"]] == [c.tolist() for c in full["cell_ids"]]
    assert len(decoded) == 5 * len(fields)  # the parquet path decodes no PNG it was not asked for
    with pytest.raises(ValueError, match="unknown tile fields"):
        TileDataset(index, fields=("image", "labels"))
