"""Independent readers for the cells tests: tiles straight from the parquet shards and splits.json."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq
from PIL import Image


def split_units(data: Path, family: str, splits: tuple[str, ...]) -> dict[str, str]:
    """Unit (FoV, or PanNuke part) → split for the chosen splits of ``family`` (from splits.json)."""
    families = json.loads((data / "splits.json").read_text())["families"]
    return {unit: s for s in splits for unit in families[family]["splits"][s]}


def rows_of(data: Path, units: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every tile row of the shards of ``units`` (all when None), masks decoded with PIL, ``split`` added.

    A shard is named ``<unit>-<sha>.parquet`` (the unit is what splits.json lists).
    """
    out = []
    columns = ["tile_id", "fov", "image", "instance_mask", "cells", "tile_x", "tile_y"]
    for shard in sorted((data / "data").glob("*.parquet")):
        unit = shard.stem.rsplit("-", 1)[0]
        if units is not None and unit not in units:
            continue
        for row in pq.read_table(shard, columns=columns).to_pylist():
            row["instance"] = np.array(
                Image.open(io.BytesIO(row.pop("instance_mask")["bytes"])), dtype=np.int64
            )
            row["rgb"] = np.array(Image.open(io.BytesIO(row.pop("image")["bytes"])).convert("RGB"))
            row["split"] = units[unit] if units is not None else None
            out.append(row)
    return out


def cells_with_pixels(rows: list[dict[str, Any]]) -> dict[int, list[tuple[dict[str, Any], int]]]:
    """Global cell id → [(tile row, local id)] for every tile where the cell has at least one pixel."""
    found: dict[int, list[tuple[dict[str, Any], int]]] = {}
    for row in rows:
        present = set(np.unique(row["instance"]).tolist()) - {0}
        for cell in row["cells"]:
            if cell["instance_id"] in present:
                found.setdefault(cell["cell_id"], []).append((row, cell["instance_id"]))
    return found
