"""``baseline/pixel-stats`` for cells: colour, HED stain, area and shape of each cell, no network at all.

Every statistic runs over the cell's pixels counted once per FoV pixel (:class:`Coverage`: a pixel that an
earlier, overlapping tile of the FoV already showed is skipped), merged across tiles by global cell id:

- RGB mean and standard deviation (values in [0, 1]);
- HED mean and standard deviation (``skimage.color.rgb2hed``: haematoxylin, eosin, DAB optical densities);
- ``log(area)`` in pixels; major and minor axis lengths (4 sqrt of the eigenvalues of the pixel-coordinate
  covariance, as ``skimage.measure.regionprops``) and the eccentricity ``sqrt(1 - minor² / major²)``.
"""

from __future__ import annotations

import numpy as np

FEATURE_NAMES = (
    *(f"{c}_mean" for c in "RGB"),
    *(f"{c}_std" for c in "RGB"),
    *(f"{c}_mean" for c in "HED"),
    *(f"{c}_std" for c in "HED"),
    "log_area",
    "major_axis",
    "minor_axis",
    "eccentricity",
)
_CHANNELS = 6  # R, G, B, H, E, D


class Coverage:
    """Which pixels of the current FoV earlier tiles showed; tiles must arrive FoV by FoV."""

    def __init__(self) -> None:
        self.fov: str | None = None
        self.seen = np.zeros((0, 0), dtype=bool)

    def new_pixels(self, fov: str, x: int, y: int, height: int, width: int) -> np.ndarray:
        """(H, W) bool: the pixels of the tile at FoV origin (x, y) no earlier tile showed; marks them seen.

        A tile without an origin (``x`` or ``y`` negative) is new everywhere.
        """
        if x < 0 or y < 0:
            return np.ones((height, width), dtype=bool)
        if fov != self.fov:
            self.fov, self.seen = fov, np.zeros((y + height, x + width), dtype=bool)
        if self.seen.shape[0] < y + height or self.seen.shape[1] < x + width:
            grown = np.zeros(
                (max(self.seen.shape[0], y + height), max(self.seen.shape[1], x + width)), dtype=bool
            )
            grown[: self.seen.shape[0], : self.seen.shape[1]] = self.seen
            self.seen = grown
        new = ~self.seen[y : y + height, x : x + width]
        self.seen[y : y + height, x : x + width] = True
        return new


def pixel_moments(
    image: np.ndarray, instance: np.ndarray, new: np.ndarray, local: np.ndarray, origin: tuple[int, int]
) -> np.ndarray:
    """(len(local), 18) sums over each fragment's new pixels: count, 6 channels, squares, x, y, xx, yy, xy.

    ``image`` (H, W, 3) uint8, ``instance`` (H, W) tile-local ids, ``local`` the ids wanted (rows in that
    order), ``origin`` the tile's FoV position (x, y) so that coordinates are FoV pixels.
    """
    from skimage.color import rgb2hed

    rgb = image[..., :3].astype(np.float64) / 255.0
    channels = np.concatenate([rgb, rgb2hed(rgb)], axis=-1)
    pick = (instance > 0) & new
    ids = instance[pick].astype(np.int64)
    ys, xs = np.nonzero(pick)
    xs, ys = xs + max(origin[0], 0), ys + max(origin[1], 0)
    values = channels[pick]
    columns = [np.ones(len(ids)), *values.T, *(values**2).T, xs, ys, xs * xs, ys * ys, xs * ys]
    size = int(max(instance.max(initial=0), local.max(initial=0))) + 1
    sums = np.zeros((size, len(columns)), dtype=np.float64)
    for k, column in enumerate(columns):
        sums[:, k] = np.bincount(ids, weights=column, minlength=size)
    return sums[local]


def features_from_moments(moments: np.ndarray) -> np.ndarray:
    """(n, 18) merged moment sums → (n, 16) float32 features in :data:`FEATURE_NAMES` order."""
    n = np.maximum(moments[:, :1], 1.0)
    mean = moments[:, 1 : 1 + _CHANNELS] / n
    std = np.sqrt(np.maximum(moments[:, 1 + _CHANNELS : 1 + 2 * _CHANNELS] / n - mean**2, 0.0))
    x, y, xx, yy, xy = (moments[:, 13 + k] / n[:, 0] for k in range(5))
    cxx, cyy, cxy = xx - x * x, yy - y * y, xy - x * y
    half_trace, root = (cxx + cyy) / 2, np.sqrt(((cxx - cyy) / 2) ** 2 + cxy**2)
    major = 4 * np.sqrt(np.maximum(half_trace + root, 0.0))
    minor = 4 * np.sqrt(np.maximum(half_trace - root, 0.0))
    ecc = np.sqrt(1 - np.divide(minor**2, major**2, out=np.ones_like(major), where=major > 0))
    shape = np.stack([np.log(n[:, 0]), major, minor, ecc], axis=1)
    return np.concatenate([mean[:, :3], std[:, :3], mean[:, 3:], std[:, 3:], shape], axis=1).astype(
        np.float32
    )
