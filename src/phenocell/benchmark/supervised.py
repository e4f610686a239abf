"""``baseline/hovernext`` in the benchmark: trained end to end through the heads' loader, trainer and metrics.

The model takes the tile itself (no frozen encoder, no token cache): :class:`ImagePipeline` gives the
trainer and :func:`~phenocell.benchmark.evaluate.evaluate` the augmented [0, 1] image as the model input,
the focal loss replaces the class-weighted cross-entropy, and everything else (AdamW, LinearLR + cosine,
gradient clipping, mixed precision, validation, early stop, metrics, report) is shared with the heads.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from phenocell.benchmark.augment import Augmenter
from phenocell.benchmark.device import Precision
from phenocell.benchmark.features import scale_image
from phenocell.benchmark.hovernext import HoverNextConfig, HoverNextUNet, focal_loss


@dataclass
class ImagePipeline:
    """Batch → (image scaled by ``image_scale``, semantic, instance) on ``device``, augmented when asked."""

    device: torch.device
    precision: Precision
    augmenter: Augmenter | None = None
    image_scale: str = "tile_max"

    def fields(self, *, cached: bool, evaluation: bool) -> tuple[str, ...]:
        """The tile fields a loader must bring: the image and semantic map; the instance map to evaluate."""
        return ("image", "semantic", *(("instance",) if evaluation else ()))

    def inputs(
        self, batch: dict[str, Any], *, augment: bool = False
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """The model input is the tile itself; masks are warped with it (no instance map: None)."""
        image = scale_image(batch["image"].to(self.device, non_blocking=True), self.image_scale)
        semantic = batch["semantic"].to(self.device, non_blocking=True)
        instance = batch["instance"].to(self.device, non_blocking=True) if "instance" in batch else None
        if augment and self.augmenter is not None:
            image, semantic, instance = self.augmenter(image, semantic, instance)
        return image, semantic, instance


class FocalLoss(nn.Module):
    """The baseline's loss (``hovernext_config_real.yaml``): focal, alpha 1, gamma 2, mean reduction.

    Over every class, background included.
    """

    def __init__(self, alpha: float = 1.0, gamma: float = 2.0) -> None:
        super().__init__()
        self.alpha, self.gamma = alpha, gamma

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean focal loss over non-ignored pixels."""
        return focal_loss(logits, target, alpha=self.alpha, gamma=self.gamma)


def build_hovernext(
    num_classes: int,
    *,
    weights: Path | None = None,
    small: bool = False,
    seed: int = 0,
    trainable: bool = True,
) -> HoverNextUNet:
    """The baseline over ``num_classes`` (incl. background): Hub, ``weights`` or tiny random (``small``).

    Its encoder trains (``unfreeze_backbone: true``) unless ``trainable`` is False (then only the decoder).
    """
    cfg = HoverNextConfig(seed=seed)
    model = HoverNextUNet(cfg.small() if small else cfg, num_classes, weights=weights)
    for param in model.encoder.parameters():
        param.requires_grad_(trainable)
    return model


def model_record(model: HoverNextUNet) -> dict[str, Any]:
    """The baseline's architecture for results.json."""
    record = asdict(model.cfg)
    record["timm_kwargs"] = {
        k: list(v) if isinstance(v, tuple) else v for k, v in model.cfg.timm_kwargs.items()
    }
    return record
