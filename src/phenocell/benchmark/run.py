"""``phenocell benchmark run``: one encoder x head x split family, written to a run directory."""

from __future__ import annotations

import time
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.data import DataLoader

from phenocell import __version__
from phenocell.benchmark.config import TrainConfig, epoch_steps
from phenocell.benchmark.data_protocol import data_protocol
from phenocell.benchmark.device import keep_host_memory, pins_batches, resolve_device, resolve_precision
from phenocell.benchmark.evaluate import evaluate
from phenocell.benchmark.features import TokenCache
from phenocell.benchmark.heads import HEADS
from phenocell.benchmark.metric_names import METRICS
from phenocell.benchmark.models import SPLITS, Model, build_model
from phenocell.benchmark.presets import preset
from phenocell.benchmark.record import head_parameters, protocol_record
from phenocell.benchmark.reference import reference_for
from phenocell.benchmark.report import write_run
from phenocell.benchmark.train import sampler_for, train_head
from phenocell.cards.verify import verify_dataset
from phenocell.errors import InvalidInputError
from phenocell.loaders.tile_store import StoreReader, open_store
from phenocell.loaders.tiles import (
    SplitIndex,
    TileDataset,
    class_counts,
    dataset_profile,
    load_index,
    make_loader,
)
from phenocell.profiles import DatasetProfile
from phenocell.splits import nested_subset


def majority_baseline(train_counts: np.ndarray, test_counts: np.ndarray, num_classes: int) -> float:
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


def _loaders(
    indexes: dict[str, SplitIndex],
    model: Model,
    train_counts: np.ndarray,
    cfg: TrainConfig,
    pin: bool,
    store: StoreReader | None,
) -> dict[str, DataLoader[dict[str, Any]]]:
    """Training loader (weighted sampler, steps x batch draws) and in-order evaluation loaders.

    Each loads only the tile fields the model's pipeline reads for it (no instance maps to train; no images
    where a head that reads none gets its features from the token cache). Each loader's workers are
    persistent: started at its first batch, kept for every later evaluation.
    """
    reader = model.cache.reader() if model.cache is not None else None
    sets = {}
    for s, index in indexes.items():
        cached = s in model.cached
        fields = model.pipe.fields(cached=cached, evaluation=s != "train")
        sets[s] = TileDataset(index, reader if cached else None, store, fields=fields)
    kw = {"batch_size": cfg.schedule().batch_size, "workers": cfg.workers, "pin_memory": pin}
    loaders = {s: make_loader(sets[s], **kw) for s in ("validation", "test")}  # type: ignore[arg-type]
    loaders["train"] = make_loader(sets["train"], sampler=sampler_for(train_counts, cfg), **kw)  # type: ignore[arg-type]
    return loaders


def _header(
    profile: DatasetProfile, family: str, encoder: str, data: str | Path, model: Model
) -> dict[str, Any]:
    """What was run, on what: the first keys of ``results.json``."""
    return {
        "phenocell_version": __version__,
        "dataset": profile.name,
        "class_names": list(profile.class_names),
        "family": family,
        "encoder": encoder,
        "head": model.head,
        "data": str(data),
        "weights_id": model.weights_id,
        "encoder_config": model.record,
    }


def run_benchmark(
    data: str | Path,
    *,
    family: str,
    encoder: str,
    head: str | None = None,
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

    The classes are those of the dataset's profile (its ``manifest.json``), and every option ``config``
    leaves at ``None`` takes the value of the authors' config for that dataset (or for the supervised
    baseline): :mod:`phenocell.benchmark.reference`. ``small`` builds the encoder at test size with random
    weights (CI). ``log`` gets the run's lines (where results go, each validation, each final evaluation,
    the CPU cost estimate); ``progress`` shows bars over the tile store's first decoding, the token-cache
    fill, the training steps and each evaluation. ``head`` defaults to the protocol's (``config.protocol``);
    options counted in epochs are converted to steps once the train split is known
    (:meth:`TrainConfig.in_steps`).
    """
    asked = config or TrainConfig()
    asked.validate()
    head = head or preset(asked.protocol).head
    HEADS.get(head)  # an unknown head fails here, before any data is read
    if Path(data).is_dir():  # a local dataset is checked against its manifest before it is trusted
        verify_dataset(Path(data), action="trained")
    started = time.perf_counter()
    device = resolve_device(asked.device)
    keep_host_memory(device)
    precision = resolve_precision(asked.precision, device)
    indexes = _indexes(data, family, asked)
    profile = dataset_profile(indexes["train"].root)
    reference = reference_for(profile.name, encoder)
    resolved = asked.resolved(reference)
    cfg = resolved.in_steps(epoch_steps(len(indexes["train"]), int(resolved.batch_size or 1)))
    num_classes = len(profile.class_names)
    store = _store(cfg, indexes, log, progress)
    counts = {s: class_counts(indexes[s], store) for s in ("train", "test")}
    kw: dict[str, Any] = {"weights": weights, "cache_dir": cache_dir, "trust_remote_code": trust_remote_code}
    kw |= {"small": small, "cfg": cfg, "device": device, "precision": precision, "head": head, "log": log}
    kw |= {"store": store, "progress": progress}
    model = build_model(encoder, indexes, num_classes, counts["train"], reference=reference, **kw)
    fill_seconds = time.perf_counter() - started
    loaders = _loaders(indexes, model, counts["train"], cfg, pins_batches(device), store)
    val = (loaders["validation"], indexes["validation"])
    log(f"training on {device} ({precision.name}); results go to {_result_paths(out)}")
    fit = (model.module, loaders["train"], val, model.pipe, model.loss_fn, cfg)
    history = train_head(*fit, log, progress, classes=num_classes)
    splits = ("validation", "test")
    metrics = {s: _final(model, loaders[s], indexes[s], s, log, num_classes, progress) for s in splits}
    results = {
        **_header(profile, family, encoder, data, model),
        "config": asdict(cfg),
        "protocol": protocol_record(
            asked,
            cfg,
            reference,
            model,
            data_protocol(indexes["train"], profile, cfg.image_scale, model.resize),
            (device, precision.name),
        ),
        "head_parameters": head_parameters(model.head, model.module, model.record, num_classes, cfg),
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
    model: Model,
    loader: DataLoader[dict[str, Any]],
    index: SplitIndex,
    split: str,
    log: Any,
    classes: int,
    progress: bool = False,
) -> dict[str, Any]:
    """Evaluate the selected checkpoint on one split (``progress``: a bar) and print its line."""
    m = evaluate(model.module, loader, model.pipe, index, classes, progress)
    log(f"{split:10s} " + "  ".join(f"{k} {m[k]:.4f}" for k in METRICS))
    return m


def _cache_record(cache: TokenCache | None) -> dict[str, Any] | None:
    if cache is None:
        return None
    return {"dir": str(cache.dir), "hits": cache.hits, "misses": cache.misses, "stale": cache.stale}
