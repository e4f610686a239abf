"""Figures of the dataset card and the QC page: class histogram, example tiles, class-coloured outlines."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import pyarrow.parquet as pq
from PIL import Image
from skimage.segmentation import find_boundaries

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

#: PNG metadata without the matplotlib version, so figures are byte-stable across runs.
PNG_METADATA = {"Software": None}


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
    edges = find_boundaries(instance, mode="inner") & (instance > 0)
    out = image.copy()
    out[edges] = class_palette(profile)[semantic[edges]]
    return out


def class_histogram(summary: DatasetSummary, path: Path) -> None:
    """Cells per class (log scale) in every split of every family."""
    families, names = summary.card_families(), summary.profile.class_names
    fig, axes = plt.subplots(1, len(families), figsize=(5 * len(families), 4.5), sharey=True, squeeze=False)
    axes = axes[0]
    x = np.arange(1, len(names))
    for ax, family in zip(axes, families, strict=True):
        for k, split in enumerate(SPLITS):
            counts = summary.class_counts(family, split)
            ax.bar(x + (k - 1) * 0.27, [max(counts.get(int(c), 0), 0.8) for c in x], 0.27, label=split)
        ax.set_yscale("log")
        ax.set_title(family)
        ax.set_xticks(x, names[1:], rotation=70, ha="right", fontsize=7)
    axes[0].set_ylabel("cells")
    axes[0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=80, metadata=PNG_METADATA)
    plt.close(fig)


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
