"""Tiling: cut a FoV's H&E and its resampled label image into tiles with panoptic masks and cell lists."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from phenocell.converters.layouts import TileBox, grid_boxes, phenobench_boxes
from phenocell.converters.panoptic import FovCells
from phenocell.errors import InvalidOptionError
from phenocell.readers.images import nearest_indices, read_resampled
from phenocell.records import LazyImage
from phenocell.schema import (
    BACKGROUND,
    MAX_TILE_INSTANCES,
    encode_instance,
    encode_rgb,
    encode_semantic,
    mask_to_record,
)


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


def tile_arrays(
    he: LazyImage, mask: LazyImage, cells: FovCells, box: TileBox, semantic_map: LazyImage | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """One tile: RGB image, semantic mask, tile-local instance mask and the sorted global labels.

    The crop ``box`` describes is read (labels by nearest neighbour on the H&E grid) and zero-padded at the
    centre to ``box.size``: padding is black in the image and background (0) in both masks. The semantic
    mask paints each instance with its cell's class, or is read from ``semantic_map`` (on the label
    image's grid) where a source labels pixels rather than cells.
    """
    y0, x0 = box.y0, box.x0
    image = he.read(slice(y0, y0 + box.height), slice(x0, x0 + box.width))[..., :3]
    rows = nearest_indices(y0, box.height, mask.mpp, he.mpp, mask.shape[0])
    cols = nearest_indices(x0, box.width, mask.mpp, he.mpp, mask.shape[1])
    labels = read_resampled(mask, rows, cols).astype(np.int64)
    present, local = np.unique(labels, return_inverse=True)
    local = local.reshape(labels.shape)
    if present[0] != 0:  # no background in the tile: ids start at 1 anyway
        local = local + 1
    else:
        present = present[1:]
    if len(present) > MAX_TILE_INSTANCES:
        raise InvalidOptionError(
            "too many cells in one tile for 16-bit instance ids",
            expected=f"at most {MAX_TILE_INSTANCES}",
            found=str(len(present)),
            fix="use a smaller --tile-size",
        )
    if semantic_map is not None:
        semantic = read_resampled(semantic_map, rows, cols).astype(np.uint8)
    else:
        semantic = np.full(labels.shape, BACKGROUND, dtype=np.uint8)
        fg = labels > 0
        semantic[fg] = cells.class_ids[cells.lookup(labels[fg])]
    pad = (
        (box.pad_top, box.size - box.height - box.pad_top),
        (box.pad_left, box.size - box.width - box.pad_left),
    )
    image = np.pad(image, (*pad, (0, 0)))
    return np.ascontiguousarray(image), np.pad(semantic, pad), np.pad(local.astype(np.uint16), pad), present


def _cell_records(
    cells: FovCells, present: np.ndarray, local: np.ndarray, y0: int, x0: int, scale: float
) -> list:
    idx = cells.lookup(present)
    area = np.bincount(local.ravel(), minlength=len(present) + 1)[1:]
    records = []
    for k, i in enumerate(idx):
        cls = int(cells.class_ids[i])
        records.append(
            {
                "instance_id": k + 1,
                "cell_id": int(cells.cell_ids[i]),
                "label": mask_to_record(cls),
                "granular_name": str(cells.granular[i]),
                "centroid_x": float((cells.cx[i] + 0.5) * scale - 0.5 - x0),
                "centroid_y": float((cells.cy[i] + 0.5) * scale - 0.5 - y0),
                "area": int(area[k]),
                "markers": [None if np.isnan(v) else float(v) for v in cells.markers[i]],
            }
        )
    return records


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
) -> Iterator[dict[str, Any]]:
    """Yield encoded rows (schema :data:`phenocell.schema.FEATURES`) for every tile of one FoV.

    ``semantic_map``: per-pixel class ids on the label image's grid, when the source labels pixels (the
    authors' HDF5, ``--gt-ct-labels pixel``); else each instance takes its cell's class.
    """
    height, width = he.shape[:2]
    scale = mask.mpp / he.mpp
    for box in tile_boxes(height, width, spec, layout, meta["fov"]):
        image, semantic, local, present = tile_arrays(he, mask, cells, box, semantic_map)
        top, left = box.origin
        yield {
            "tile_id": f"{meta['fov']}_y{box.y0:05d}_x{box.x0:05d}",
            "image": encode_rgb(image),
            "instance_mask": encode_instance(local),
            "semantic_mask": encode_semantic(semantic),
            "cells": _cell_records(cells, present, local, top, left, scale),
            **meta,
            "tile_x": left,
            "tile_y": top,
            "tile_size": box.size,
            "valid": box.valid(),
            "mpp": he.mpp,
        }
