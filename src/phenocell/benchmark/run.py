"""``phenocell benchmark run``: one encoder x head x split family, written to a run directory."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
import torch

from phenocell import __version__
from phenocell.benchmark.data import SplitTiles, load_split
from phenocell.benchmark.features import FeatureSource, TokenCache
from phenocell.benchmark.frozen import FrozenEncoder, build_encoder
from phenocell.benchmark.heads import build_head
from phenocell.benchmark.metrics import K, confusion, macro_f1
from phenocell.benchmark.report import write_run
from phenocell.benchmark.train import TrainConfig, evaluate, train_head
from phenocell.cards.verify import verify_dataset
from phenocell.errors import InvalidOptionError
from phenocell.splits import nested_subset


def majority_baseline(train: SplitTiles, test: SplitTiles) -> float:
    """Pixel macro F1 of predicting the most frequent train class (1..14) everywhere."""
    counts = torch.bincount(train.semantic.flatten().long(), minlength=256)[1:K]
    majority = int(counts.argmax()) + 1
    gt = test.semantic.numpy()
    return macro_f1(confusion(gt, np.full_like(gt, majority)))


def _source(
    encoder: FrozenEncoder, tiles: SplitTiles, taps: list[int], cache: TokenCache | None
) -> FeatureSource:
    grids = cache.grids(encoder, tiles, taps) if cache is not None else None
    return FeatureSource(encoder, tiles, taps, grids)


def run_benchmark(
    data: str | Path,
    *,
    family: str,
    encoder: str,
    head: str,
    out: Path,
    config: TrainConfig | None = None,
    weights: Path | None = None,
    cache_dir: Path | None = None,
    log: Any = print,
) -> dict[str, Any]:
    """Train and evaluate one head; writes ``results.json``, ``report.md`` and figures into ``out``."""
    cfg = config or TrainConfig()
    cfg.validate()
    if Path(data).is_dir():  # a local dataset is checked against its manifest before it is trusted
        verify_dataset(Path(data), action="trained")
    started = time.perf_counter()
    tiles = {s: load_split(data, family, s) for s in ("train", "validation", "test")}
    if cfg.train_fraction < 1.0:
        keep = set(nested_subset(tiles["train"].tile_ids, cfg.train_fraction, seed=cfg.seed))
        tiles["train"] = tiles["train"].subset(
            [i for i, t in enumerate(tiles["train"].tile_ids) if t in keep]
        )
    enc = build_encoder(encoder, weights=weights)
    taps = enc.cfg.taps() if head == "unetr" else enc.cfg.taps()[-1:]
    cache = None
    if cache_dir is not None:
        if not Path(data).is_dir():
            raise InvalidOptionError(
                "token cache needs a local dataset directory",
                expected="--data DIR",
                found=str(data),
                fix="download the dataset (hf download) or drop --cache-dir",
            )
        cache = TokenCache(cache_dir, enc, int(tiles["train"].semantic.shape[-1]), taps, Path(data))
    t0 = time.perf_counter()
    sources = {s: _source(enc, t, taps, cache) for s, t in tiles.items()}
    encode_seconds = time.perf_counter() - t0
    torch.manual_seed(cfg.seed)
    model = build_head(head, enc.cfg.embed_dim, K, enc.cfg.patch_size)
    history = train_head(model, sources["train"], sources["validation"], cfg, log=log)
    metrics = {s: evaluate(model, sources[s]) for s in ("validation", "test")}
    results = {
        "phenocell_version": __version__,
        "family": family,
        "encoder": encoder,
        "head": head,
        "data": str(data),
        "weights_id": enc.weights_id,
        "encoder_config": _encoder_record(enc),
        "config": asdict(cfg),
        "seed": cfg.seed,
        "tiles": {s: len(t) for s, t in tiles.items()},
        "metrics": metrics,
        "majority_class_pixel_macro_f1": majority_baseline(tiles["train"], tiles["test"]),
        "training": history,
        "cache": None
        if cache is None
        else {"dir": str(cache.dir), "hits": cache.hits, "misses": cache.misses, "stale": cache.stale},
        "timings": {
            "total_seconds": time.perf_counter() - started,
            "feature_seconds": encode_seconds,
            "train_seconds": history["train_seconds"],
        },
    }
    write_run(Path(out), results)
    return results


def _encoder_record(enc: FrozenEncoder) -> dict[str, Any]:
    record = asdict(enc.cfg)
    record["timm_kwargs"] = {
        k: (v if isinstance(v, (int, float, str, bool)) else getattr(v, "__name__", str(v)))
        for k, v in record["timm_kwargs"].items()
    }
    return record
