"""``phenocell benchmark run``: one encoder x head x split family, written to a run directory."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from phenocell import __version__
from phenocell.benchmark.augment import Augmenter
from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.data import (
    SplitIndex,
    TileDataset,
    class_counts,
    dataset_profile,
    load_index,
    make_loader,
)
from phenocell.benchmark.device import Precision, resolve_device, resolve_precision
from phenocell.benchmark.evaluate import Pipeline, evaluate
from phenocell.benchmark.features import TokenCache
from phenocell.benchmark.frozen import FeatureSpec, FrozenEncoder, build_encoder, feature_spec
from phenocell.benchmark.heads import build_head
from phenocell.benchmark.metrics import K
from phenocell.benchmark.objective import ClassWeightedLoss
from phenocell.benchmark.report import write_run
from phenocell.benchmark.supervised import HOVERNEXT, FocalLoss, ImagePipeline, build_hovernext, model_record
from phenocell.benchmark.tile_store import StoreReader, open_store
from phenocell.benchmark.train import sampler_for, train_head
from phenocell.cards.verify import verify_dataset
from phenocell.errors import InvalidInputError
from phenocell.profiles import DatasetProfile
from phenocell.splits import nested_subset

SPLITS = ("train", "validation", "test")


def majority_baseline(train_counts: np.ndarray, test_counts: np.ndarray, num_classes: int = K) -> float:
    """Pixel macro F1 (the dataset's classes) of predicting the most frequent train class everywhere."""
    majority = int(train_counts[:, 1:num_classes].sum(axis=0).argmax()) + 1
    fg = test_counts[:, 1:num_classes].sum(axis=0)
    n_c, total = float(fg[majority - 1]), float(fg.sum())
    return 2 * n_c / (n_c + total) / (num_classes - 1) if total else 0.0


def _indexes(data: str | Path, family: str, cfg: TrainConfig) -> dict[str, SplitIndex]:
    indexes = {s: load_index(data, family, s) for s in SPLITS}
    if cfg.train_fraction < 1.0:
        ids = [t.tile_id for t in indexes["train"].tiles]
        indexes["train"] = indexes["train"].subset(set(nested_subset(ids, cfg.train_fraction, seed=cfg.seed)))
    for split, index in indexes.items():
        if not len(index):
            raise InvalidInputError(
                f"the {family} {split} split has no tiles",
                expected="at least one tile per split",
                found="0 tiles",
                fix="convert more FoVs or pick another family",
            )
    return indexes


def _store(cfg: TrainConfig, indexes: dict[str, SplitIndex], log: Any, progress: bool) -> StoreReader | None:
    """The tile store reader of every shard the run reads (built on first use), or None when off."""
    shards = {t.shard: t.size for index in indexes.values() for t in index.tiles}
    return open_store(cfg.tile_store, indexes["train"].root, shards, log=log, progress=progress)


def _cached_splits(cache_dir: Path | None, cfg: TrainConfig, log: Any) -> tuple[str, ...]:
    if cache_dir is None:
        return ()
    if cfg.augment != "none":
        log(
            f"token cache: --augment {cfg.augment} changes every training image, so training encodes live; "
            "the cache serves validation and test (pass --augment none to cache training tiles too)"
        )
        return ("validation", "test")
    return SPLITS


def _fill_cache(
    cache_dir: Path | None,
    cached: tuple[str, ...],
    enc: FrozenEncoder,
    spec: FeatureSpec,
    indexes: dict[str, SplitIndex],
    cfg: TrainConfig,
    precision: Precision,
    store: StoreReader | None,
) -> TokenCache | None:
    if cache_dir is None:
        return None
    train = indexes["train"]
    cache = TokenCache(cache_dir, enc, train.tile_size, spec, train.root, precision)
    for split in cached:
        cache.fill(enc, indexes[split], enc.mean.device, cfg.workers, store=store)
    return cache


def _loaders(
    indexes: dict[str, SplitIndex],
    cache: TokenCache | None,
    cached: tuple[str, ...],
    train_counts: np.ndarray,
    cfg: TrainConfig,
    pin: bool,
    store: StoreReader | None,
) -> dict[str, DataLoader[dict[str, Any]]]:
    """Training loader (weighted sampler, steps x batch draws) and in-order evaluation loaders.

    Each loader's workers are persistent: started at its first batch, kept for every later evaluation.
    """
    reader = cache.reader() if cache is not None else None
    sets = {s: TileDataset(i, reader if s in cached else None, store) for s, i in indexes.items()}
    kw = {"batch_size": cfg.batch_size, "workers": cfg.workers, "pin_memory": pin}
    loaders = {s: make_loader(sets[s], **kw) for s in ("validation", "test")}  # type: ignore[arg-type]
    loaders["train"] = make_loader(sets["train"], sampler=sampler_for(train_counts, cfg), **kw)  # type: ignore[arg-type]
    return loaders


@dataclass
class Model:
    """What a run trains (a head on a frozen encoder, or the end-to-end baseline) and how it is fed."""

    module: nn.Module
    pipe: Any
    loss_fn: nn.Module
    weights_id: str
    record: dict[str, Any]
    features: str
    cache: TokenCache | None = None
    cached: tuple[str, ...] = ()


def _frozen_model(
    indexes: dict[str, SplitIndex], num_classes: int, train_counts: np.ndarray, **kw: Any
) -> Model:
    cfg, device = kw["cfg"], kw["device"]
    enc = build_encoder(
        kw["encoder"], weights=kw["weights"], trust_remote_code=kw["trust_remote_code"], small=kw["small"]
    ).to(device)
    spec = feature_spec(enc.cfg, kw["head"], linear_input=cfg.linear_input, unetr_taps=cfg.unetr_taps)
    cached = _cached_splits(kw["cache_dir"], cfg, kw["log"])
    cache = _fill_cache(kw["cache_dir"], cached, enc, spec, indexes, cfg, kw["precision"], kw["store"])
    torch.manual_seed(cfg.seed)
    head = build_head(kw["head"], enc.cfg.embed_dim, num_classes, enc.cfg.patch_size, cfg.unetr_decoder)
    pipe = Pipeline(enc, spec, device, kw["precision"], Augmenter(cfg.augment))
    loss_fn = ClassWeightedLoss(cfg, num_classes, train_counts[:, :num_classes].sum(axis=0))
    record = _encoder_record(enc)
    return Model(head.to(device), pipe, loss_fn, enc.weights_id, record, spec.key(), cache, cached)


def _supervised_model(num_classes: int, **kw: Any) -> Model:
    cfg, device = kw["cfg"], kw["device"]
    if kw["cache_dir"] is not None:
        kw["log"](f"{HOVERNEXT} trains its encoder: the token cache is not used")
    torch.manual_seed(cfg.seed)
    model = build_hovernext(num_classes, weights=kw["weights"], small=kw["small"], seed=cfg.seed)
    pipe = ImagePipeline(device, kw["precision"], Augmenter(cfg.augment))
    return Model(model.to(device), pipe, FocalLoss(), model.weights_id, model_record(model), "end-to-end")


def _model(
    encoder: str, indexes: dict[str, SplitIndex], num_classes: int, train_counts: np.ndarray, **kw: Any
) -> Model:
    if encoder == HOVERNEXT:
        return _supervised_model(num_classes, **kw)
    return _frozen_model(indexes, num_classes, train_counts, encoder=encoder, **kw)


def _header(
    profile: DatasetProfile, family: str, encoder: str, head: str, data: str | Path, model: Model
) -> dict[str, Any]:
    """What was run, on what: the first keys of ``results.json``."""
    return {
        "phenocell_version": __version__,
        "dataset": profile.name,
        "class_names": list(profile.class_names),
        "family": family,
        "encoder": encoder,
        "head": "end-to-end" if encoder == HOVERNEXT else head,
        "data": str(data),
        "weights_id": model.weights_id,
        "encoder_config": model.record,
    }


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
    trust_remote_code: bool = False,
    small: bool = False,
    log: Any = print,
    progress: bool = False,
) -> dict[str, Any]:
    """Train and evaluate one head (or ``baseline/hovernext`` end to end); writes the run directory.

    The classes are those of the dataset's profile (its ``manifest.json``); ``small`` builds the encoder at
    test size with random weights (CI). ``log`` gets the run's lines (where results go, each validation,
    each final evaluation, the CPU cost estimate); ``progress`` shows a bar over the training steps (and
    over the tile store's first decoding).
    """
    cfg = config or TrainConfig()
    cfg.validate()
    if Path(data).is_dir():  # a local dataset is checked against its manifest before it is trusted
        verify_dataset(Path(data), action="trained")
    started = time.perf_counter()
    device = resolve_device(cfg.device)
    precision = resolve_precision(cfg.precision, device)
    indexes = _indexes(data, family, cfg)
    profile = dataset_profile(indexes["train"].root)
    num_classes = len(profile.class_names)
    store = _store(cfg, indexes, log, progress)
    counts = {s: class_counts(indexes[s], store) for s in ("train", "test")}
    kw: dict[str, Any] = {"weights": weights, "cache_dir": cache_dir, "trust_remote_code": trust_remote_code}
    kw |= {"small": small, "cfg": cfg, "device": device, "precision": precision, "head": head, "log": log}
    kw |= {"store": store}
    model = _model(encoder, indexes, num_classes, counts["train"], **kw)
    fill_seconds = time.perf_counter() - started
    loaders = _loaders(indexes, model.cache, model.cached, counts["train"], cfg, device.type == "cuda", store)
    val = (loaders["validation"], indexes["validation"])
    log(f"training on {device} ({precision.name}); results go to {_result_paths(out)}")
    history = train_head(model.module, loaders["train"], val, model.pipe, model.loss_fn, cfg, log, progress)
    metrics = {s: _final(model, loaders[s], indexes[s], s, log) for s in ("validation", "test")}
    results = {
        **_header(profile, family, encoder, head, data, model),
        "config": asdict(cfg),
        "protocol": _protocol(cfg, model.features, device, precision.name, model.cached),
        "seed": cfg.seed,
        "tiles": {s: len(i) for s, i in indexes.items()},
        "metrics": metrics,
        "majority_class_pixel_macro_f1": majority_baseline(counts["train"], counts["test"], num_classes),
        "training": history,
        "cache": _cache_record(model.cache),
        "tile_store": str(store.dir) if store is not None else None,
        "timings": {
            "total_seconds": time.perf_counter() - started,
            "setup_and_cache_seconds": fill_seconds,
            "train_seconds": history["train_seconds"],
        },
    }
    write_run(Path(out), results)
    log(f"wrote {_result_paths(out)}")
    return results


