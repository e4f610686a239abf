"""Encoder registry: frozen pathology foundation models, baselines and a tiny test encoder.

Each entry carries its real loading code and config, in two parts: its weights in :data:`PRETRAINED` (the
Hub id of its timm-format weights, downloaded by ``timm.create_model("hf-hub:ID", pretrained=True)``; most
are gated: accept the licence on the Hub and log in with ``hf auth login``; licence, input size,
normalisation) and its architecture in its factory (network, patch size, embedding dim, depth, prefix (CLS +
register) tokens that are stripped). Any entry also loads a local safetensors checkpoint (``weights=PATH``);
pickled checkpoints are refused.
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
    NON_COMMERCIAL_NO_DERIVATIVES,
    Architecture,
    EncoderConfig,
    Weights,
    swiglu,
    transformers_vit,
    vit,
)

__all__ = ["ENCODERS", "IMAGENET_MEAN", "IMAGENET_STD", "EncoderConfig", "PixelStats"]

#: The weights and input preparation of each entry of this module (timm's ``default_cfgs``).
PRETRAINED: dict[str, Weights] = {
    "pathology/uni": Weights(hub_id="MahmoodLab/UNI", license=NON_COMMERCIAL_NO_DERIVATIVES),
    "pathology/uni2-h": Weights(hub_id="MahmoodLab/UNI2-h", license=NON_COMMERCIAL_NO_DERIVATIVES),
    "pathology/virchow2": Weights(hub_id="paige-ai/Virchow2", license=NON_COMMERCIAL_NO_DERIVATIVES),
    "pathology/phikon-v2": Weights(hub_id="owkin/phikon-v2", license="other (owkin non-commercial)"),
    "pathology/titan": Weights(hub_id="MahmoodLab/TITAN", license=NON_COMMERCIAL_NO_DERIVATIVES),
    "pathology/musk": Weights(
        hub_id="xiangjx/musk",
        license=NON_COMMERCIAL_NO_DERIVATIVES,
        input_size=384,
        mean=INCEPTION_MEAN,
        std=INCEPTION_STD,
    ),
    "pathology/prov-gigapath": Weights(hub_id="prov-gigapath/prov-gigapath", license="apache-2.0"),
    "pathology/h-optimus-0": Weights(
        hub_id="bioptimus/H-optimus-0",
        license="apache-2.0",
        mean=(0.707223, 0.578729, 0.703617),
        std=(0.211883, 0.230117, 0.177517),
    ),
    "baseline/random-vit-b16": Weights(hub_id=None, license="n/a", seed=0),
    "baseline/pixel-stats": Weights(hub_id=None, license="n/a", input_size=256),
    "test/vit-tiny": Weights(hub_id=None, license="n/a", input_size=128, seed=0),
}


def _entry(key: str, architecture: Architecture) -> EncoderConfig:
    return EncoderConfig.join(key, architecture, PRETRAINED[key])


@ENCODERS.register("pathology/uni")
def _uni() -> EncoderConfig:
    large = {"init_values": 1e-5}
    return _entry(
        "pathology/uni",
        vit("vit_large_patch16_224", patch_size=16, embed_dim=1024, depth=24, prefix_tokens=1, timm=large),
    )


@ENCODERS.register("pathology/uni2-h")
def _uni2() -> EncoderConfig:
    timm = {"depth": 24, "num_heads": 24, "embed_dim": 1536, "init_values": 1e-5, "mlp_ratio": 2.66667 * 2}
    timm |= {"reg_tokens": 8, "no_embed_class": True, **swiglu()}
    return _entry(
        "pathology/uni2-h",
        vit("vit_giant_patch14_224", patch_size=14, embed_dim=1536, depth=24, prefix_tokens=9, timm=timm),
    )


@ENCODERS.register("pathology/virchow2")
def _virchow2() -> EncoderConfig:
    timm = {"init_values": 1e-5, "mlp_ratio": 5.3375, "reg_tokens": 4, **swiglu()}
    return _entry(
        "pathology/virchow2",
        vit("vit_huge_patch14_224", patch_size=14, embed_dim=1280, depth=32, prefix_tokens=5, timm=timm),
    )


@ENCODERS.register("pathology/phikon-v2")
def _phikon2() -> EncoderConfig:
    # a DINOv2 ViT-L/16 in transformers format on the Hub (owkin/phikon-v2), loaded with transformers
    dinov2 = transformers_vit(
        "Dinov2Model",
        width=1024,
        blocks=24,
        heads=16,
        patch_size=16,
        prefix_tokens=1,
        config={"layerscale_value": 1e-5},
    )
    return _entry("pathology/phikon-v2", dinov2)


@ENCODERS.register("pathology/titan")
def _titan() -> EncoderConfig:
    # the CONCH v1.5 trunk that MahmoodLab/TITAN's remote code returns (return_conch().trunk): a ViT-L/16,
    # 1024 wide, 24 blocks, 16 heads, LayerScale initialised at 1.0, CLS token, ImageNet mean/std; its state
    # dict has timm's vit_large_patch16_224 names (a local checkpoint: the vision tower's "trunk." tensors)
    trunk = vit(
        "vit_large_patch16_224",
        patch_size=16,
        embed_dim=1024,
        depth=24,
        prefix_tokens=1,
        backend="titan",
        timm={"init_values": 1.0},
    )
    return _entry("pathology/titan", trunk)


@ENCODERS.register("pathology/musk")
def _musk() -> EncoderConfig:
    # BEiT-3 large vision tower at 384 px from the musk package (not on PyPI), Inception mean/std
    beit3 = Architecture(
        arch="musk_large_patch16_384",
        patch_size=16,
        embed_dim=1024,
        depth=24,
        prefix_tokens=1,
        backend="musk",
    )
    return _entry("pathology/musk", beit3)


@ENCODERS.register("pathology/prov-gigapath")
def _gigapath() -> EncoderConfig:
    timm = {"init_values": 1e-5, "mlp_ratio": 5.33334}
    giant = vit(
        "vit_giant_patch14_dinov2", patch_size=16, embed_dim=1536, depth=40, prefix_tokens=1, timm=timm
    )
    return _entry("pathology/prov-gigapath", giant)


@ENCODERS.register("pathology/h-optimus-0")
def _hoptimus() -> EncoderConfig:
    arch, timm = "vit_giant_patch14_reg4_dinov2", {"init_values": 1e-5}
    return _entry(
        "pathology/h-optimus-0",
        vit(arch, patch_size=14, embed_dim=1536, depth=40, prefix_tokens=5, timm=timm),
    )


@ENCODERS.register("baseline/random-vit-b16")
def _random_vit() -> EncoderConfig:
    return _entry(
        "baseline/random-vit-b16",
        vit("vit_base_patch16_224", patch_size=16, embed_dim=768, depth=12, prefix_tokens=1),
    )


@ENCODERS.register("baseline/pixel-stats")
def _pixel_stats() -> EncoderConfig:
    stats = Architecture(
        arch="pixel-stats", patch_size=16, embed_dim=12, depth=4, prefix_tokens=0, backend="stats"
    )
    return _entry("baseline/pixel-stats", stats)


@ENCODERS.register("test/vit-tiny")
def _vit_tiny() -> EncoderConfig:
    tiny = {"embed_dim": 96, "depth": 4, "num_heads": 3}
    return _entry(
        "test/vit-tiny",
        vit("vit_tiny_patch16_224", patch_size=8, embed_dim=96, depth=4, prefix_tokens=1, timm=tiny),
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
