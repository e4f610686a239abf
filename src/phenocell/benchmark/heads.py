"""Segmentation heads on frozen-encoder token grids, and their registry (``--head``).

All take :class:`HeadInput` (the normalised image at encoder input size and the feature grids) and return
per-pixel logits at the image size. Registered under :data:`HEADS`:

- ``linear``: :class:`LinearHead`, the authors' linear probe;
- ``unetr``: :class:`UNETRHead`, the authors' UNETR (a CellViT-style decoder);
- ``unetr-compact``: :class:`CompactUNETRHead`, our earlier, narrower UNETR decoder (a named departure);
- ``constant``: :class:`ConstantHead`, the decoder of Vitoria et al. ("A Benchmark of Foundation Model
  Encoders for Histopathological Image Segmentation"), whose size does not depend on the encoder beyond its
  first projection.

A new head is a class here and one registered factory returning its :class:`HeadSpec`.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import torch
from torch import nn

from phenocell.benchmark.registry import Registry
from phenocell.benchmark.resample import upsample


@dataclass
class HeadInput:
    """Typed head input: ``image`` (B, 3, S, S) normalised; ``taps`` list of (B, C, g, g) grids.

    A head that does not read the image (:attr:`HeadSpec.reads_image` false) may be given ``image=None``
    and the encoder input side ``input_size`` instead: its logits come at :attr:`size` all the same.
    """

    image: torch.Tensor | None
    taps: list[torch.Tensor]
    input_size: int | None = None

    @property
    def size(self) -> tuple[int, int]:
        """(S, S): the side of the encoder input, where a head's logits come."""
        if self.image is not None:
            return (int(self.image.shape[-2]), int(self.image.shape[-1]))
        if self.input_size is None:
            raise ValueError("a head input without its image needs input_size")
        return (self.input_size, self.input_size)

    def pixels(self) -> torch.Tensor:
        """The normalised image, for a head that reads it (an error when it was left out)."""
        if self.image is None:
            raise ValueError("this head reads the image, but the head input was made without it")
        return self.image

    def check(self, n_taps: int) -> None:
        """Ranks and counts: 4-D image (when given), ``n_taps`` 4-D grids of equal shape."""
        if self.image is not None and (self.image.ndim != 4 or self.image.shape[1] != 3):
            raise ValueError(f"image must be (B, 3, H, W), got {tuple(self.image.shape)}")
        if len(self.taps) != n_taps or any(t.ndim != 4 for t in self.taps):
            raise ValueError(f"expected {n_taps} taps of rank 4, got {[tuple(t.shape) for t in self.taps]}")


class LinearHead(nn.Module):
    """1x1 projection of the last tap's patch tokens, bilinearly upsampled to the image."""

    n_taps = 1

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        self.proj = nn.Conv2d(embed_dim, num_classes, kernel_size=1)

    def forward(self, inputs: HeadInput) -> torch.Tensor:
        """(B, C, g, g) tokens → (B, K, g, g) logits → upsampled to (B, K, H, W)."""
        inputs.check(self.n_taps)
        logits = self.proj(inputs.taps[-1].float())
        return upsample(logits, inputs.size)


def _conv(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True)
    )


