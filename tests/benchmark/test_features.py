"""Features: the token cache encodes as the live pipeline does (precision), image scaling (the authors'
``image / image.max()``), and resizing only when the sizes differ."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from phenocell.benchmark.device import encode_batch, resolve_precision
from phenocell.benchmark.features import (
    TokenCache,
    encode,
    resize_record,
    scale_image,
    to_input,
)
from phenocell.benchmark.frozen import FeatureSpec, build_encoder
from phenocell.errors import SystemResourceError
from phenocell.loaders.tiles import SplitIndex, TileDataset, load_index, make_loader

CPU = torch.device("cpu")


def test_cached_equals_live_under_bf16_autocast(dataset_dir: Path, tmp_path: Path) -> None:
    """bf16 is the autocast a CPU has (fp16 autocast needs CUDA); the cache must not be filled in fp32."""
    enc = build_encoder("test/vit-tiny")
    spec = FeatureSpec((1, 3))
    bf16 = resolve_precision("bf16", CPU)
    index = load_index(dataset_dir, "base", "validation")
    fov = index.tiles[0].fov
    one_fov = index.subset({t.tile_id for t in index.tiles if t.fov == fov})
    cache = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir, bf16)
    cache.fill(enc, one_fov, CPU)
    # the cache's own batches (one FoV, encode_batch(CPU) tiles in order), so kernels see the same inputs
    loader = make_loader(
        TileDataset(one_fov, cache.reader()), batch_size=encode_batch(CPU), workers=0, pin_memory=False
    )
    for batch in loader:
        live = encode(enc, to_input(batch["image"], enc.cfg.input_size), spec, bf16)
        fp32 = encode(enc, to_input(batch["image"], enc.cfg.input_size), spec)
        for cached, fresh, full in zip(batch["taps"], live, fp32, strict=True):
            assert cached.dtype == torch.float16
            assert float((cached.float() - fresh).abs().max()) == 0.0  # bf16 autocast in both paths
            assert float((cached.float() - full).abs().max()) > 0.0  # and bf16 is not fp32 here


def test_precision_is_part_of_the_cache_key(dataset_dir: Path, tmp_path: Path) -> None:
    enc = build_encoder("test/vit-tiny")
    spec = FeatureSpec((1,))
    fp32 = TokenCache(tmp_path, enc, 256, spec, dataset_dir)
    bf16 = TokenCache(tmp_path, enc, 256, spec, dataset_dir, resolve_precision("bf16", CPU))
    assert fp32.dir != bf16.dir and bf16.key["precision"] == "bf16" and fp32.key["precision"] == "fp32"


def _dim_tile() -> torch.Tensor:
    rng = np.random.default_rng(0)
    return torch.from_numpy(rng.integers(0, 61, size=(1, 3, 32, 32), dtype=np.uint8))  # max 60, far below 255


def test_tile_max_equals_their_image_over_image_max_on_a_dim_tile() -> None:
    tile = _dim_tile()
    theirs = tile.numpy()[0].astype(np.float32) / tile.numpy()[0].max()  # LMDBDataset: image / image.max()
    got = scale_image(tile, "tile_max")[0].numpy()
    assert tile.max() == 60 and got.max() == 1.0
    assert np.allclose(got, theirs, atol=0, rtol=1e-7)
    assert np.allclose(scale_image(tile, "unit")[0].numpy(), tile.numpy()[0] / 255.0)


def test_each_tile_of_a_batch_is_divided_by_its_own_max() -> None:
    batch = torch.stack(
        [torch.full((3, 4, 4), 50, dtype=torch.uint8), torch.full((3, 4, 4), 200, dtype=torch.uint8)]
    )
    batch[0, 0, 0, 0], batch[1, 0, 0, 0] = 100, 250
    got = scale_image(batch, "tile_max")
    assert torch.allclose(got[0, 1], torch.full((4, 4), 0.5)) and torch.allclose(
        got[1, 1], torch.full((4, 4), 0.8)
    )
    assert torch.equal(scale_image(torch.zeros(1, 3, 2, 2, dtype=torch.uint8)), torch.zeros(1, 3, 2, 2))


def test_a_tile_of_the_encoder_size_is_never_resized() -> None:
    tile = torch.from_numpy(np.random.default_rng(1).integers(0, 256, (2, 3, 224, 224), dtype=np.uint8))
    assert torch.equal(to_input(tile, 224, "unit"), tile.float() / 255.0)
    assert resize_record(224, 224) is None


def test_other_sizes_are_resized_bicubically_and_recorded() -> None:
    tile = torch.from_numpy(np.random.default_rng(2).integers(0, 256, (1, 3, 224, 224), dtype=np.uint8))
    x = to_input(tile, 384, "unit")
    expected = torch.nn.functional.interpolate(
        tile.float() / 255.0, size=(384, 384), mode="bicubic", align_corners=False
    )
    assert x.shape == (1, 3, 384, 384) and torch.allclose(x, expected, atol=1e-6)
    assert resize_record(256, 224) == {"from": 256, "to": 224, "mode": "bicubic", "antialias": True}
    assert resize_record(224, 384) == {"from": 224, "to": 384, "mode": "bicubic", "antialias": False}


def test_shrinking_tiles_equals_torch_antialiased_bicubic_of_the_scaled_tile() -> None:
    """The CPU's banded resize (uint8 tiles resized first, scaled after) against ``interpolate`` of the
    scaled tile, as the authors' order has it: equal up to float rounding, for a factor 2, a non-integer
    factor, a non-square tile and a dim tile scaled by its own maximum."""
    rng = np.random.default_rng(3)
    for shape, size in (((2, 3, 256, 256), 128), ((2, 3, 256, 256), 224), ((1, 3, 200, 256), 96)):
        tile = torch.from_numpy(rng.integers(0, 256, shape, dtype=np.uint8))
        tile[0] //= 4  # dim: its maximum is about 63
        scaled = tile.float() / tile.float().amax(dim=(1, 2, 3), keepdim=True)
        expected = torch.nn.functional.interpolate(
            scaled, size=(size, size), mode="bicubic", antialias=True, align_corners=False
        )
        got = to_input(tile, size)
        assert got.shape == (shape[0], 3, size, size)
        assert torch.allclose(got, expected, atol=1e-6, rtol=0), (shape, size, (got - expected).abs().max())
        assert torch.allclose(to_input(scaled, size), expected, atol=1e-6, rtol=0)


def test_live_pipeline_inputs_equal_the_cached_ones_exactly(dataset_dir: Path, tmp_path: Path) -> None:
    """Without augmentation the live pipeline transforms a tile as the cache fill does (resize, scale)."""
    from phenocell.benchmark.device import Precision
    from phenocell.benchmark.evaluate import Pipeline

    enc, spec = build_encoder("test/vit-tiny", small=True), FeatureSpec((1,))  # input 32 px: tiles shrink
    index = load_index(dataset_dir, "base", "validation")
    one_fov = index.subset({t.tile_id for t in index.tiles if t.fov == index.tiles[0].fov})
    cache = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    cache.fill(enc, one_fov, CPU)
    assert index.tile_size != enc.cfg.input_size
    pipe = Pipeline(enc, spec, CPU, Precision(None, "cpu"))
    loader = make_loader(
        TileDataset(one_fov, cache.reader()), batch_size=encode_batch(CPU), workers=0, pin_memory=False
    )
    for batch in loader:
        cached, _, _ = pipe.inputs(batch)
        live, _, _ = pipe.inputs({k: v for k, v in batch.items() if k != "taps"})
        assert torch.equal(live.taps[0], cached.taps[0]) and torch.equal(live.image, cached.image)


def _fov_of(path: str) -> str:
    """The FoV a cache file is written for (written as a hidden partial file, then renamed)."""
    return Path(path).name.lstrip(".").split(".safetensors")[0]


@pytest.mark.parametrize("behind", [False, True], ids=["writes-inline", "writes-behind"])
def test_one_pass_fills_every_fov_and_writes_each_after_the_next_batch_is_queued(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behind: bool
) -> None:
    """The fill reads all FoVs' tiles in one pass, in the device module's batches (here 5, spanning FoVs),
    and writes a FoV's file only after waiting for the mark of the batch holding its last row (on a GPU the
    copies back land asynchronously: a file saved before they land holds garbage), and, but for the last
    FoV, after the next batch was queued (the GPU works on it meanwhile). Every row read back equals the live
    encoding of its tile in the same batches. Both where the files are written at once (CPU) and where a
    background thread writes them (CUDA: ``writes_behind``)."""
    import safetensors.torch

    import phenocell.benchmark.features as features

    events: list[tuple[str, Any]] = []
    sizes: list[int] = []
    monkeypatch.setattr(features, "encode_batch", lambda device: 5)
    monkeypatch.setattr(features, "writes_behind", lambda device: behind)
    monkeypatch.setattr(
        features, "host_mark", lambda device: events.append(("mark", len(sizes))) or len(sizes)
    )
    monkeypatch.setattr(features, "host_wait", lambda mark: events.append(("wait", mark)))
    real_encode, real_save = features.encode, safetensors.torch.save_file
    monkeypatch.setattr(
        features, "encode", lambda enc, x, *a: sizes.append(len(x)) or real_encode(enc, x, *a)
    )
    monkeypatch.setattr(
        safetensors.torch,
        "save_file",
        lambda t, path, **k: events.append(("save", _fov_of(path))) or real_save(t, path, **k),
    )
    enc, spec = build_encoder("test/vit-tiny", small=True), FeatureSpec((1, 2))
    index = load_index(dataset_dir, "base", "validation")
    fovs = sorted({t.fov for t in index.tiles})
    tiles = [t for fov in fovs for t in index.tiles if t.fov == fov]  # the fill's order: FoV by FoV
    assert len(fovs) >= 2 and len(tiles) % 5 and any(sum(t.fov == f for t in tiles) % 5 for f in fovs)
    cache = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    cache.fill(enc, index, CPU)
    assert sizes == [5] * (len(tiles) // 5) + [len(tiles) % 5]
    last_row = {t.fov: r for r, t in enumerate(tiles)}
    for fov in fovs:
        at = events.index(("save", fov))
        holder = last_row[fov] // 5 + 1  # marks count the batches encoded so far
        assert ("wait", holder) in events[:at], fov
        if fov != fovs[-1]:
            assert ("mark", holder + 1) in events[:at], f"{fov} written before the next batch was queued"
    assert cache.misses == len(fovs)
    for fov in fovs:  # each file holds its FoV's rows, no more
        held = safetensors.torch.load_file(str(cache.path(fov)))
        assert {len(v) for v in held.values()} == {sum(t.fov == fov for t in tiles)}, fov
    ordered = SplitIndex(index.root, index.family, index.split, tuple(tiles))
    loader = make_loader(TileDataset(ordered, cache.reader()), batch_size=5, workers=0, pin_memory=False)
    for batch in loader:
        live = real_encode(enc, to_input(batch["image"], enc.cfg.input_size), spec)
        for cached, fresh in zip(batch["taps"], live, strict=True):
            assert torch.equal(cached.float(), fresh)


@pytest.mark.parametrize("behind", [False, True], ids=["writes-inline", "writes-behind"])
def test_a_failed_write_stops_the_fill_with_its_error_and_keeps_the_fovs_written_before(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, behind: bool
) -> None:
    import safetensors.torch

    import phenocell.benchmark.features as features

    real_save, saved = safetensors.torch.save_file, []

    def save(tensors: Any, path: str, **kw: Any) -> None:
        if saved:
            raise OSError(28, "No space left on device")
        saved.append(_fov_of(path))
        real_save(tensors, path, **kw)

    monkeypatch.setattr(features, "writes_behind", lambda device: behind)
    monkeypatch.setattr(safetensors.torch, "save_file", save)
    enc, spec = build_encoder("test/vit-tiny", small=True), FeatureSpec((1,))
    index = load_index(dataset_dir, "base", "validation")
    cache = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    with pytest.raises(OSError, match="No space left"):
        cache.fill(enc, index, CPU)
    manifest = json.loads(cache.manifest_path.read_text())
    assert list(manifest["fovs"]) == saved and cache.path(saved[0]).is_file()
    assert sorted(p.stem for p in tmp_path.glob("*/*.safetensors")) == saved


def test_a_write_that_fails_midway_leaves_the_earlier_file_whole(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A FoV file grows when a later run needs more of its tiles: the new file replaces the old one whole.
    A write cut off midway (disk full) leaves the old file and the manifest as they were, so the next run
    reads them and encodes only what is missing."""
    import safetensors.torch

    enc, spec = build_encoder("test/vit-tiny", small=True), FeatureSpec((1,))
    index = load_index(dataset_dir, "base", "validation")
    fov = index.tiles[0].fov
    tiles = [t for t in index.tiles if t.fov == fov]
    first = index.subset({t.tile_id for t in tiles[:2]})
    whole = index.subset({t.tile_id for t in tiles})
    TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir).fill(enc, first, CPU)
    real_save = safetensors.torch.save_file

    def cut_off(tensors: Any, path: str, **kw: Any) -> None:
        Path(path).write_bytes(b"\x00" * 64)  # what a full disk leaves of a file being written
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(safetensors.torch, "save_file", cut_off)
    with pytest.raises(OSError, match="No space left"):
        TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir).fill(enc, whole, CPU)
    monkeypatch.setattr(safetensors.torch, "save_file", real_save)
    cache = TokenCache(tmp_path, enc, index.tile_size, spec, dataset_dir)
    assert cache.manifest["fovs"][fov]["tiles"] == [t.tile_id for t in tiles[:2]]
    assert len(safetensors.torch.load_file(str(cache.path(fov)))["tap0"]) == 2  # the old file, whole
    cache.fill(enc, whole, CPU)
    assert cache.misses == 1 and len(safetensors.torch.load_file(str(cache.path(fov)))["tap0"]) == len(tiles)
    assert [p.name for p in cache.dir.iterdir() if p.name.startswith(".")] == []  # no partial file left


