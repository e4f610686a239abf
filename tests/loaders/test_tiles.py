"""Streaming split index + DataLoader + on-disk token cache against `datasets` and live encoding."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from phenocell.benchmark.features import TokenCache, encode, to_input
from phenocell.benchmark.frozen import FeatureSpec, build_encoder
from phenocell.errors import InvalidInputError, MissingInputError
from phenocell.loaders.tiles import TileDataset, class_counts, load_index, make_loader
from phenocell.schema import INSTANCE_DTYPE, SEMANTIC_DTYPE, decode_mask


def test_index_and_items_equal_load_dataset(dataset_dir: Path) -> None:
    from datasets import load_dataset

    index = load_index(dataset_dir, "tumor_type", "test")
    rows = load_dataset(str(dataset_dir), "tumor_type", split="test")
    assert [t.tile_id for t in index.tiles] == list(rows["tile_id"])
    tiles = TileDataset(index)
    for i in (0, len(index) - 1):
        row, item = rows[i], tiles[i]
        assert np.array_equal(
            item["image"].numpy().transpose(1, 2, 0), np.asarray(row["image"].convert("RGB"))
        )
        assert np.array_equal(item["semantic"].numpy(), decode_mask(row["semantic_mask"], SEMANTIC_DTYPE))
        assert np.array_equal(item["instance"].numpy(), decode_mask(row["instance_mask"], INSTANCE_DTYPE))
        assert item["cell_ids"].tolist() == [c["cell_id"] for c in row["cells"]]
        assert (index.tiles[i].x, index.tiles[i].y) == (row["tile_x"], row["tile_y"])
    counts = class_counts(index)
    assert counts.sum() == len(index) * index.tile_size**2
    first = decode_mask(rows[0]["semantic_mask"], SEMANTIC_DTYPE)
    assert counts[0, 15] == (first == 255).sum() and counts[0, 3] == (first == 3).sum()


def test_worker_processes_give_the_same_batches(dataset_dir: Path) -> None:
    tiles = TileDataset(load_index(dataset_dir, "base", "train"))
    serial = list(make_loader(tiles, batch_size=3, workers=0, pin_memory=False))
    parallel = list(make_loader(tiles, batch_size=3, workers=1, pin_memory=False))
    assert len(serial) == len(parallel) > 1
    for a, b in zip(serial, parallel, strict=True):
        assert torch.equal(a["image"], b["image"]) and torch.equal(a["instance"], b["instance"])
        assert torch.equal(a["index"], b["index"])


def test_each_shard_is_opened_once_per_process(dataset_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import pickle

    import pyarrow.parquet as pq

    opened: list[str] = []
    real = pq.ParquetFile

    def counting(path: Any, *args: Any, **kwargs: Any) -> Any:
        opened.append(str(path))
        return real(path, *args, **kwargs)

    tiles = TileDataset(load_index(dataset_dir, "base", "train"))
    shards = {t.shard for t in tiles.index.tiles}
    assert len(shards) > 2  # more shards than cached row groups: a second pass misses again
    monkeypatch.setattr(pq, "ParquetFile", counting)
    first = [tiles[i]["image"] for i in range(len(tiles))]
    second = [tiles[i]["image"] for i in range(len(tiles))]
    assert len(opened) == len(shards) and all(torch.equal(a, b) for a, b in zip(first, second, strict=True))
    copy = pickle.loads(pickle.dumps(tiles))  # open files and row groups stay behind
    assert torch.equal(copy[0]["image"], first[0]) and len(opened) == len(shards) + 1


def test_unknown_family_split_is_a_clear_error(dataset_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="no nope/train split") as err:
        load_index(dataset_dir, "nope", "train")
    assert "tumor_type" in str(err.value)  # the families the card has
    with pytest.raises(ValueError, match="one of"):
        load_index(dataset_dir, "base", "nope")
    (tmp_path / "README.md").write_text("---\nconfigs: []\n---\n")
    with pytest.raises(InvalidInputError, match="no base/train split"):
        load_index(tmp_path, "base", "train")


@pytest.mark.parametrize("kind", ["missing", "file"])
def test_data_that_is_no_directory_says_so_without_asking_the_hub(tmp_path: Path, kind: str) -> None:
    """A local path (absolute here, so never an ORG/NAME repo id) is reported as a path, not a Hub error."""
    data = tmp_path / "dataset"
    if kind == "file":
        data.write_text("not a dataset")
    found = "is a file" if kind == "file" else "nothing at"
    with pytest.raises(MissingInputError, match=f"(?s)no dataset directory at .*{found}") as info:
        load_index(data, "base", "train")
    assert "HFValidationError" not in str(info.value) and "phenocell convert" in str(info.value)


def test_token_cache_is_on_disk_per_fov_and_equals_live(dataset_dir: Path, tmp_path: Path) -> None:
    enc = build_encoder("test/vit-tiny")
    spec = FeatureSpec((1, 3))
    index = load_index(dataset_dir, "base", "validation")
    cache = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    cache.fill(enc, index, torch.device("cpu"))
    fovs = {t.fov for t in index.tiles}
    assert {p.stem for p in cache.dir.glob("*.safetensors")} == fovs and cache.misses == len(fovs)
    batch = next(
        iter(make_loader(TileDataset(index, cache.reader()), batch_size=4, workers=0, pin_memory=False))
    )
    live = encode(enc, to_input(batch["image"], enc.cfg.input_size), spec)
    for cached, fresh in zip(batch["taps"], live, strict=True):
        assert cached.dtype == torch.float16 and torch.equal(cached.float(), fresh)
    again = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    again.fill(enc, index, torch.device("cpu"))
    assert again.hits == len(fovs) and again.misses == 0
    manifest = json.loads(again.manifest_path.read_text())
    manifest["fovs"][sorted(fovs)[0]]["sha256"] = "0" * 64
    again.manifest_path.write_text(json.dumps(manifest))
    third = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    third.fill(enc, index, torch.device("cpu"))
    assert third.stale == 1 and third.misses == 1


def test_token_cache_adds_the_tiles_an_earlier_subset_run_did_not_encode(
    dataset_dir: Path, tmp_path: Path
) -> None:
    enc = build_encoder("test/vit-tiny")
    spec = FeatureSpec((1,))
    index = load_index(dataset_dir, "base", "validation")
    half = index.subset({t.tile_id for t in index.tiles[::2]})
    TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir).fill(enc, half, torch.device("cpu"))
    full = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    full.fill(enc, index, torch.device("cpu"))
    assert full.hits + full.misses == len({t.fov for t in index.tiles})
    assert full.misses > 0 and full.stale == 0
    items = make_loader(TileDataset(index, full.reader()), batch_size=len(index), workers=0, pin_memory=False)
    batch = next(iter(items))  # every tile is read back from the cache
    live = encode(enc, to_input(batch["image"], enc.cfg.input_size), spec)
    assert torch.equal(batch["taps"][0].float(), live[0])
    again = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    again.fill(enc, index, torch.device("cpu"))
    assert again.misses == 0


def test_token_cache_keys_shard_hashes_by_the_tiles_shard(dataset_dir: Path, tmp_path: Path) -> None:
    enc = build_encoder("test/vit-tiny")
    index = load_index(dataset_dir, "base", "validation")
    renamed = tmp_path / "data"  # PanNuke-like: manifest shards named after a part, not the tiles' FoV
    renamed.mkdir()
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    for k, meta in enumerate(manifest["shards"].values()):
        meta["fov"] = f"fold1_part{k:03d}"
    (renamed / "manifest.json").write_text(json.dumps(manifest))
    cache = TokenCache(tmp_path / "c", enc, index.tile_size, FeatureSpec((1,)), renamed)
    cache.fill(enc, index, torch.device("cpu"))
    assert cache.misses == len({t.fov for t in index.tiles})
    del manifest["shards"][index.tiles[0].shard]
    (renamed / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(InvalidInputError, match="lacks the hash"):
        TokenCache(tmp_path / "c", enc, index.tile_size, FeatureSpec((1,)), renamed).fill(
            enc, index, torch.device("cpu")
        )


def test_padded_tiles_map_their_valid_box_onto_the_fov(raw_export: Path, tmp_path: Path) -> None:
    from phenocell.converters.driver import convert
    from phenocell.converters.options import CodexOptions

    data = convert(raw_export, tmp_path / "pb", options=CodexOptions(tiling="phenobench", progress=False))
    index = load_index(data, "base", "test")
    assert any(t.x < 0 or t.y < 0 for t in index.tiles)  # zero-padded crops start outside the FoV
    covered: dict[str, np.ndarray] = {}
    for ref in index.tiles:
        rows, cols = ref.crop()
        y, x = ref.y + rows.start, ref.x + cols.start
        assert x >= 0 and y >= 0
        fov = covered.setdefault(ref.fov, np.zeros((2000, 2000), dtype=np.int64))
        fov[y : y + rows.stop - rows.start, x : x + cols.stop - cols.start] += 1
    for counts in covered.values():
        assert counts.max() == 1  # the authors' crops do not overlap
