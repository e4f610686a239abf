"""Features: the token cache encodes as the live pipeline does (precision), image scaling (the authors'
``image / image.max()``), and resizing only when the sizes differ."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from phenocell.benchmark.device import resolve_precision
from phenocell.benchmark.features import (
    ENCODE_BATCH,
    TokenCache,
    encode,
    resize_record,
    scale_image,
    to_input,
)
from phenocell.benchmark.frozen import FeatureSpec, build_encoder
from phenocell.loaders.tiles import TileDataset, load_index, make_loader

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
    # the cache's own batches (one FoV, ENCODE_BATCH tiles in order), so kernels see the same inputs
    loader = make_loader(
        TileDataset(one_fov, cache.reader()), batch_size=ENCODE_BATCH, workers=0, pin_memory=False
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
        TileDataset(one_fov, cache.reader()), batch_size=ENCODE_BATCH, workers=0, pin_memory=False
    )
    for batch in loader:
        cached, _, _ = pipe.inputs(batch)
        live, _, _ = pipe.inputs({k: v for k, v in batch.items() if k != "taps"})
        assert torch.equal(live.taps[0], cached.taps[0]) and torch.equal(live.image, cached.image)
