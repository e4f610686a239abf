"""One FoV's cells collected tile by tile: pooled vectors, union area and each cell's record.

Tiles must arrive FoV by FoV; :meth:`FovCells.rows` merges the fragments of each global cell id and
returns the FoV's rows (vectors plus the ``obs`` fields of :mod:`.table`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from phenocell.benchmark.cells.pixelstats import Coverage, features_from_moments, pixel_moments
from phenocell.benchmark.cells.pooling import CellMerger, TileCells, tile_fragments
from phenocell.loaders.tiles import TileRef

#: Per-tile fields of a row that every cell of the tile shares (read from the shard).
TILE_FIELDS = ("patient", "group", "tumor_type", "stage", "mpp")


@dataclass
class Tile:
    """A decoded tile with its cell records (every field of the ``cells`` column) and tile fields."""

    ref: TileRef
    image: np.ndarray  # (H, W, 3) uint8
    instance: np.ndarray  # (H, W) tile-local ids
    cells: list[dict[str, Any]]
    meta: dict[str, Any]

    def tile_cells(self) -> TileCells:
        """Local ids, global ids and tile-local centroids of the records, for pooling."""
        local = np.array([c["instance_id"] for c in self.cells], dtype=np.int64)
        ids = np.array([c["cell_id"] for c in self.cells], dtype=np.int64)
        xy = np.array([[c["centroid_x"], c["centroid_y"]] for c in self.cells], dtype=np.float64)
        return TileCells(local, ids, xy.reshape(-1, 2), self.ref.crop())


@dataclass
class FovCells:
    """Accumulates one FoV (``pooling``: ``mean``, ``center``, or ``stats`` for pixel statistics)."""

    fov: str
    split: str
    pooling: str
    coverage: Coverage
    merger: CellMerger = field(init=False)
    areas: CellMerger = field(init=False)
    records: dict[int, tuple[dict[str, Any], dict[str, Any], tuple[int, int]]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.merger = CellMerger("sum" if self.pooling == "stats" else self.pooling)
        self.areas = CellMerger("sum")

    def add(self, tile: Tile, grid: np.ndarray | None) -> None:
        """Add one tile; ``grid`` (C, gh, gw) is the encoder's tokens (``None`` for pixel statistics)."""
        ref, cells = tile.ref, tile.tile_cells()
        inst = tile.instance.astype(np.int64)
        new = self.coverage.new_pixels(ref.fov, ref.x, ref.y, *inst.shape)
        size = int(max(inst.max(initial=0), cells.local.max(initial=0))) + 1
        pixels = np.bincount(inst.ravel(), minlength=size)[cells.local]
        fresh = np.bincount(inst[new], minlength=size)[cells.local]
        have = (pixels > 0) & (cells.local > 0)
        ids = cells.cell_ids[have]
        if grid is None:
            moments = pixel_moments(tile.image, inst, new, cells.local[have], (ref.x, ref.y))
            self.merger.add(ids, pixels[have], moments, pixels[have])
        else:
            self.merger.add(*tile_fragments(inst, grid, cells, self.pooling))
        self.areas.add(ids, pixels[have], fresh[have][:, None].astype(np.float64), pixels[have])
        for k in np.flatnonzero(have):
            self.records.setdefault(int(cells.cell_ids[k]), (tile.cells[k], tile.meta, (ref.x, ref.y)))

    def rows(self) -> tuple[np.ndarray, dict[str, list[Any]], np.ndarray]:
        """Merged vectors (n, C) float32, ``obs`` columns and (n, markers) float32 of this FoV's cells."""
        ids, vectors = self.merger.merge()
        if self.pooling == "stats" and len(ids):
            vectors = features_from_moments(vectors.astype(np.float64))
        areas = self.areas.merge()[1]  # the same fragments, so the same sorted ids
        obs: dict[str, list[Any]] = {name: [] for name in OBS_FIELDS}
        markers = []
        for cell_id, area in zip(ids.tolist(), areas[:, 0].tolist(), strict=True):
            record, meta, (x0, y0) = self.records[cell_id]
            _append_obs(obs, cell_id, record, meta, (x0, y0), self.fov, self.split, round(area))
            markers.append([np.nan if v is None else v for v in record.get("markers") or []])
        width = max((len(m) for m in markers), default=0)
        table = np.full((len(markers), width), np.nan, dtype=np.float32)
        for i, m in enumerate(markers):
            table[i, : len(m)] = m
        return vectors, obs, table


OBS_FIELDS = (
    "cell_id",
    "fov",
    "patient",
    "split",
    "class_id",
    "granular_name",
    "centroid_x",
    "centroid_y",
    "area",
    "tumor_type",
    "stage",
    "group",
    "mpp",
)


def _append_obs(
    obs: dict[str, list[Any]],
    cell_id: int,
    record: dict[str, Any],
    meta: dict[str, Any],
    origin: tuple[int, int],
    fov: str,
    split: str,
    area: int,
) -> None:
    """One cell's ``obs`` fields; centroids in FoV pixels (tile-local where the tile has no origin)."""
    values = {
        "cell_id": cell_id,
        "fov": fov,
        "split": split,
        "class_id": int(record["label"]),
        "granular_name": record.get("granular_name") or "",
        "centroid_x": float(record["centroid_x"]) + max(origin[0], 0),
        "centroid_y": float(record["centroid_y"]) + max(origin[1], 0),
        "area": area,
        **{name: meta.get(name) for name in TILE_FIELDS},
    }
    for name in OBS_FIELDS:
        obs[name].append(values[name])
