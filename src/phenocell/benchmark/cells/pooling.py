"""Patch tokens → one vector per cell, merged over every tile the cell touches.

Geometry: the encoder sees the whole tile, so a (gh, gw) token grid tiles it evenly; tile pixel (y, x) of an
(H, W) tile lies in patch row ``floor((y + 0.5) * gh / H)`` and column ``floor((x + 0.5) * gw / W)`` (its
centre's patch; with H = gh * p this is ``y // p``). A cell's **mean** embedding is
``sum over (tile, patch) of n * token / sum of n``, where ``n`` is the number of the cell's pixels of that
tile in that patch: fragments of one cell in several tiles (same global cell id) are merged, and a pixel
seen by two overlapping tiles counts once per tile (each tile's token of it is a view of the cell). The
**center** embedding is the token of the patch under the cell's centroid, in the tile whose valid box holds
the centroid (the largest such fragment; with none, the largest fragment, centroid clamped into its box).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import sparse


def patch_index(height: int, width: int, grid_h: int, grid_w: int) -> np.ndarray:
    """(H, W) int64: the flat patch index (row * gw + col) of each tile pixel (its centre's patch)."""
    rows = np.minimum(((np.arange(height) + 0.5) * grid_h / height).astype(np.int64), grid_h - 1)
    cols = np.minimum(((np.arange(width) + 0.5) * grid_w / width).astype(np.int64), grid_w - 1)
    return rows[:, None] * grid_w + cols[None, :]


def overlap_matrix(
    instance: np.ndarray, patches: np.ndarray, n_ids: int, n_patches: int
) -> sparse.csr_matrix:
    """Sparse (n_ids + 1, n_patches): pixels of each local instance id (row) in each patch (column)."""
    fg = instance > 0
    ids = instance[fg].astype(np.int64)
    ones = np.ones(len(ids), dtype=np.float64)
    return sparse.csr_matrix((ones, (ids, patches[fg])), shape=(n_ids + 1, n_patches))


@dataclass
class TileCells:
    """One tile's cells: tile-local instance ids, global cell ids and tile-local centroids (x, y)."""

    local: np.ndarray
    cell_ids: np.ndarray
    centroids: np.ndarray  # (n, 2) x, y in tile pixels
    valid: tuple[slice, slice]  # rows, cols of the unpadded box


def tile_fragments(
    instance: np.ndarray, grid: np.ndarray, cells: TileCells, pooling: str
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per fragment of this tile: cell ids, pixel counts, pooled vectors and (center) scores.

    ``grid`` is (C, gh, gw). ``mean``: vectors are overlap-weighted token *sums* (divide by the merged counts
    later). ``center``: the token under the centroid, scored by (centroid inside the valid box, pixels).
    Cells of ``cells`` without a pixel in this tile are left out.
    """
    channels, gh, gw = grid.shape
    height, width = instance.shape
    n_ids = int(max(instance.max(initial=0), cells.local.max(initial=0)))
    patches = patch_index(height, width, gh, gw)
    matrix = overlap_matrix(instance, patches, n_ids, gh * gw)
    counts = np.asarray(matrix.sum(axis=1)).ravel()[cells.local]
    keep = counts > 0
    local, ids, counts = cells.local[keep], cells.cell_ids[keep], counts[keep]
    tokens = grid.reshape(channels, gh * gw).T.astype(np.float64)  # (P, C)
    if pooling == "mean":
        return ids, counts, np.asarray(matrix[local] @ tokens), counts
    rows, cols = cells.valid
    xy = cells.centroids[keep]
    x = np.clip(xy[:, 0], cols.start, cols.stop - 1)
    y = np.clip(xy[:, 1], rows.start, rows.stop - 1)
    inside = (x == xy[:, 0]) & (y == xy[:, 1])
    row = np.minimum(((y + 0.5) * gh / height).astype(np.int64), gh - 1)
    col = np.minimum(((x + 0.5) * gw / width).astype(np.int64), gw - 1)
    return ids, counts, tokens[row * gw + col], counts + inside * float(height * width + 1)


@dataclass
class CellMerger:
    """Fragments of one FoV's cells collected tile by tile and merged by global cell id.

    ``pooling``: ``mean`` (weighted sums divided by the merged pixel counts), ``center`` (the best-scored
    fragment's vector), ``sum`` (plain float64 sums: pixel-statistics moments, areas).
    """

    pooling: str
    ids: list[np.ndarray] = field(default_factory=list)
    counts: list[np.ndarray] = field(default_factory=list)
    vectors: list[np.ndarray] = field(default_factory=list)
    scores: list[np.ndarray] = field(default_factory=list)

    def add(self, ids: np.ndarray, counts: np.ndarray, vectors: np.ndarray, scores: np.ndarray) -> None:
        """Add one tile's fragments (from :func:`tile_fragments`)."""
        self.ids.append(ids)
        self.counts.append(counts)
        self.vectors.append(vectors)
        self.scores.append(scores)

    def merge(self) -> tuple[np.ndarray, np.ndarray]:
        """Sorted unique cell ids and their (n, C) vectors (float32; float64 sums for ``sum``)."""
        if not self.ids:
            return np.zeros(0, dtype=np.int64), np.zeros((0, 0), dtype=np.float32)
        ids = np.concatenate(self.ids)
        vectors = np.concatenate(self.vectors)
        unique, slot = np.unique(ids, return_inverse=True)
        if self.pooling in ("mean", "sum"):
            sums = np.zeros((len(unique), vectors.shape[1]), dtype=np.float64)
            np.add.at(sums, slot, vectors)
            if self.pooling == "sum":
                return unique, sums
            weights = np.bincount(slot, weights=np.concatenate(self.counts), minlength=len(unique))
            return unique, (sums / weights[:, None]).astype(np.float32)
        scores = np.concatenate(self.scores)
        order = np.lexsort((-scores, slot))  # per cell, the best-scored fragment first (stable: first tile)
        first = order[np.r_[True, slot[order][1:] != slot[order][:-1]]]
        return unique, vectors[first].astype(np.float32)