def _result_paths(out: Path) -> str:
    return f"{Path(out) / 'results.json'} and {Path(out) / 'report.md'}"


def _final(
    model: Model, loader: DataLoader[dict[str, Any]], index: SplitIndex, split: str, log: Any
) -> dict[str, Any]:
    """Evaluate the selected checkpoint on one split and print its line."""
    m = evaluate(model.module, loader, model.pipe, index)
    log(
        f"{split:10s} cell_macro_f1 {m['cell_macro_f1']:.4f}  cell_macro_f1_unique "
        f"{m['cell_macro_f1_unique']:.4f}  pixel_macro_f1 {m['pixel_macro_f1']:.4f}  "
        f"dice_macro {m['dice_macro']:.4f}"
    )
    return m


def _cache_record(cache: TokenCache | None) -> dict[str, Any] | None:
    if cache is None:
        return None
    return {"dir": str(cache.dir), "hits": cache.hits, "misses": cache.misses, "stale": cache.stale}


def _protocol(
    cfg: TrainConfig, features: str, device: torch.device, precision: str, cached: Any
) -> dict[str, Any]:
    """The full protocol of this run: every option, what departs from the authors', and what was derived."""
    return {
        "reference": "Kainmueller-Lab/Pathology-Foundation-Model-Benchmark (config_unetr_schuerch.yaml)",
        "options": asdict(cfg),
        "departures": cfg.departures(),
        "features": features,
        "device": str(device),
        "precision": precision,
        "token_cache_splits": list(cached),
        "early_stop_steps": cfg.early_stop,
    }


def _encoder_record(enc: FrozenEncoder) -> dict[str, Any]:
    record = asdict(enc.cfg)
    record["timm_kwargs"] = {
        k: (v if isinstance(v, (int, float, str, bool)) else getattr(v, "__name__", str(v)))
        for k, v in record["timm_kwargs"].items()
    }
    return record
