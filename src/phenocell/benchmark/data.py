"""Tiles of one split as tensors for the benchmark, from a dataset directory or a Hub repo id."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from phenocell.errors import check_choice
from phenocell.schema import INSTANCE_DTYPE, SEMANTIC_DTYPE, decode_mask
from phenocell.splits import ALL_FAMILIES


@dataclass
class SplitTiles:
    """Decoded tiles of one split.

    Images (N, 3, T, T) uint8, semantic (N, T, T) uint8, instance (N, T, T) int32, per-tile cell ids and
    labels (indexed by local instance id - 1), and the FoV of each tile.
    """

    tile_ids: list[str]
    fovs: list[str]
    images: torch.Tensor
    semantic: torch.Tensor
    instance: torch.Tensor
    cell_ids: list[np.ndarray]
    cell_labels: list[np.ndarray]

    def __len__(self) -> int:
        return len(self.tile_ids)

    def subset(self, index: list[int]) -> SplitTiles:
        """The tiles at ``index``, in that order."""
        idx = torch.as_tensor(index, dtype=torch.long)
        return SplitTiles(
            [self.tile_ids[i] for i in index],
            [self.fovs[i] for i in index],
            self.images[idx],
            self.semantic[idx],
            self.instance[idx],
            [self.cell_ids[i] for i in index],
            [self.cell_labels[i] for i in index],
        )


def load_split(data: str | Path, family: str, split: str) -> SplitTiles:
    """Load and decode one split with ``datasets.load_dataset(data, family, split=split)``."""
    from datasets import load_dataset

    check_choice("family", family, ALL_FAMILIES)
    check_choice("split", split, ("train", "validation", "test"))
    ds = load_dataset(str(data), family, split=split)
    ds = ds.select_columns(["tile_id", "fov", "image", "semantic_mask", "instance_mask", "cells"])
    images, semantic, instance, ids, labels = [], [], [], [], []
    for row in ds:
        images.append(np.asarray(row["image"].convert("RGB")).transpose(2, 0, 1))
        semantic.append(decode_mask(row["semantic_mask"], SEMANTIC_DTYPE))
        instance.append(decode_mask(row["instance_mask"], INSTANCE_DTYPE).astype(np.int32))
        ids.append(np.array([c["cell_id"] for c in row["cells"]], dtype=np.int64))
        labels.append(np.array([c["label"] for c in row["cells"]], dtype=np.int64))
    return SplitTiles(
        list(ds["tile_id"]),
        list(ds["fov"]),
        torch.from_numpy(np.stack(images)),
        torch.from_numpy(np.stack(semantic)),
        torch.from_numpy(np.stack(instance)),
        ids,
        labels,
    )
