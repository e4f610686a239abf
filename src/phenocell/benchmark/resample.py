"""Resampling of image and logit batches: torch's kernels on CUDA, banded matrix products on the CPU.

Two of torch's CPU kernels cost as much as the work around them: the antialiased bicubic resize of tiles to
an encoder's input (as slow as a tiny encoder's forward pass) and the backward pass of the bilinear
upsampling of a head's logits to the tile (about 40 % of a linear head's training step). Both are linear maps
along each axis, so on the CPU each runs as matrix products over bands of output pixels, with weights that are
torch's own: its kernel applied to an identity matrix (:func:`bands`). The results equal the kernels' up to
float rounding (a few 1e-7 on values in [0, 1]); on CUDA (:func:`~phenocell.benchmark.device.kernel_resize`)
the kernels run as they are.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import torch
from torch.nn import functional as F

from phenocell.benchmark.device import kernel_resize

#: How a tile whose side differs from the encoder input is resized (the authors' MUSK resize is bicubic).
RESIZE_MODE = "bicubic"
#: Output pixels per band of the CPU resize, rows then columns (measured: fewest multiply-adds for the
#: least overhead on 256 → 128 px batches of 16 tiles).
ROW_BAND, COLUMN_BAND = 8, 16
#: Output pixels per band of the CPU bilinear upsampling (each output reads two inputs).
UPSAMPLE_BAND = 32

Band = tuple[int, int, int, torch.Tensor]


def resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """Images (..., H, W), float or uint8 → floats (..., size, size), bicubic, antialiased when shrinking.

    Same size: ``x`` as floats. On the CPU rows first, then columns; uint8 rows are converted to floats a
    band at a time, where they are read (a whole batch of float tiles would go through memory twice more).
    """
    height, width = x.shape[-2:]
    if height == size and width == size:
        return x.float()
    shrink = size < width  # one flag for both axes, as interpolate's antialias (its bicubic differs with it)
    if kernel_resize(x.device):
        return F.interpolate(
            x.float(), size=(size, size), mode=RESIZE_MODE, antialias=shrink, align_corners=False
        )
    rows = bands(height, size, RESIZE_MODE, shrink, ROW_BAND)
    return _separable(x, rows, bands(width, size, RESIZE_MODE, shrink, COLUMN_BAND))


def _separable(x: torch.Tensor, rows: list[Band], columns: list[Band]) -> torch.Tensor:
    """(..., H, W) through the ``rows`` bands, then the ``columns`` bands, in the bands' dtype.

    ``x`` is converted to that dtype a band of rows at a time, where it is read.
    """
    dtype = rows[0][3].dtype
    height, width = _outputs(rows), _outputs(columns)
    mid = torch.empty((*x.shape[:-2], height, x.shape[-1]), dtype=dtype, device=x.device)
    for lo, hi, start, w in rows:
        mid[..., start : start + w.shape[1], :] = w.T @ x[..., lo:hi, :].to(dtype)
    out = torch.empty((*x.shape[:-2], height, width), dtype=dtype, device=x.device)
    for lo, hi, start, w in columns:
        out[..., start : start + w.shape[1]] = mid[..., lo:hi] @ w
    return out


def _outputs(axis: list[Band]) -> int:
    """Output pixels of the bands of one axis."""
    return axis[-1][2] + axis[-1][3].shape[1]


def upsample(x: torch.Tensor, size: Sequence[int]) -> torch.Tensor:
    """``F.interpolate(x, size, mode="bilinear", align_corners=False)`` of (B, C, H, W), with gradients.

    Also for a smaller ``size`` (the bands are any linear map's). On the CPU by bands, in float64 for float64
    and else in float32; the result in the dtype of ``x``, but float32 for a half-precision ``x`` under an
    autocast; same size: ``x`` itself.
    """
    height, width = int(size[0]), int(size[1])
    if tuple(x.shape[-2:]) == (height, width):
        return x
    if kernel_resize(x.device):
        return F.interpolate(x, size=(height, width), mode="bilinear", align_corners=False)
    if x.dtype not in (torch.float32, torch.float64) and not torch.is_autocast_enabled("cpu"):
        return upsample(x.float(), size).to(x.dtype)  # e.g. bf16 outside an autocast: computed in float32
    dtype = torch.float64 if x.dtype == torch.float64 else torch.float32  # what the forward pass computes in
    rows = bands(int(x.shape[-2]), height, "bilinear", False, UPSAMPLE_BAND, dtype)
    columns = bands(int(x.shape[-1]), width, "bilinear", False, UPSAMPLE_BAND, dtype)
    out: torch.Tensor = _BandedBilinear.apply(x, rows, columns)
    return out


class _BandedBilinear(torch.autograd.Function):
    """Rows then columns by bands; the backward pass applies the transposed bands, summing overlaps."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)
    def forward(ctx: Any, x: torch.Tensor, rows: list[Band], columns: list[Band]) -> torch.Tensor:
        ctx.bands, ctx.shape = (rows, columns), x.shape
        return _separable(x, rows, columns)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None, None]:
        rows, columns = ctx.bands
        grad = grad.to(rows[0][3].dtype)
        mid = grad.new_zeros((*grad.shape[:-1], ctx.shape[-1]))
        for lo, hi, start, w in columns:
            mid[..., lo:hi] += grad[..., start : start + w.shape[1]] @ w.T
        out = grad.new_zeros(ctx.shape)
        for lo, hi, start, w in rows:
            out[..., lo:hi, :] += w @ mid[..., start : start + w.shape[1], :]
        return out, None, None


@functools.lru_cache(maxsize=32)
def bands(
    source: int, size: int, mode: str, antialias: bool, outputs: int, dtype: torch.dtype = torch.float32
) -> list[Band]:
    """The ``mode`` resampling (torch's) of ``source`` pixels to ``size``, as bands of ``outputs`` outputs.

    A band: (first input, end input, first output, weights (inputs, outputs)), restricted to the inputs read.
    The full (source, size) weight matrix is torch's resampling of a ``source`` x ``source`` identity along
    one axis, in ``dtype``: row ``r`` is the output of an image that is 1 at input pixel ``r`` and 0
    elsewhere.
    """
    with torch.inference_mode(False), torch.no_grad():  # plain tensors, usable under any later mode
        eye = torch.eye(source, dtype=dtype).view(1, 1, source, source)
        weights = F.interpolate(eye, (source, size), mode=mode, antialias=antialias, align_corners=False)
    matrix = weights[0, 0]
    out = []
    for start in range(0, size, outputs):
        block = matrix[:, start : start + outputs]
        used = block.ne(0).any(dim=1).nonzero().flatten()
        lo, hi = int(used.min()), int(used.max()) + 1
        out.append((lo, hi, start, block[lo:hi].contiguous()))
    return out
