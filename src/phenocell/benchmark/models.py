"""What a benchmark run trains: a head on a registry encoder (frozen or trainable), or the baseline.

The supervised baseline (``baseline/hovernext``) is one more encoder whose reference config trains it
(``hovernext_config_real.yaml``: ``unfreeze_backbone: true``); a registry encoder trains the same way with
``--encoder-training trainable`` (the authors' released UNETR code, which never freezes its encoder). Either
way the optimiser gets every parameter that requires gradients, at the head's learning rate, and a trainable
encoder never reads the token cache (its features change every step).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from phenocell.benchmark.augment import Augmenter
from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.device import Precision
from phenocell.benchmark.evaluate import Pipeline
from phenocell.benchmark.features import TokenCache, resize_record
from phenocell.benchmark.frozen import FeatureSpec, FrozenEncoder, build_encoder, feature_spec
from phenocell.benchmark.heads import HEADS, HeadInput, build_head
from phenocell.benchmark.objective import ClassWeightedLoss
from phenocell.benchmark.reference import SUPERVISED
from phenocell.benchmark.supervised import FocalLoss, ImagePipeline, build_hovernext, model_record
from phenocell.loaders.tile_store import StoreReader
from phenocell.loaders.tiles import SplitIndex

SPLITS = ("train", "validation", "test")


@dataclass
class Model:
    """The trained module, how batches reach it, its loss, and what results.json records of it."""

    module: nn.Module
    pipe: Any
    loss_fn: nn.Module
    weights_id: str
    record: dict[str, Any]
    features: str
    head: str
    cache: TokenCache | None = None
    cached: tuple[str, ...] = ()
    resize: dict[str, Any] | None = None


class EncoderAndHead(nn.Module):
    """A head with the trainable encoder that feeds it (through the pipeline): the optimiser sees both."""

    def __init__(self, encoder: FrozenEncoder, head: nn.Module) -> None:
        super().__init__()
        self.encoder, self.head = encoder, head

    def forward(self, inputs: HeadInput) -> torch.Tensor:
        """Logits of the head; the encoder already ran in the pipeline, with gradients."""
        out: torch.Tensor = self.head(inputs)
        return out


def cached_splits(cache_dir: Path | None, cfg: TrainConfig, log: Any) -> tuple[str, ...]:
    """The splits the token cache serves: none for a trainable encoder, evaluation only when augmenting."""
    if cache_dir is None:
        return ()
    if cfg.encoder_training == "trainable":
        log("token cache: the encoder trains (--encoder-training trainable), so every split encodes live")
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
    progress: bool = False,
) -> TokenCache | None:
    if cache_dir is None or not cached:
        return None
    train = indexes["train"]
    cache = TokenCache(cache_dir, enc, train.tile_size, spec, train.root, precision, cfg.image_scale)
    for split in cached:
        cache.fill(enc, indexes[split], enc.mean.device, cfg.workers, store=store, progress=progress)
    return cache


def _loss(cfg: TrainConfig, num_classes: int, train_counts: np.ndarray, kind: str) -> nn.Module:
    if kind == "focal":
        return FocalLoss()
    return ClassWeightedLoss(cfg, num_classes, train_counts[:, :num_classes].sum(axis=0))


def _head_model(
    indexes: dict[str, SplitIndex], num_classes: int, train_counts: np.ndarray, **kw: Any
) -> Model:
    cfg, device = kw["cfg"], kw["device"]
    trainable = cfg.encoder_training == "trainable"
    enc = build_encoder(
        kw["encoder"],
        weights=kw["weights"],
        trust_remote_code=kw["trust_remote_code"],
        small=kw["small"],
        trainable=trainable,
    ).to(device)
    spec = feature_spec(enc.cfg, kw["head"], linear_input=cfg.linear_input, unetr_taps=cfg.unetr_taps)
    cached = cached_splits(kw["cache_dir"], cfg, kw["log"])
    where = (kw["precision"], kw["store"], kw.get("progress", False))
    cache = _fill_cache(kw["cache_dir"], cached, enc, spec, indexes, cfg, *where)
    torch.manual_seed(cfg.seed)
    head = build_head(kw["head"], enc.cfg.embed_dim, num_classes, enc.cfg.patch_size)
    module: nn.Module = EncoderAndHead(enc, head) if trainable else head
    reads_image = HEADS.get(kw["head"]).reads_image
    pipe = Pipeline(enc, spec, device, kw["precision"], Augmenter(cfg.augment), cfg.image_scale, reads_image)
    loss_fn = _loss(cfg, num_classes, train_counts, kw["reference"].loss)
    record = _encoder_record(enc)
    resize = resize_record(indexes["train"].tile_size, enc.cfg.input_size)
    model = Model(module.to(device), pipe, loss_fn, enc.weights_id, record, spec.key(), kw["head"])
    model.cache, model.cached, model.resize = cache, cached, resize
    return model


def _supervised_model(num_classes: int, train_counts: np.ndarray, **kw: Any) -> Model:
    cfg, device = kw["cfg"], kw["device"]
    if kw["cache_dir"] is not None:
        kw["log"](f"{SUPERVISED} reads the tiles themselves: the token cache is not used")
    torch.manual_seed(cfg.seed)
    trainable = cfg.encoder_training == "trainable"
    model = build_hovernext(
        num_classes, weights=kw["weights"], small=kw["small"], seed=cfg.seed, trainable=trainable
    )
    pipe = ImagePipeline(device, kw["precision"], Augmenter(cfg.augment), cfg.image_scale)
    loss_fn = _loss(cfg, num_classes, train_counts, kw["reference"].loss)
    record = model_record(model)
    return Model(model.to(device), pipe, loss_fn, model.weights_id, record, "end-to-end", "end-to-end")


def build_model(
    encoder: str, indexes: dict[str, SplitIndex], num_classes: int, train_counts: np.ndarray, **kw: Any
) -> Model:
    """The run's model: the supervised baseline, or ``kw["head"]`` on registry encoder ``encoder``.

    ``kw`` holds ``cfg`` (resolved), ``reference``, ``device``, ``precision``, ``head``, ``weights``,
    ``cache_dir``, ``trust_remote_code``, ``small``, ``store`` (the tile store reader or None), ``log`` and
    ``progress`` (a bar over the token-cache fill).
    """
    if encoder == SUPERVISED:
        return _supervised_model(num_classes, train_counts, **kw)
    return _head_model(indexes, num_classes, train_counts, encoder=encoder, **kw)


def _encoder_record(enc: FrozenEncoder) -> dict[str, Any]:
    record = asdict(enc.cfg)
    record["timm_kwargs"] = {
        k: (v if isinstance(v, (int, float, str, bool)) else getattr(v, "__name__", str(v)))
        for k, v in record["timm_kwargs"].items()
    }
    return record