def _up(cin: int, cout: int) -> nn.Sequential:
    """x2 transposed-convolution upsampling followed by a 3x3 conv block."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2), _conv(cout, cout))


def _conv_stack(cin: int, cout: int, n: int) -> list[nn.Module]:
    """``n`` 3x3 Conv-BN-ReLU blocks, the first mapping ``cin`` → ``cout``."""
    return [_conv_bias(cin if i == 0 else cout, cout) for i in range(n)]


def _conv_bias(cin: int, cout: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


def _deconv(cin: int, cout: int) -> nn.Sequential:
    """x2 transposed convolution then a 3x3 Conv-BN-ReLU (CellViT's deconvolution block)."""
    return nn.Sequential(nn.ConvTranspose2d(cin, cout, 2, stride=2), _conv_bias(cout, cout))


def _t2(cin: int, cout: int) -> nn.ConvTranspose2d:
    return nn.ConvTranspose2d(cin, cout, 2, stride=2)


class UNETRHead(nn.Module):
    """The authors' UNETR decoder (CellViT-style) over the last four blocks z1..z4 and the image.

    Widths for an encoder of dimension >= 512 (smaller ones use 312 / 256 / 128 as the authors do):
    bottleneck z4 → 512 (x2); skips z3: embed→512 (x2), z2: embed→512→256 (x4), z1: embed→512→256→128
    (x8); stages of 3, 2, 2, 2 Conv-BN-ReLU blocks at 512 / 256 / 128 / 64, each stage but the last ending in
    a x2 transposed convolution; image skip 3→32→64 on the normalised image. The decoder ends at grid x16
    and is resized to the image when that differs (patch 14 or 8), as the authors do.
    """

    n_taps = 4

    def __init__(self, embed_dim: int, num_classes: int) -> None:
        super().__init__()
        s1, s2, bottle = (512, 256, 512) if embed_dim >= 512 else (256, 128, 312)
        self.skip1 = nn.Sequential(_deconv(embed_dim, s1), _deconv(s1, s2), _deconv(s2, 128))
        self.skip2 = nn.Sequential(_deconv(embed_dim, s1), _deconv(s1, 256))
        self.skip3 = _deconv(embed_dim, bottle)
        self.bottleneck = _t2(embed_dim, bottle)
        self.stage3 = nn.Sequential(*_conv_stack(2 * bottle, bottle, 3), _t2(bottle, 256))
        self.stage2 = nn.Sequential(*_conv_stack(2 * 256, 256, 2), _t2(256, 128))
        self.stage1 = nn.Sequential(*_conv_stack(2 * 128, 128, 2), _t2(128, 64))
        self.image_skip = nn.Sequential(_conv_bias(3, 32), _conv_bias(32, 64))
        self.header = nn.Sequential(*_conv_stack(2 * 64, 64, 2), nn.Conv2d(64, num_classes, 1))

    def forward(self, inputs: HeadInput) -> torch.Tensor:
        """Four (B, C, g, g) grids (shallow → deep) + image → (B, K, H, W) logits."""
        inputs.check(self.n_taps)
        z1, z2, z3, z4 = (t.float() for t in inputs.taps)
        x = self.stage3(torch.cat([self.skip3(z3), self.bottleneck(z4)], dim=1))  # (B, 256, 4g, 4g)
        x = self.stage2(torch.cat([self.skip2(z2), x], dim=1))  # (B, 128, 8g, 8g)
        x = self.stage1(torch.cat([self.skip1(z1), x], dim=1))  # (B, 64, 16g, 16g)
        image = self.image_skip(inputs.pixels())  # (B, 64, H, W)
        if x.shape[-2:] != image.shape[-2:]:  # grid x16 is the image only for patch 16
            x = upsample(x, image.shape[-2:])
        return self.header(torch.cat([image, x], dim=1))


class CompactUNETRHead(nn.Module):
    """Compact UNETR decoder over 4 taps (depth/4 x {1,2,3,4}) with a skip from the image.

    Tap k (k = 1..3) is lifted by 4-k x2 upsamplings to scale 2^(4-k) of the grid; the deepest tap is
    upsampled x2 and fused with tap 3, then x2 with tap 2, x2 with tap 1, x2 again (grid x 16; for patch 8
    the last step keeps the scale, grid x 8), and the result is resized to the image size explicitly
    (grid x 16 equals the image only for patch 16, e.g. not for patch 14) before fusing with convolution
    features of the image itself.
    """

    n_taps = 4

    def __init__(self, embed_dim: int, num_classes: int, width: int = 64, patch_size: int = 16) -> None:
        super().__init__()
        chans = [width * 4, width * 2, width, max(width // 2, 8)]  # grid x2, x4, x8, x16
        self.upsampling = (
            16 if patch_size > 11 else 8
        )  # patch 8: stop at grid x8 = the image, no wasted decoding

        def lift(steps: int) -> nn.Sequential:
            ins = [embed_dim, *chans[: steps - 1]]
            return nn.Sequential(*[_up(ins[i], chans[i]) for i in range(steps)])

        self.lift = nn.ModuleList([lift(1), lift(2), lift(3)])  # taps 3, 2, 1
        self.bottom = _up(embed_dim, chans[0])
        self.fuse = nn.ModuleList([_conv(2 * c, c) for c in chans[:3]])
        last = _up(chans[2], chans[3]) if self.upsampling == 16 else _conv(chans[2], chans[3])
        self.ups = nn.ModuleList([_up(chans[0], chans[1]), _up(chans[1], chans[2]), last])
        self.skip = nn.Sequential(_conv(3, chans[3]), _conv(chans[3], chans[3]))
        self.out = nn.Sequential(_conv(2 * chans[3], chans[3]), nn.Conv2d(chans[3], num_classes, 1))

    def forward(self, inputs: HeadInput) -> torch.Tensor:
        """Four (B, C, g, g) grids + image → (B, K, H, W) logits."""
        inputs.check(self.n_taps)
        taps = [t.float() for t in inputs.taps]
        x = self.bottom(taps[3])  # (B, c0, 2g, 2g)
        for level, tap in enumerate((taps[2], taps[1], taps[0])):
            x = self.fuse[level](torch.cat([x, self.lift[level](tap)], dim=1))  # same scale, channels halved
            x = self.ups[level](x)  # next scale: x2 spatial (the last one x1 for patch 8)
        # x: (B, c3, ug, ug), u = self.upsampling; resize explicitly to the image (ug != H for patch 14)
        image = inputs.pixels()
        x = upsample(x, image.shape[-2:])
        return self.out(torch.cat([x, self.skip(image)], dim=1))


class ConstantHead(nn.Module):
    """Constant-capacity decoder (Vitoria et al.): the same ~2.6 M parameters for any encoder width.

    A 1x1 conv projects the last tap (B, d, h, w) to ``width`` (256) channels; then s = ceil(log2(H / h))
    blocks of x2 bilinear upsampling → 3x3 conv → ReLU keep that width (H / h is the patch size, so s is 3
    for patch 8 and 4 for patch 14 or 16); a 1x1 conv gives the class logits, resized (bilinear) to the image
    when the last block overshoots it (patch 14: 16h > H). Only the first projection depends on d.
    """

    n_taps = 1

    def __init__(self, embed_dim: int, num_classes: int, patch_size: int = 16, width: int = 256) -> None:
        super().__init__()
        self.blocks_needed = math.ceil(math.log2(patch_size)) if patch_size > 1 else 0
        self.proj = nn.Conv2d(embed_dim, width, kernel_size=1)
        self.blocks = nn.Sequential(
            *[
                nn.Sequential(
                    nn.Upsample(scale_factor=2, mode="bilinear", align_corners=False),
                    nn.Conv2d(width, width, 3, padding=1),
                    nn.ReLU(inplace=True),
                )
                for _ in range(self.blocks_needed)
            ]
        )
        self.classify = nn.Conv2d(width, num_classes, kernel_size=1)

    def forward(self, inputs: HeadInput) -> torch.Tensor:
        """(B, d, h, w) tokens → (B, 256, h, w) → s x2 blocks (B, 256, 2^s h, 2^s w) → (B, K, H, W)."""
        inputs.check(self.n_taps)
        x = self.blocks(self.proj(inputs.taps[-1].float()))
        logits = self.classify(x)
        if logits.shape[-2:] != inputs.size:  # the last block overshoots for non-power-2 patches
            logits = upsample(logits, inputs.size)
        return logits


@dataclass(frozen=True)
class HeadSpec:
    """A registered head: how to build it, which encoder features it reads, and what it departs from.

    Attributes:
        build: ``(embed_dim, num_classes, patch_size)`` → the head module.
        features: ``last`` (one grid, the last block's patch tokens: final-normed unless ``--linear-input
            last_block``) or ``blocks`` (four blocks' outputs without the final norm, ``--unetr-taps``).
        summary: one line for ``phenocell benchmark heads``.
        departs_from: the authors' head this one replaces, recorded as a departure (``None``: not one).
        reads_image: whether the head reads the normalised image (a UNETR's skip) besides the features;
            when it does not (say so: the default is that it does), a run whose features come from the
            token cache neither loads nor resizes the tiles' images.
    """

    build: Callable[[int, int, int], nn.Module]
    features: Literal["last", "blocks"]
    summary: str
    departs_from: str | None = None
    reads_image: bool = True


HEADS: Registry[HeadSpec] = Registry("head", namespaced=False)


@HEADS.register("linear")
def _linear() -> HeadSpec:
    summary = "the authors' linear probe: 1x1 conv on the last block's tokens, upsampled"
    return HeadSpec(lambda d, k, p: LinearHead(d, k), "last", summary, reads_image=False)


@HEADS.register("unetr")
def _unetr() -> HeadSpec:
    summary = "the authors' UNETR: CellViT-style decoder over the last four blocks and the image"
    return HeadSpec(lambda d, k, p: UNETRHead(d, k), "blocks", summary)


@HEADS.register("unetr-compact")
def _unetr_compact() -> HeadSpec:
    summary = "our narrower UNETR decoder (a departure from the authors' unetr)"
    return HeadSpec(lambda d, k, p: CompactUNETRHead(d, k, patch_size=p), "blocks", summary, "unetr")


@HEADS.register("constant")
def _constant() -> HeadSpec:
    summary = "Vitoria et al.'s constant-capacity decoder (~2.6 M parameters for any encoder)"
    return HeadSpec(lambda d, k, p: ConstantHead(d, k, p), "last", summary, reads_image=False)


def build_head(name: str, embed_dim: int, num_classes: int, patch_size: int = 16) -> nn.Module:
    """The registered head ``name`` for an encoder of width ``embed_dim`` and patch ``patch_size``."""
    return HEADS.get(name).build(embed_dim, num_classes, patch_size)


def head_size(name: str, embed_dim: int, num_classes: int, patch_size: int = 16) -> int:
    """Parameters of :func:`build_head`'s head for an encoder of width ``embed_dim``."""
    return sum(p.numel() for p in build_head(name, embed_dim, num_classes, patch_size).parameters())
