"""``--encoder-training``: trainable weights move after one step and skip the token cache; frozen stay."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.device import resolve_precision
from phenocell.benchmark.models import SPLITS, build_model
from phenocell.benchmark.reference import reference_for
from phenocell.benchmark.train import sampler_for, train_head
from phenocell.loaders.tiles import TileDataset, class_counts, load_index, make_loader


def _one_step(data: Path, cache: Path, training: str, logs: list[str]) -> tuple[dict, dict, object]:
    """Build test/vit-tiny + linear head, train one step; the encoder's state before and after."""
    cfg = TrainConfig(
        steps=1,
        batch_size=2,
        lr=1e-2,
        warmup=0,
        val_every=1,
        workers=0,
        augment="none",
        encoder_training=training,
    ).resolved(reference_for("phenocell"))
    indexes = {s: load_index(data, "base", s) for s in SPLITS}
    counts = class_counts(indexes["train"])
    device = torch.device("cpu")
    kw = {"cfg": cfg, "reference": reference_for("phenocell"), "device": device, "head": "linear"}
    kw |= {"precision": resolve_precision("fp32", device), "weights": None, "cache_dir": cache}
    kw |= {"trust_remote_code": False, "small": False, "log": logs.append, "store": None}
    model = build_model("test/vit-tiny", indexes, 15, counts, **kw)
    encoder = model.pipe.encoder
    before = {k: v.clone() for k, v in encoder.state_dict().items()}
    train = make_loader(
        TileDataset(indexes["train"]),
        batch_size=2,
        workers=0,
        pin_memory=False,
        sampler=sampler_for(counts, cfg),
    )
    val = make_loader(TileDataset(indexes["validation"]), batch_size=4, workers=0, pin_memory=False)
    val_split = (val, indexes["validation"])
    train_head(model.module, train, val_split, model.pipe, model.loss_fn, cfg, logs.append, classes=15)
    return before, encoder.state_dict(), model


def _changed(before: dict, after: dict) -> list[str]:
    return [k for k in before if not torch.equal(before[k], after[k])]


def test_trainable_encoder_changes_after_one_step_without_token_cache(
    dataset_dir: Path, tmp_path: Path
) -> None:
    logs: list[str] = []
    before, after, model = _one_step(dataset_dir, tmp_path / "cache", "trainable", logs)
    assert len(_changed(before, after)) > 0.5 * len(before)
    assert model.cache is None and model.cached == ()  # type: ignore[attr-defined]
    assert not any((tmp_path / "cache").rglob("*.safetensors"))
    assert any("every split encodes live" in line for line in logs)


def test_frozen_encoder_does_not_change(dataset_dir: Path, tmp_path: Path) -> None:
    before, after, model = _one_step(dataset_dir, tmp_path / "cache", "frozen", [])
    assert _changed(before, after) == []
    assert model.cached == ("train", "validation", "test")  # type: ignore[attr-defined]


@pytest.mark.parametrize("training", ["frozen", "trainable"])
def test_supervised_baseline_freezes_its_encoder_only_when_asked(training: str) -> None:
    from phenocell.benchmark.supervised import build_hovernext

    model = build_hovernext(3, small=True, trainable=training == "trainable")
    assert all(p.requires_grad == (training == "trainable") for p in model.encoder.parameters())
    assert all(p.requires_grad for p in model.head.parameters())


@pytest.mark.parametrize(
    ("head", "augment", "train_fields"),
    [
        ("linear", "none", ("semantic",)),
        ("linear", "flips", ("image", "semantic")),
        ("unetr", "none", ("image", "semantic")),
    ],
)
def test_loaders_bring_only_the_fields_the_pipeline_reads(
    dataset_dir: Path, tmp_path: Path, head: str, augment: str, train_fields: tuple[str, ...]
) -> None:
    from phenocell.benchmark.run import _loaders

    cfg = TrainConfig(steps=1, batch_size=3, warmup=0, workers=0, augment=augment).resolved(
        reference_for("phenocell")
    )
    indexes = {s: load_index(dataset_dir, "base", s) for s in SPLITS}
    counts = class_counts(indexes["train"])
    device = torch.device("cpu")
    kw = {"cfg": cfg, "reference": reference_for("phenocell"), "device": device, "head": head}
    kw |= {"precision": resolve_precision("fp32", device), "weights": None, "cache_dir": tmp_path}
    kw |= {"trust_remote_code": False, "small": False, "log": lambda _: None, "store": None}
    model = build_model("test/vit-tiny", indexes, 15, counts, **kw)
    loaders = _loaders(indexes, model, counts, cfg, False, None)
    assert loaders["train"].dataset.fields == train_fields
    image = ("image",) if head == "unetr" else ()
    assert (
        loaders["validation"].dataset.fields
        == loaders["test"].dataset.fields
        == (*image, "semantic", "instance")
    )
    inputs, semantic, instance = model.pipe.inputs(next(iter(loaders["train"])), augment=True)
    side = indexes["train"].tile_size
    assert instance is None and semantic.shape == (3, side, side)
    assert (inputs.image is None) == ("image" not in train_fields)
    assert model.module(inputs).shape == (3, 15, 128, 128)
