"""Tiling: cut a FoV's H&E and its resampled label image into tiles with panoptic masks and cell lists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from phenocell.errors import InvalidOptionError
from phenocell.panoptic.labelling import FovCells
from phenocell.panoptic.tile_layouts import TileBox, grid_boxes, phenobench_boxes
from phenocell.readers.images import banded, nearest_indices, pick, read_resampled, read_window
from phenocell.records import LazyImage
from phenocell.schema import MAX_TILE_INSTANCES, PNG_LEVEL, encode_instance, encode_rgb, encode_semantic


@dataclass(frozen=True)
class TileSpec:
    """Tile size and stride in H&E pixels."""

    size: int = 256
    stride: int | None = None

    def origins(self, extent: int, what: str) -> list[int]:
        """Tile starts along one axis; the last tile is shifted back to end at the image edge."""
        stride = self.stride or self.size
        if self.size <= 0 or stride <= 0:
            raise InvalidOptionError(
                "tile size and stride must be positive",
                expected="integers > 0",
                found=f"size {self.size}, stride {stride}",
                fix="pass --tile-size / --stride > 0",
            )
        if extent < self.size:
            raise InvalidOptionError(
                f"{what} is smaller than one tile",
                expected=f"an image of at least {self.size} px per side",
                found=f"{extent} px",
                fix=f"use --tile-size {extent} or smaller, or exclude the FoV",
            )
        starts = list(range(0, extent - self.size + 1, stride))
        if starts[-1] + self.size < extent:
            starts.append(extent - self.size)
        return starts


def _tile_instances(
    cells: FovCells, idx: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Tile-local ids (0 background, 1..k in label order), the k cells' rows in ``cells`` and their areas.

    ``idx`` holds each pixel's cell row + 1 (0: background, :meth:`FovCells.rows_of`); counting them gives
    the same ids as sorting the tile's labels, without a sort. ``weights``: how many tile pixels each
    pixel of ``idx`` stands for (a label window picked by nearest neighbour); a cell none of whose
    pixels is picked is not in the tile.
    """
    size = len(cells.labels) + 1
    if weights is None:
        counts = np.bincount(idx.ravel(), minlength=size)
    else:  # sums of small integers: exact in float64
        counts = np.bincount(idx.ravel(), weights=weights.ravel(), minlength=size).astype(np.int64)
    present = np.flatnonzero(counts[1:])
    if len(present) > MAX_TILE_INSTANCES:
        raise InvalidOptionError(
            "too many cells in one tile for 16-bit instance ids",
            expected=f"at most {MAX_TILE_INSTANCES}",
            found=str(len(present)),
            fix="use a smaller --tile-size",
        )
    rank = np.zeros(len(counts), dtype=np.uint16)
    rank[present + 1] = np.arange(1, len(present) + 1)
    return rank[idx], present, counts[present + 1]


def _label_rows(
    mask: LazyImage, cells: FovCells, rows: np.ndarray, cols: np.ndarray
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray, np.ndarray]:
    """Cell row + 1 of the label pixels behind a tile, their weights, and the pick that makes the tile.

    Where the tile has more pixels than its label window (labels enlarged onto a finer H&E), the rows
    are looked up on the window and picked afterwards, each window pixel weighted by the tile pixels it
    becomes; else the labels are picked first (weights ``None``, and the pick is the identity).
    """
    window, rows, cols = read_window(mask, rows, cols)
    if window.size < len(rows) * len(cols):
        height, width = window.shape
        weights = np.outer(np.bincount(rows, minlength=height), np.bincount(cols, minlength=width))
        return cells.rows_of(window), weights, rows, cols
    idx = cells.rows_of(pick(window, rows, cols))
    return idx, None, np.arange(idx.shape[0]), np.arange(idx.shape[1])


def _pad_centre(array: np.ndarray, box: TileBox) -> np.ndarray:
    """``array`` (the crop) zero-padded at the centre to ``box.size`` (a contiguous copy when unpadded)."""
    if array.shape[:2] == (box.size, box.size):
        return np.ascontiguousarray(array)
    out = np.zeros((box.size, box.size, *array.shape[2:]), dtype=array.dtype)
    out[box.pad_top : box.pad_top + box.height, box.pad_left : box.pad_left + box.width] = array
    return out


def label_axes(he: LazyImage, mask: LazyImage) -> tuple[np.ndarray, np.ndarray]:
    """The label row and column behind every H&E row and column (nearest neighbour), once per FoV."""
    height, width = he.shape[:2]
    rows = nearest_indices(0, height, mask.mpp, he.mpp, mask.shape[0])
    return rows, nearest_indices(0, width, mask.mpp, he.mpp, mask.shape[1])


