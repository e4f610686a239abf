"""Figures of the dataset card and the QC page: class histogram, example tiles, class-coloured outlines."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

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
from phenocell.splits import SPLITS

if TYPE_CHECKING:
    from matplotlib.collections import PolyCollection

#: PNG metadata without the matplotlib version, so figures are byte-stable across runs.
PNG_METADATA = {"Software": None}
#: Height drawn for a class with no cells in a split (a stub above the log axis' floor), and that floor.
EMPTY_BAR, AXIS_FLOOR = 0.8, 0.5
BAR_WIDTH = 0.27


def class_palette(profile: DatasetProfile = PHENOCELL) -> np.ndarray:
    """(256, 3) uint8 lookup: class id → RGB (255 = ignore)."""
    palette = np.zeros((256, 3), dtype=np.uint8)
    palette[: len(profile.class_colors)] = profile.class_colors
    palette[IGNORE_INDEX] = IGNORE_COLOR
    return palette


def outline_overlay(
    image: np.ndarray, instance: np.ndarray, semantic: np.ndarray, profile: DatasetProfile = PHENOCELL
) -> np.ndarray:
    """The RGB image with every instance outline drawn in its class colour."""
    from skimage.segmentation import find_boundaries  # here: importing skimage costs every CLI start

    edges = find_boundaries(instance, mode="inner") & (instance > 0)
    out = image.copy()
    out[edges] = class_palette(profile)[semantic[edges]]
    return out


def _bars(x: np.ndarray, heights: np.ndarray, colour: str) -> PolyCollection:
    """One split's bars as a single collection (one artist, not one per bar), from the axis floor up."""
    from matplotlib.collections import PolyCollection

    left, right = x - BAR_WIDTH / 2, x + BAR_WIDTH / 2
    floor = np.full(len(x), AXIS_FLOOR)
    xs = np.stack([left, left, right, right], axis=1)
    ys = np.stack([floor, heights, heights, floor], axis=1)
    return PolyCollection(list(np.stack([xs, ys], axis=2)), facecolors=colour, edgecolors="none")


def class_histogram(summary: DatasetSummary, path: Path) -> None:
    """Cells per class (log scale) in every split of every family.

    Drawn with matplotlib's object API on its Agg canvas (no pyplot state, imported on first use).
    """
    from matplotlib.figure import Figure
    from matplotlib.patches import Patch

    families, names = summary.card_families(), summary.profile.class_names
    fig = Figure(figsize=(5 * len(families), 4.5))
    axes = fig.subplots(1, len(families), sharey=True, squeeze=False)[0]
    x = np.arange(1, len(names))
    colours = [f"C{k}" for k in range(len(SPLITS))]
    highest = 1.0
    for ax, family in zip(axes, families, strict=True):
        for k, split in enumerate(SPLITS):
            counts = summary.class_counts(family, split)
            heights = np.array([max(counts.get(int(c), 0), EMPTY_BAR) for c in x], dtype=np.float64)
            ax.add_collection(_bars(x + (k - 1) * BAR_WIDTH, heights, colours[k]))
            highest = max(highest, float(heights.max()))
        ax.set_yscale("log")
        ax.minorticks_off()
        ax.set_xlim(0.4, len(names) - 0.4)
        ax.set_title(family)
        ax.set_xticks(x, names[1:], rotation=70, ha="right", fontsize=7)
    axes[0].set_ylim(AXIS_FLOOR, highest * 1.6)
    axes[0].set_ylabel("cells")
    axes[0].legend([Patch(color=c) for c in colours], list(SPLITS), fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata=PNG_METADATA)


def example_tiles(dataset_dir: Path, summary: DatasetSummary, path: Path, count: int = 4) -> None:
    """The first tile of up to ``count`` FoVs, H&E next to its class-coloured outlines, two per row."""
    panels = []
    for fov in list(summary.fovs)[:count]:
        table = pq.ParquetFile(Path(dataset_dir) / summary.fovs[fov].shard).read_row_group(
            0, columns=["image", "instance_mask", "semantic_mask"]
        )
        row = table.slice(0, 1).to_pylist()[0]
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
