"""Image-space augmentation (kornia), applied jointly to images and label maps before the encoder.

Reference (the authors' config): horizontal and vertical flips (p 0.5 each), affine (rotation 0-360°,
translation 0.1, scale 0.8-1.2, bilinear, kornia's p 0.5), elastic (kernel 63, sigma 32, alpha 1, kornia's
p 0.5), then an HED colour jitter on the image only (per image and stain: scale 1 + U(-0.025, 0.025),
shift U(-0.05, 0.05) in skimage's HED space). Label maps are warped with nearest-neighbour sampling and
zero (background) fill. Because the encoder sees a different image every step, augmented training always
encodes live: the token cache serves only un-augmented tiles.
"""

from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import nn

# skimage.color's stain matrices (Ruifrok & Johnston): rows are the H, E and DAB optical densities in RGB.
RGB_FROM_HED = torch.tensor([[0.65, 0.70, 0.29], [0.07, 0.99, 0.11], [0.27, 0.57, 0.78]], dtype=torch.float64)
HED_FROM_RGB = torch.linalg.inv(RGB_FROM_HED)
_LOG_FLOOR = 1e-6


def rgb_to_hed(rgb: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] → HED stain concentrations, as ``skimage.color.rgb2hed`` (unclipped)."""
    floor = torch.tensor(_LOG_FLOOR, dtype=rgb.dtype, device=rgb.device)
    od = torch.log(rgb.clamp(min=_LOG_FLOOR)) / torch.log(floor)
    return torch.einsum("bchw,cd->bdhw", od, HED_FROM_RGB.to(rgb))


def hed_to_rgb(hed: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`rgb_to_hed`, clipped to [0, 1] (``skimage.color.hed2rgb``)."""
    scale = -torch.log(torch.tensor(_LOG_FLOOR, dtype=hed.dtype, device=hed.device))
    log_rgb = -torch.einsum("bchw,cd->bdhw", hed * scale, RGB_FROM_HED.to(hed))
    return torch.exp(log_rgb).clamp(0, 1)


class HEDJitter(nn.Module):
    """Random per-image, per-stain scale and shift in HED space (always applied)."""

    def __init__(self, sigma: float = 0.025, bias: float = 0.05) -> None:
        super().__init__()
        self.sigma, self.bias = sigma, bias

    def forward(self, rgb: torch.Tensor) -> torch.Tensor:
        """Jitter (B, 3, H, W) RGB in [0, 1]."""
        b = rgb.shape[0]
        scale = 1 + torch.empty(b, 3, 1, 1).uniform_(-self.sigma, self.sigma).to(rgb)
        shift = torch.empty(b, 3, 1, 1).uniform_(-self.bias, self.bias).to(rgb)
        return hed_to_rgb(rgb_to_hed(rgb) * scale + shift)


class Augmenter(nn.Module):
    """``reference``: flips + affine + elastic + HED jitter; ``flips``: flips only; ``none``: identity.

    ``affine_jitter`` (Vitoria et al.'s "random affine and brightness/colour jitter", magnitudes ours): the
    reference's affine, then brightness / contrast / saturation jitter 0.1 and hue 0.05 on the image.
    """

    def __init__(self, mode: str) -> None:
        super().__init__()
        import kornia.augmentation as KA

        self.mode = mode
        affine = KA.RandomAffine(degrees=(0.0, 360.0), translate=(0.1, 0.1), scale=(0.8, 1.2))
        ops: list[Any] = [KA.RandomHorizontalFlip(p=0.5), KA.RandomVerticalFlip(p=0.5)]
        if mode == "reference":
            ops += [
                affine,
                KA.RandomElasticTransform(kernel_size=(63, 63), sigma=(32.0, 32.0), alpha=(1.0, 1.0)),
            ]
        if mode == "affine_jitter":
            ops = [affine]
        self.geometric = KA.AugmentationSequential(*ops, data_keys=["input", "mask", "mask"])
        self.colour: nn.Module | None = HEDJitter() if mode == "reference" else None
        if mode == "affine_jitter":
            self.colour = KA.ColorJitter(brightness=0.1, contrast=0.1, saturation=0.1, hue=0.05, p=1.0)

    def forward(
        self, image: torch.Tensor, semantic: torch.Tensor, instance: torch.Tensor | None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
        """Image (B, 3, H, W) float in [0, 1]; semantic / instance (B, H, W) integer maps, warped alike.

        ``instance`` None (training reads no instance map): the image and semantic map get the same draws
        as with one.
        """
        if self.mode == "none":
            return image, semantic, instance
        maps = [semantic] if instance is None else [semantic, instance]
        floats = [m.unsqueeze(1).float() for m in maps]  # instance ids < 2**16 are exact in float32
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="Default grid_sample and affine_grid")
            image, *floats = self.geometric(image, *floats, data_keys=["input", *(["mask"] * len(maps))])
        if self.colour is not None:
            image = self.colour(image)
        warped = [f.squeeze(1).round().to(m.dtype) for f, m in zip(floats, maps, strict=True)]
        return image, warped[0], warped[1] if instance is not None else None
