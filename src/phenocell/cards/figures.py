"""Figures of the dataset card and the QC page: example tiles and class-coloured outlines."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
from PIL import Image

from phenocell.cards.summary import DatasetSummary
from phenocell.profiles import PHENOCELL, DatasetProfile
from phenocell.schema import (
    IGNORE_COLOR,
    IGNORE_INDEX,
    INSTANCE_DTYPE,
    SEMANTIC_DTYPE,
    decode_mask,
)


def class_palette(profile: DatasetProfile = PHENOCELL) -> np.ndarray:
    """(256, 3) uint8 lookup: class id → RGB (255 = ignore)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(profile.class_colors)] = profile.class_colors
    palette[IGNORE_INDEX] = IGNORE_COLOR
    return palette


def inner_edges(instance: np.ndarray) -> np.ndarray:
    """Instance pixels with a 4-neighbour of another id (background included); the image edge continues.

    What scikit-image's ``find_boundaries(instance, mode="inner")`` marks (its grey dilation and erosion
    over the cross differ exactly where a 4-neighbour differs; its border mode repeats the edge pixel),
    without importing scikit-image for a card.
    """
    padded = np.pad(instance, 1, mode="edge")
    core = padded[1:-1, 1:-1]
    differs = (padded[:-2, 1:-1] != core) | (padded[2:, 1:-1] != core)
    differs |= (padded[1:-1, :-2] != core) | (padded[1:-1, 2:] != core)
    return differs & (core != 0)


def outline_overlay(
    image: np.ndarray, instance: np.ndarray, semantic: np.ndarray, profile: DatasetProfile = PHENOCELL
) -> np.ndarray:
    """The RGB image with every instance outline drawn in its class colour."""
    edges = inner_edges(instance)
    out = image.copy()
    out[edges] = class_palette(profile)[semantic[edges]]
    return out


def example_tiles(dataset_dir: Path, summary: DatasetSummary, path: Path, count: int = 4) -> None:
    """The first tile of up to ``count`` FoVs, H&E next to its class-coloured outlines, two per row."""
    panels = []
    for fov in list(summary.fovs)[:count]:
        shard = pq.ParquetFile(Path(dataset_dir) / summary.fovs[fov].shard)
        # one row: the shard's first pages, not its first row group (tens of tiles)
        batches = shard.iter_batches(batch_size=1, columns=["image", "instance_mask", "semantic_mask"])
        row = next(batches).to_pylist()[0]
        image = np.asarray(decode_mask(row["image"], np.dtype(np.uint8)))
        instance = decode_mask(row["instance_mask"], INSTANCE_DTYPE)
        semantic = decode_mask(row["semantic_mask"], SEMANTIC_DTYPE)
        panels.append(
            np.concatenate([image, outline_overlay(image, instance, semantic, summary.profile)], axis=1)
        )
    height, width = max(p.shape[0] for p in panels), max(p.shape[1] for p in panels)
    padded = [
        np.pad(p, ((0, height + 4 - p.shape[0]), (0, width + 4 - p.shape[1]), (0, 0)), constant_values=255)
        for p in panels
    ]
    padded += [np.full_like(padded[0], 255)] * (len(padded) % 2)
    rows = [np.concatenate(padded[i : i + 2], axis=1) for i in range(0, len(padded), 2)]  # two panels per row
    Image.fromarray(np.concatenate(rows)).save(path, format="PNG")
