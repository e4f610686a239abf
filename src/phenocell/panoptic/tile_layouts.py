"""Tiling layouts: where the tiles of a FoV lie, and H&E resampling to a target pixel size.

- ``grid``: square tiles of ``size`` every ``stride`` px; the last row / column is shifted back to end at
  the image edge, so it overlaps its neighbour. Every tile is full (no padding).
- ``phenobench``: the authors' layout (``split_to_tiles.py`` of the PhenoBench code): per axis
  ``n = ceil(extent / 224)`` crops with edges ``linspace(0, extent, n + 1)`` truncated to integers, so the
  crops do not overlap and cover the FoV exactly once (a 1440 x 1920 FoV gives 7 x 9 = 63 crops of about
  206 x 213 px); each crop is zero-padded at the centre to 224 x 224 (``(224 - h) // 2`` rows before).

Each tile carries its valid box (the crop inside the padded tile), so metrics can skip the padding.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from phenocell.errors import InvalidOptionError
from phenocell.records import LazyImage

#: The authors' tile side: crops are centre-padded to this size.
PHENOBENCH_TILE = 224


@dataclass(frozen=True)
class TileBox:
    """A crop of ``height`` x ``width`` at (``y0``, ``x0``) of the FoV, centred in a ``size`` tile."""

    y0: int
    x0: int
    height: int
    width: int
    size: int

    @property
    def pad_top(self) -> int:
        """Padding rows above the crop."""
        return (self.size - self.height) // 2

    @property
    def pad_left(self) -> int:
        """Padding columns left of the crop."""
        return (self.size - self.width) // 2

    @property
    def origin(self) -> tuple[int, int]:
        """FoV position (y, x) of the tile's pixel (0, 0); negative where the tile is padded."""
        return self.y0 - self.pad_top, self.x0 - self.pad_left

    def valid(self) -> dict[str, int]:
        """The crop inside the tile (tile pixels): ``x``, ``y``, ``width``, ``height``."""
        return {"x": self.pad_left, "y": self.pad_top, "width": self.width, "height": self.height}


def linspace_edges(extent: int, tile: int = PHENOBENCH_TILE) -> list[int]:
    """Crop edges along one axis: ``linspace(0, extent, ceil(extent / tile) + 1)`` as integers."""
    count = math.ceil(extent / tile)
    return np.linspace(0, extent, count + 1).astype(int).tolist()


def phenobench_boxes(height: int, width: int, tile: int = PHENOBENCH_TILE) -> list[TileBox]:
    """The authors' non-overlapping crops of a FoV, row by row."""
    ys, xs = linspace_edges(height, tile), linspace_edges(width, tile)
    return [
        TileBox(y0, x0, y1 - y0, x1 - x0, tile)
        for y0, y1 in itertools.pairwise(ys)
        for x0, x1 in itertools.pairwise(xs)
    ]


def grid_boxes(height: int, width: int, origins: tuple[list[int], list[int]], size: int) -> list[TileBox]:
    """Full square tiles at the given row and column origins."""
    return [TileBox(y0, x0, size, size, size) for y0 in origins[0] for x0 in origins[1]]


def resample_he(he: LazyImage, target_mpp: float) -> LazyImage:
    """The H&E resampled to ``target_mpp`` µm/px, in memory.

    Shrinking averages the source pixels each output pixel covers (area / box filter, antialiased);
    enlarging uses Lanczos. Label images are never resampled here: tiles pick their labels by nearest
    neighbour on the H&E grid, whatever its pixel size.

    Raises:
        InvalidOptionError: ``target_mpp`` is not positive or would leave less than one pixel.

    """
    height, width = he.shape[:2]
    ratio = he.mpp / target_mpp if target_mpp > 0 else 0.0
    new = round(height * ratio), round(width * ratio)
    if min(new) < 1:
        raise InvalidOptionError(
            "target pixel size out of range",
            expected=f"a size > 0 that leaves at least one pixel (H&E: {height} x {width} px at {he.mpp})",
            found=str(target_mpp),
            fix="pass --target-mpp with a smaller value",
        )
    if new == (height, width):
        return he
    image = Image.fromarray(np.ascontiguousarray(he.read(slice(0, height), slice(0, width))[..., :3]))
    shrink = new[0] < height
    method = Image.Resampling.BOX if shrink else Image.Resampling.LANCZOS
    array = np.asarray(image.resize((new[1], new[0]), method))
    return LazyImage(he.path, array, height * he.mpp / new[0])
