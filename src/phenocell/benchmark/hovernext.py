"""``baseline/hovernext``: the supervised baseline of PhenoBench, trained end to end (nothing frozen).

As the authors ran it (HoVer-NeXt style): timm ConvNeXt-V2 (``convnextv2_large.fcmae_ft_in22k_in1k``,
ImageNet-22k pre-trained, fine-tuned on 1k) returning features at 4 scales (strides 4, 8, 16, 32; dropout
0.5, drop-path 0.25), a U-Net decoder with channels 256 / 128 / 64 / 32 (no batch norm, nearest x2
upsampling, the encoder's stride-16 / 8 / 4 features concatenated as skips), one more 32 → 16 block back to
full resolution, and a 1x1 head over every class including background; focal loss (alpha 1, gamma 2,
background included). Their schedule (``configs/hovernext_config_real.yaml``): 20000 steps, batch 64,
AdamW lr 3e-5, weight decay 0.03, warm-up 100, cosine T_max 20000 to 1e-6, early stop after 1500 steps,
encoder trainable (:data:`phenocell.benchmark.reference.REFERENCE_CONFIGS`).

Facts not in the issue and guessed here: two 3x3 conv + ReLU per decoder block; ImageNet mean / std on
the [0, 1] image; input padded to a multiple of 32 and the logits cropped back. At test size the encoder is
a 1-block-per-stage ConvNeXt-V2 (dims 8 / 16 / 32 / 64), randomly initialised (seeded); the decoder is the
real one.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

from phenocell.benchmark.compat import import_timm
from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError, require_file
from phenocell.schema import IGNORE_INDEX
from phenocell.storage.writer import sha256_file

HUB_ID = "convnextv2_large.fcmae_ft_in22k_in1k"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STRIDE = 32


@dataclass(frozen=True)
class HoverNextConfig:
    """Architecture of the baseline; :meth:`small` is the CI size."""

    model: str = HUB_ID
    decoder_channels: tuple[int, int, int, int] = (256, 128, 64, 32)
    final_channels: int = 16
    drop_rate: float = 0.5
    drop_path_rate: float = 0.25
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    pretrained: bool = True
    seed: int = 0

    def small(self) -> HoverNextConfig:
        """The test-size encoder (random init); decoder unchanged."""
        tiny = {"depths": (1, 1, 1, 1), "dims": (8, 16, 32, 64)}
        return replace(self, model="convnextv2_atto", timm_kwargs=tiny, pretrained=False)


class DecoderBlock(nn.Module):
    """Nearest x2 upsampling, concatenation of the skip (if any), two 3x3 conv + ReLU; no batch norm."""

    def __init__(self, in_channels: int, skip_channels: int, out_channels: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(in_channels + skip_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
            nn.Conv2d(out_channels, out_channels, 3, padding=1),
            nn.ReLU(inplace=True),
        )

    def forward(self, x: torch.Tensor, skip: torch.Tensor | None = None) -> torch.Tensor:
        """(B, C, h, w) → (B, out, 2h, 2w)."""
        x = F.interpolate(x, scale_factor=2.0, mode="nearest")
        if skip is not None:
            x = torch.cat([x, skip], dim=1)
        out: torch.Tensor = self.convs(x)
        return out


def _from_file(timm: Any, cfg: HoverNextConfig, weights: Path, kwargs: dict[str, Any]) -> nn.Module:
    """The encoder with a local safetensors checkpoint (timm maps a full model's keys to the features)."""
    if weights.suffix != ".safetensors":
        raise InvalidInputError(
            "baseline/hovernext weights must be safetensors",
            expected="a .safetensors file (timm's model.safetensors of the encoder)",
            found=str(weights),
            fix="pass the Hub's model.safetensors; pickled checkpoints are never loaded",
        )
    require_file(weights, "weights file for baseline/hovernext", "pass an existing --weights PATH")
    overlay = {"file": str(weights)}
    try:
        model: nn.Module = timm.create_model(
            cfg.model, pretrained=True, pretrained_cfg_overlay=overlay, **kwargs
        )
    except (RuntimeError, OSError, ValueError, KeyError) as err:
        raise CorruptInputError(
            f"cannot load {weights} into {cfg.model}",
            expected=f"a {cfg.model} state dict",
            found=str(err).splitlines()[0][:300],
            fix="check the checkpoint is the encoder's",
        ) from err
    return model


def _encoder(cfg: HoverNextConfig, weights: Path | None) -> tuple[nn.Module, str]:
    timm = import_timm()
    kwargs = dict(
        cfg.timm_kwargs,
        features_only=True,
        out_indices=(0, 1, 2, 3),
        drop_rate=cfg.drop_rate,
        drop_path_rate=cfg.drop_path_rate,
    )
    if weights is not None:
        return _from_file(timm, cfg, Path(weights), kwargs), "sha256:" + sha256_file(Path(weights))
    if not cfg.pretrained:
        torch.manual_seed(cfg.seed)
        return timm.create_model(cfg.model, pretrained=False, **kwargs), f"random:seed={cfg.seed}"
    try:
        return timm.create_model(cfg.model, pretrained=True, **kwargs), f"timm:{cfg.model}"
    except Exception as err:  # network or Hub errors: all mean "no weights here"
        raise MissingInputError(
            f"could not get the ImageNet weights of {cfg.model} from the Hub",
            expected="a reachable Hugging Face Hub",
            found=f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}",
            fix="download timm/" + cfg.model + "'s model.safetensors elsewhere and pass --weights PATH",
        ) from err