def tile_arrays(
    he: LazyImage,
    mask: LazyImage,
    cells: FovCells,
    box: TileBox,
    semantic_map: LazyImage | None = None,
    axes: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One tile: RGB image, semantic mask, tile-local instance mask, its cells' rows in ``cells``, areas.

    The crop ``box`` describes is read (labels by nearest neighbour on the H&E grid) and zero-padded at the
    centre to ``box.size``: padding is black in the image and background (0) in both masks. The semantic
    mask paints each instance with its cell's class, or is read from ``semantic_map`` (on the label
    image's grid) where a source labels pixels rather than cells. Instance ids follow the cells' label
    order; the areas are the cells' pixels in the crop. ``axes``: the FoV's :func:`label_axes` (computed
    here when not given; :func:`iter_tiles` computes them once per FoV).
    """
    y0, x0 = box.y0, box.x0
    image = he.read(slice(y0, y0 + box.height), slice(x0, x0 + box.width))[..., :3]
    all_rows, all_cols = label_axes(he, mask) if axes is None else axes
    rows, cols = all_rows[y0 : y0 + box.height], all_cols[x0 : x0 + box.width]
    idx, weights, pick_rows, pick_cols = _label_rows(mask, cells, rows, cols)
    local, present, area = _tile_instances(cells, idx, weights)
    if semantic_map is not None:
        semantic = read_resampled(semantic_map, rows, cols).astype(np.uint8)
    else:
        semantic = pick(cells.semantic_lut[idx], pick_rows, pick_cols)
    local = pick(local, pick_rows, pick_cols)
    return _pad_centre(image, box), _pad_centre(semantic, box), _pad_centre(local, box), present, area


def _cell_records(
    cells: FovCells, rows: np.ndarray, area: np.ndarray, y0: int, x0: int, scale: float
) -> list[dict[str, Any]]:
    """The cell records of one tile: ``rows`` of ``cells`` in instance-id order (vectorised per tile)."""
    cx = ((cells.cx[rows] + 0.5) * scale - 0.5 - x0).tolist()
    cy = ((cells.cy[rows] + 0.5) * scale - 0.5 - y0).tolist()
    ids, labels = cells.cell_ids[rows].tolist(), cells.record_labels[rows].tolist()
    names, markers = cells.granular[rows].tolist(), cells.marker_lists()
    columns = zip(rows.tolist(), ids, labels, names, cx, cy, area.tolist(), strict=True)
    return [
        {
            "instance_id": k,
            "cell_id": cell_id,
            "label": label,
            "granular_name": str(name),
            "centroid_x": x,
            "centroid_y": y,
            "area": pixels,
            "markers": markers[row],
        }
        for k, (row, cell_id, label, name, x, y, pixels) in enumerate(columns, start=1)
    ]


def tile_boxes(height: int, width: int, spec: TileSpec, layout: str, fov: str) -> list[TileBox]:
    """The tiles of a ``height`` x ``width`` FoV in ``layout`` (``grid``: ``spec``; ``phenobench``: 224)."""
    if layout == "phenobench":
        return phenobench_boxes(height, width)
    origins = spec.origins(height, f"H&E of {fov} (height)"), spec.origins(width, f"H&E of {fov} (width)")
    return grid_boxes(height, width, origins, spec.size)


def iter_tiles(
    he: LazyImage,
    mask: LazyImage,
    cells: FovCells,
    spec: TileSpec,
    meta: dict[str, Any],
    layout: str = "grid",
    semantic_map: LazyImage | None = None,
    png_level: int = PNG_LEVEL,
) -> Iterator[dict[str, Any]]:
    """Yield encoded rows (schema :data:`phenocell.schema.FEATURES`) for every tile of one FoV.

    ``semantic_map``: per-pixel class ids on the label image's grid, when the source labels pixels (the
    authors' HDF5, ``--gt-ct-labels pixel``); else each instance takes its cell's class. ``png_level``:
    the zlib level of the three PNGs.
    """
    height, width = he.shape[:2]
    scale = mask.mpp / he.mpp
    he, mask = banded(he), banded(mask)  # tiles come row by row: one decode per row of tiles
    semantic_map = banded(semantic_map) if semantic_map is not None else None
    axes = label_axes(he, mask)
    for box in tile_boxes(height, width, spec, layout, meta["fov"]):
        image, semantic, local, present, area = tile_arrays(he, mask, cells, box, semantic_map, axes)
        top, left = box.origin
        yield {
            "tile_id": f"{meta['fov']}_y{box.y0:05d}_x{box.x0:05d}",
            "image": encode_rgb(image, png_level),
            "instance_mask": encode_instance(local, png_level),
            "semantic_mask": encode_semantic(semantic, png_level),
            "cells": _cell_records(cells, present, area, top, left, scale),
            **meta,
            "tile_x": left,
            "tile_y": top,
            "tile_size": box.size,
            "valid": box.valid(),
            "mpp": he.mpp,
        }
