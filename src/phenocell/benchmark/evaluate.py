"""From loader batches to head inputs on the device, and the evaluation of a head over a split."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from torch.utils.data import DataLoader

from phenocell.benchmark.augment import Augmenter
from phenocell.benchmark.device import Precision
from phenocell.benchmark.features import encode, scale_image, to_input
from phenocell.benchmark.frozen import FeatureSpec, FrozenEncoder
from phenocell.benchmark.heads import HeadInput
from phenocell.benchmark.metrics import (
    CellVotes,
    K,
    PixelCounts,
    dice_scores,
    fragment_samples,
    full_confusion,
    macro_f1,
    present_macro_f1,
    sample_confusion,
    to_host,
)
from phenocell.loaders.tiles import SplitIndex


@dataclass
class Pipeline:
    """Batch → (head input, semantic, instance) on ``device``: scaling, augmentation, resize, encoder, cache.

    ``image_scale`` is :func:`~phenocell.benchmark.features.scale_image`'s mode (the authors': ``tile_max``).
    """

    encoder: FrozenEncoder
    spec: FeatureSpec
    device: torch.device
    precision: Precision
    augmenter: Augmenter | None = None
    image_scale: str = "tile_max"

    def inputs(
        self, batch: dict[str, Any], *, augment: bool = False
    ) -> tuple[HeadInput, torch.Tensor, torch.Tensor]:
        """Head input (normalised image at encoder size + grids), semantic and instance maps at tile size."""
        image = scale_image(batch["image"].to(self.device, non_blocking=True), self.image_scale)
        semantic = batch["semantic"].to(self.device, non_blocking=True)
        instance = batch["instance"].to(self.device, non_blocking=True)
        augmenter = self.augmenter if augment else None
        augmented = augmenter is not None and augmenter.mode != "none"
        if augmenter is not None and augmented:
            image, semantic, instance = augmenter(image, semantic, instance)
        x = to_input(image, self.encoder.cfg.input_size)
        if "taps" in batch and not augmented:
            grids = [g.to(self.device, non_blocking=True).float() for g in batch["taps"]]
        else:
            grids = encode(self.encoder, x, self.spec, self.precision)
        normed = (x - self.encoder.mean) / self.encoder.std
        return HeadInput(normed, grids), semantic, instance


def tile_logits(
    head: nn.Module, inputs: HeadInput, size: tuple[int, ...], precision: Precision
) -> torch.Tensor:
    """Head logits resized (bilinear) to the tile, in fp32."""
    with precision.autocast():
        logits = head(inputs)
    return F.interpolate(logits.float(), size=size, mode="bilinear", align_corners=False)


@dataclass
class SplitScores:
    """The metrics of one split, accumulated batch by batch from the model's device tensors.

    Fragment samples are computed on the device of the probabilities (:func:`fragment_samples`); pixel
    counts and cell votes read host copies made in one place (:func:`to_host`).
    """

    index: SplitIndex
    fragments: np.ndarray = field(default_factory=lambda: np.zeros((K, K), dtype=np.int64))
    dice: np.ndarray = field(default_factory=lambda: np.zeros((K, K), dtype=np.int64))
    pixels: PixelCounts = field(default_factory=PixelCounts)
    votes: CellVotes = field(default_factory=CellVotes)
    classes: int = K

    def add_batch(
        self, batch: dict[str, Any], probs: torch.Tensor, semantic: torch.Tensor, instance: torch.Tensor
    ) -> None:
        """Count one batch: ``probs`` (B, C, H, W) softmax, ``semantic`` / ``instance`` (B, H, W) maps."""
        self.classes = min(int(probs.shape[1]), K)
        pred, sem_np, inst_np = (to_host(t) for t in (probs.argmax(dim=1), semantic, instance))
        for j, i in enumerate(batch["index"].tolist()):
            ref = self.index.tiles[i]
            self.fragments += sample_confusion(fragment_samples(instance[j], semantic[j], probs[j]))
            rows, cols = ref.crop()  # padding of a padded tile is not part of the FoV
            self.dice += full_confusion(sem_np[j][rows, cols], pred[j][rows, cols])
            self.pixels.add_tile(
                ref.fov, ref.x + cols.start, ref.y + rows.start, sem_np[j][rows, cols], pred[j][rows, cols]
            )
            cells = (batch["cell_ids"][j], batch["cell_labels"][j], batch["cell_instance"][j])
            self.votes.add_tile(inst_np[j], pred[j], *cells)

    def result(self) -> dict[str, Any]:
        """The scores and confusions, restricted to the dataset's classes (the head's outputs)."""
        n = self.classes  # ids 0..n-1 < K: drop the rows / columns beyond them
        fragments, pixel_cm, unique = (
            self.fragments[:n, :n],
            self.pixels.cm[:n, :n],
            self.votes.confusion()[:n, :n],
        )
        cell, per_class = present_macro_f1(fragments)
        dice = self.dice[:n, :n]
        return {
            "dice_macro": dice_scores(dice)[0],
            "dice_confusion": dice,
            "cell_macro_f1": cell,
            "cell_macro_f1_unique": macro_f1(unique),
            "pixel_macro_f1": macro_f1(pixel_cm),
            "cell_classes_scored": sorted(per_class),
            "cell_confusion": fragments,
            "cell_unique_confusion": unique,
            "pixel_confusion": pixel_cm,
        }


@torch.no_grad()
def evaluate(
    head: nn.Module, loader: DataLoader[dict[str, Any]], pipe: Pipeline, index: SplitIndex
) -> dict[str, Any]:
    """Scores of a head over a split: cell, unique-cell and pixel macro F1, Dice, and their confusions.

    :mod:`phenocell.benchmark.metrics` defines each score.
    """
    was_training = head.training
    head.eval()
    scores = SplitScores(index)
    for batch in loader:
        inputs, semantic, instance = pipe.inputs(batch)
        probs = tile_logits(head, inputs, tuple(semantic.shape[-2:]), pipe.precision).softmax(dim=1)
        scores.add_batch(batch, probs, semantic, instance)
    head.train(was_training)
    return scores.result()