class HoverNextUNet(nn.Module):
    """ConvNeXt-V2 encoder + U-Net decoder + 1x1 head: (B, 3, H, W) in [0, 1] → (B, classes, H, W)."""

    def __init__(self, cfg: HoverNextConfig, num_classes: int, *, weights: Path | None = None) -> None:
        super().__init__()
        self.cfg = cfg
        self.encoder, self.weights_id = _encoder(cfg, weights)
        info: Any = self.encoder.feature_info
        enc = list(info.channels())  # strides 4, 8, 16, 32
        dec = cfg.decoder_channels
        self.blocks = nn.ModuleList(
            [
                DecoderBlock(enc[3], enc[2], dec[0]),  # stride 32 → 16
                DecoderBlock(dec[0], enc[1], dec[1]),  # → 8
                DecoderBlock(dec[1], enc[0], dec[2]),  # → 4
                DecoderBlock(dec[2], 0, dec[3]),  # → 2
                DecoderBlock(dec[3], 0, cfg.final_channels),  # → full resolution
            ]
        )
        self.head = nn.Conv2d(cfg.final_channels, num_classes, 1)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, 3, H, W) in [0, 1] → logits (B, classes, H, W) (padded to /32 inside, cropped back)."""
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got {tuple(images.shape)}")
        height, width = images.shape[-2:]
        x = (images - self.mean) / self.std
        x = F.pad(x, (0, -width % STRIDE, 0, -height % STRIDE))
        f4, f8, f16, f32 = self.encoder(x)
        y = self.blocks[0](f32, f16)
        y = self.blocks[1](y, f8)
        y = self.blocks[2](y, f4)
        y = self.blocks[4](self.blocks[3](y))
        logits: torch.Tensor = self.head(y)
        return logits[..., :height, :width]


def focal_loss(
    logits: torch.Tensor, target: torch.Tensor, *, alpha: float = 1.0, gamma: float = 2.0
) -> torch.Tensor:
    """Mean focal loss over pixels (background included; ``IGNORE_INDEX`` pixels left out).

    ``alpha * (1 - p_t) ** gamma * -log(p_t)`` with ``p_t`` the softmax probability of the true class.
    """
    if logits.ndim != 4 or target.shape != (logits.shape[0], *logits.shape[2:]):
        raise ValueError(
            f"expected logits (B, C, H, W) and target (B, H, W), got {logits.shape}, {target.shape}"
        )
    keep = target != IGNORE_INDEX
    if not bool(keep.any()):
        return logits.sum() * 0.0
    log_p = F.log_softmax(logits.float(), dim=1)
    log_pt = log_p.gather(1, target.clamp(0, logits.shape[1] - 1).long().unsqueeze(1)).squeeze(1)[keep]
    return (alpha * (1 - log_pt.exp()) ** gamma * -log_pt).mean()
