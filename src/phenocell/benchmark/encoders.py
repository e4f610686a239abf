"""Encoder registry: frozen pathology foundation models, baselines and a tiny test encoder.

Each entry carries its real loading code and config: the Hub id of its timm-format weights (downloaded by
``timm.create_model("hf-hub:ID", pretrained=True)``; most are gated: accept the licence on the Hub and log in
with ``hf auth login``), architecture, input size, patch size, normalisation, prefix (CLS + register)
tokens that are stripped, embedding dim, depth and licence. Any entry also loads a local safetensors
checkpoint (``weights=PATH``); pickled checkpoints are refused.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from phenocell.benchmark import encoders_more  # noqa: F401  (registers Phikon, Virchow, Hibou, Lunit, Kaiko)
from phenocell.benchmark.encoder_config import (
    ENCODERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    INCEPTION_MEAN,
    INCEPTION_STD,
    EncoderConfig,
    _swiglu,
    _vit,
)

__all__ = ["ENCODERS", "IMAGENET_MEAN", "IMAGENET_STD", "EncoderConfig", "PixelStats"]


@ENCODERS.register("pathology/uni")
def _uni() -> EncoderConfig:
    return _vit(
        "pathology/uni",
        "vit_large_patch16_224",
        "MahmoodLab/UNI",
        224,
        16,
        1024,
        24,
        1,
        "cc-by-nc-nd-4.0",
        init_values=1e-5,
    )


@ENCODERS.register("pathology/uni2-h")
def _uni2() -> EncoderConfig:
    return _vit(
        "pathology/uni2-h",
        "vit_giant_patch14_224",
        "MahmoodLab/UNI2-h",
        224,
        14,
        1536,
        24,
        9,
        "cc-by-nc-nd-4.0",
        depth=24,
        num_heads=24,
        embed_dim=1536,
        init_values=1e-5,
        mlp_ratio=2.66667 * 2,
        reg_tokens=8,
        no_embed_class=True,
        **_swiglu(),
    )


@ENCODERS.register("pathology/virchow2")
def _virchow2() -> EncoderConfig:
    return _vit(
        "pathology/virchow2",
        "vit_huge_patch14_224",
        "paige-ai/Virchow2",
        224,
        14,
        1280,
        32,
        5,
        "cc-by-nc-nd-4.0",
        init_values=1e-5,
        mlp_ratio=5.3375,
        reg_tokens=4,
        **_swiglu(),
    )


@ENCODERS.register("pathology/phikon-v2")
def _phikon2() -> EncoderConfig:
    # a DINOv2 ViT-L/16 in transformers format on the Hub (owkin/phikon-v2), loaded with transformers
    dinov2 = {
        "hidden_size": 1024,
        "num_hidden_layers": 24,
        "num_attention_heads": 16,
        "intermediate_size": 4096,
        "patch_size": 16,
        "image_size": 224,
        "layerscale_value": 1e-5,
    }
    return EncoderConfig(
        "pathology/phikon-v2",
        "Dinov2Model",
        "owkin/phikon-v2",
        224,
        16,
        1024,
        24,
        1,
        "other (owkin non-commercial)",
        timm_kwargs=dinov2,
        backend="transformers",
    )


@ENCODERS.register("pathology/titan")
def _titan() -> EncoderConfig:
    # the CONCH v1.5 trunk that MahmoodLab/TITAN's remote code returns (return_conch().trunk): a ViT-L/16,
    # 1024 wide, 24 blocks, 16 heads, LayerScale initialised at 1.0, CLS token, ImageNet mean/std; its state
    # dict has timm's vit_large_patch16_224 names (a local checkpoint: the vision tower's "trunk." tensors)
    return _vit(
        "pathology/titan",
        "vit_large_patch16_224",
        "MahmoodLab/TITAN",
        224,
        16,
        1024,
        24,
        1,
        "cc-by-nc-nd-4.0",
        init_values=1.0,
        backend="titan",
    )


@ENCODERS.register("pathology/musk")
def _musk() -> EncoderConfig:
    # BEiT-3 large vision tower at 384 px from the musk package (not on PyPI), Inception mean/std
    return EncoderConfig(
        "pathology/musk",
        "musk_large_patch16_384",
        "xiangjx/musk",
        384,
        16,
        1024,
        24,
        1,
        "cc-by-nc-nd-4.0",
        INCEPTION_MEAN,
        INCEPTION_STD,
        backend="musk",
    )


@ENCODERS.register("pathology/prov-gigapath")
def _gigapath() -> EncoderConfig:
    return _vit(
        "pathology/prov-gigapath",
        "vit_giant_patch14_dinov2",
        "prov-gigapath/prov-gigapath",
        224,
        16,
        1536,
        40,
        1,
        "apache-2.0",
        init_values=1e-5,
        mlp_ratio=5.33334,
    )


@ENCODERS.register("pathology/h-optimus-0")
def _hoptimus() -> EncoderConfig:
    return _vit(
        "pathology/h-optimus-0",
        "vit_giant_patch14_reg4_dinov2",
        "bioptimus/H-optimus-0",
        224,
        14,
        1536,
        40,
        5,
        "apache-2.0",
        init_values=1e-5,
        mean=(0.707223, 0.578729, 0.703617),
        std=(0.211883, 0.230117, 0.177517),
    )


@ENCODERS.register("baseline/random-vit-b16")
def _random_vit() -> EncoderConfig:
    return _vit("baseline/random-vit-b16", "vit_base_patch16_224", None, 224, 16, 768, 12, 1, "n/a", seed=0)


@ENCODERS.register("baseline/pixel-stats")
def _pixel_stats() -> EncoderConfig:
    return EncoderConfig(
        "baseline/pixel-stats", "pixel-stats", None, 256, 16, 12, 4, 0, "n/a", backend="stats"
    )


@ENCODERS.register("test/vit-tiny")
def _vit_tiny() -> EncoderConfig:
    return _vit(
        "test/vit-tiny",
        "vit_tiny_patch16_224",
        None,
        128,
        8,
        96,
        4,
        1,
        "n/a",
        seed=0,
        embed_dim=96,
        depth=4,
        num_heads=3,
    )


class PixelStats(nn.Module):
    """Per-patch colour statistics (RGB and optical-density mean / std): no learning at all."""

    def __init__(self, patch: int) -> None:
        super().__init__()
        self.patch = patch

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """The statistics grid (B, 12, h, w) (already a grid: no tokens, no norm)."""
        return self.forward_intermediates(x, [0])[0]

    def forward_intermediates(self, x: torch.Tensor, indices: list[int], **_: Any) -> list[torch.Tensor]:
        """The same 12-channel statistics grid for every requested tap."""
        od = -torch.log(x.clamp(min=1 / 255))
        feats = torch.cat([x, od], dim=1)
        mean = nn.functional.avg_pool2d(feats, self.patch)
        std = (nn.functional.avg_pool2d(feats**2, self.patch) - mean**2).clamp(min=0).sqrt()
        return [torch.cat([mean, std], dim=1)] * len(indices)