def test_a_fill_the_disk_cannot_hold_fails_before_encoding(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fill estimates its files' size (fp16 grids) before encoding: exactly the bytes it then writes."""
    import safetensors.torch

    import phenocell.benchmark.features as features

    enc, spec = build_encoder("test/vit-tiny", small=True), FeatureSpec((1, 2))
    index = load_index(dataset_dir, "base", "validation")
    done = TokenCache(tmp_path / "a", enc, index.tile_size, spec, dataset_dir)
    done.fill(enc, index, CPU)
    written = sum(
        t.numel() * t.element_size()
        for f in done.dir.glob("*.safetensors")
        for t in safetensors.torch.load_file(str(f)).values()
    )
    usage = features.shutil.disk_usage(tmp_path)
    for free, fits in ((written, True), (written - 1, False)):
        monkeypatch.setattr(features.shutil, "disk_usage", lambda _, f=free: usage._replace(free=f))
        cache = TokenCache(tmp_path / str(free), enc, index.tile_size, spec, dataset_dir)
        if fits:
            cache.fill(enc, index, CPU)
            continue
        with pytest.raises(SystemResourceError, match="not enough disk space for the token cache") as err:
            cache.fill(enc, index, CPU)
        assert "--cache-dir" in err.value.fix and f"{len(index)} tiles" in err.value.expected
        assert list(cache.dir.glob("*.safetensors")) == []
