"""Cached and live features are computed alike: the token cache encodes under the run's precision."""

from __future__ import annotations

from pathlib import Path

import torch

from phenocell.benchmark.data import TileDataset, load_index, make_loader
from phenocell.benchmark.device import resolve_precision
from phenocell.benchmark.features import ENCODE_BATCH, TokenCache, encode, to_input
from phenocell.benchmark.frozen import FeatureSpec, build_encoder

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
