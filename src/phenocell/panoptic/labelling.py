"""Per-FoV panoptic labelling: mask label → cell record (class, granular name, markers, QC status).

The label image is scanned once in row strips (never whole) to get each label's area and centroid, and,
when the cell table has no label-id column, the label under each cell's centroid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from phenocell.constants import MAX_LABEL
from phenocell.errors import InvalidInputError
from phenocell.panoptic.class_merges import ClassMap
from phenocell.panoptic.join_check import check_centroids_on_mask, check_id_join, median_centroid_distance
from phenocell.readers.cell_table import CellTable
from phenocell.records import LazyImage
from phenocell.schema import BACKGROUND, IGNORE_INDEX, IGNORE_RECORD

STRIP_ROWS = 512
LUT_LABELS = 1 << 22  # labels below this are looked up in a dense table (16 MB at most)
UNMATCHED = "unmatched"


@dataclass
class LabelStats:
    """Area (px) and centroid (mask px) of every non-zero label, sorted by label."""

    labels: np.ndarray
    area: np.ndarray
    cy: np.ndarray
    cx: np.ndarray
    point_labels: np.ndarray  # label under each queried point (0 = background)


def _check_strip(mask: LazyImage, strip: np.ndarray) -> np.ndarray:
    """A strip of labels: int64, or as read if unsigned of <= 32 bits; labels < 0 or > 2**32 - 1 refused."""
    if strip.dtype.kind == "u" and strip.dtype.itemsize <= 4:
        return strip  # every value is a valid label
    if strip.size and (strip.min() < 0 or int(strip.max()) > MAX_LABEL):
        low, high = int(strip.min()), int(strip.max())
        raise InvalidInputError(
            f"label mask {mask.path} has labels out of range",
            expected=f"labels 0 (background) .. {MAX_LABEL}",
            found=f"labels from {low} to {high}",
            fix="relabel the segmentation with non-negative integer ids (uint16/uint32)",
        )
    return strip.astype(np.int64)


def _strip_sums(strip: np.ndarray, top: int) -> tuple[np.ndarray, ...] | None:
    """Labels of one strip (sorted), their pixel counts and row / column sums; None when all background.

    Summed over runs (a label's stretch along one row: cells are blobs, so a tenth as many runs as
    pixels): a run of ``n`` pixels from column ``c`` on row ``r`` adds ``n`` pixels, ``n * r`` and
    ``n * c + n * (n - 1) / 2``. Labels below :data:`LUT_LABELS` are counted with dense ``bincount`` s
    (no sort); larger ones through ``unique``. The sums are of integers, exact in float64 either way.
    """
    if not strip.size or int(strip.max()) == 0:
        return None
    width = strip.shape[1]
    flat = strip.ravel()
    starts = np.empty(flat.size, dtype=bool)
    starts[0] = True
    np.not_equal(flat[1:], flat[:-1], out=starts[1:])
    starts[::width] = True  # a run ends with its row
    first = np.flatnonzero(starts)
    length = np.diff(first, append=flat.size)
    run_labels = flat[first].astype(np.int64)
    fg = run_labels > 0
    first, length, run_labels = first[fg], length[fg], run_labels[fg]
    row, col = np.divmod(first, width)
    row_sum = length * (row + top)
    col_sum = length * col + length * (length - 1) // 2
    if int(run_labels.max()) < LUT_LABELS:
        area = np.bincount(run_labels, weights=length)
        labels = np.flatnonzero(area)
        sy, sx = (
            np.bincount(run_labels, weights=row_sum)[labels],
            np.bincount(run_labels, weights=col_sum)[labels],
        )
        return labels, area[labels], sy, sx
    labels, inverse = np.unique(run_labels, return_inverse=True)
    sums = (np.bincount(inverse, weights=w) for w in (length, row_sum, col_sum))
    return labels, *sums


def scan_labels(mask: LazyImage, points: np.ndarray | None = None) -> LabelStats:
    """One strip-wise pass over a label image: per-label area and centroid, labels at ``points``.

    Args:
        mask: the label image.
        points: optional (N, 2) array of (y, x) pixel positions to look up, all on the mask
            (:func:`~phenocell.panoptic.join_check.check_centroids_on_mask`).

    """
    height, width = mask.shape
    sums: dict[str, list[np.ndarray]] = {"labels": [], "area": [], "sy": [], "sx": []}
    pts = np.empty((0, 2)) if points is None else np.asarray(points, dtype=np.float64)
    py, px = np.floor(pts[:, 0]).astype(np.int64), np.floor(pts[:, 1]).astype(np.int64)
    point_labels = np.zeros(len(pts), dtype=np.int64)
    for top in range(0, height, STRIP_ROWS):
        strip = _check_strip(mask, mask.read(slice(top, min(top + STRIP_ROWS, height)), slice(0, width)))
        inside = (py >= top) & (py < top + strip.shape[0])
        point_labels[inside] = strip[py[inside] - top, px[inside]]
        found = _strip_sums(strip, top)
        if found is not None:
            for key, values in zip(("labels", "area", "sy", "sx"), found, strict=True):
                sums[key].append(values)
    if not sums["labels"]:
        empty = np.zeros(0, dtype=np.int64)
        return LabelStats(empty, empty, empty.astype(float), empty.astype(float), point_labels)
    all_labels = np.concatenate(sums["labels"])
    labels, inverse = np.unique(all_labels, return_inverse=True)
    area = np.bincount(inverse, weights=np.concatenate(sums["area"]))
    cy = np.bincount(inverse, weights=np.concatenate(sums["sy"])) / area
    cx = np.bincount(inverse, weights=np.concatenate(sums["sx"])) / area
    return LabelStats(labels, area.astype(np.int64), cy, cx, point_labels)


@dataclass
class FovCells:
    """Every labelled cell of one FoV, sorted by mask label."""

    labels: np.ndarray
    cell_ids: np.ndarray
    class_ids: np.ndarray  # uint8: 1..14, or 255 (ignored)
    granular: np.ndarray  # object array of granular names ("unmatched" for labels without a table row)
    area: np.ndarray  # mask pixels
    cy: np.ndarray
    cx: np.ndarray
    markers: np.ndarray  # (n, n_markers) float32, NaN where unmatched
    qc: dict[str, float] = field(default_factory=dict)  # counts, and the join's median centroid distance

    _lut: np.ndarray | None = field(default=None, init=False, repr=False, compare=False)
    _markers: list[list[float | None]] | None = field(default=None, init=False, repr=False, compare=False)

    def lookup(self, labels: np.ndarray) -> np.ndarray:
        """Row index of each label in this table (labels must be present)."""
        return np.searchsorted(self.labels, labels)

    def rows_of(self, labels: np.ndarray) -> np.ndarray:
        """Row index + 1 of each pixel's label (0: background); labels must be present.

        A dense label → row table (built once per FoV) when the largest label is below :data:`LUT_LABELS`,
        else a binary search per foreground pixel.
        """
        top = int(self.labels[-1]) if len(self.labels) else 0
        if top < LUT_LABELS:
            if self._lut is None:
                self._lut = np.zeros(top + 1, dtype=np.int32)
                self._lut[self.labels] = np.arange(1, len(self.labels) + 1, dtype=np.int32)
            return self._lut[labels]
        out = np.zeros(labels.shape, dtype=np.int64)
        fg = labels > 0
        out[fg] = np.searchsorted(self.labels, labels[fg]) + 1
        return out

    @property
    def semantic_lut(self) -> np.ndarray:
        """Class id by row + 1 (:meth:`rows_of`): background (0) first, then each cell's class."""
        return np.concatenate([[BACKGROUND], self.class_ids]).astype(np.uint8)

    @property
    def record_labels(self) -> np.ndarray:
        """Each cell's class as a cell-record label (-1 where ignored)."""
        return np.where(self.class_ids == IGNORE_INDEX, IGNORE_RECORD, self.class_ids.astype(np.int64))

    def marker_lists(self) -> list[list[float | None]]:
        """Each cell's marker intensities as Python floats, None where NaN (built once per FoV)."""
        if self._markers is None:
            values = self.markers.astype(np.float64)
            lists = values.tolist()
            for r in np.flatnonzero(np.isnan(values).any(axis=1)).tolist():
                lists[r] = [None if math.isnan(v) else v for v in lists[r]]
            self._markers = lists
        return self._markers


def _rows_by_label(rows: pd.DataFrame, table: CellTable, stats: LabelStats) -> np.ndarray:
    """Mask label of each table row: the id column, or the label under the row's centroid."""
    cols = table.columns
    if cols.label:
        return rows[cols.label].to_numpy(dtype=np.int64)
    return stats.point_labels


def _one_row_per_label(
    found: np.ndarray, pos: np.ndarray, rows: pd.DataFrame, table: CellTable, stats: LabelStats
) -> np.ndarray:
    """Indices of the rows kept: where several centroids fall in one label, the nearest to its centroid."""
    if len(found) == 0:
        return found
    cols = table.columns
    dy = rows[cols.y].to_numpy(dtype=np.float64)[found] - stats.cy[pos[found]]
    dx = rows[cols.x].to_numpy(dtype=np.float64)[found] - stats.cx[pos[found]]
    order = np.lexsort((dy**2 + dx**2, pos[found]))
    first = np.ones(len(order), dtype=bool)
    first[1:] = pos[found][order][1:] != pos[found][order][:-1]
    return np.sort(found[order][first])


def _join_distance(
    rows: pd.DataFrame, table: CellTable, stats: LabelStats, label_pos: np.ndarray, take: np.ndarray
) -> float:
    """Median distance between the joined rows' table centroids and their labels' centroids (mask px)."""
    cols = table.columns
    table_yx = rows[[cols.y, cols.x]].to_numpy(dtype=np.float64)[take]
    return median_centroid_distance(table_yx, np.stack([stats.cy[label_pos], stats.cx[label_pos]], axis=1))


def label_cells(
    mask: LazyImage,
    rows: pd.DataFrame,
    table: CellTable,
    class_map: ClassMap,
    *,
    region: str,
    fov_index: int,
    min_area_px: float,
    max_centroid_distance: float | None = None,
) -> FovCells:
    """Join a FoV's table rows to its mask labels and assign classes (QC failures get 255).

    Global cell ids are ``fov_index << 32 | label``: unique across the dataset and stable across runs.
    An id join is checked by centroids (:mod:`phenocell.panoptic.join_check`) when
    ``max_centroid_distance`` is given.
    """
    cols = table.columns
    points = rows[[cols.y, cols.x]].to_numpy(dtype=np.float64)
    lines = rows.index.to_numpy() + 2  # file line numbers (header is line 1)
    check_centroids_on_mask(points, lines, mask.shape, region=region, lookup=not cols.label)
    stats = scan_labels(mask, None if cols.label else points)
    row_labels = _rows_by_label(rows, table, stats)
    if cols.label and len(np.unique(row_labels)) != len(row_labels):
        dup = pd.Series(row_labels).value_counts()
        raise InvalidInputError(
            f"region {region}: several cell-table rows claim the same mask label",
            expected=f"one row per label in column {cols.label!r}",
            found=f"labels {dup[dup > 1].index.tolist()[:5]} repeated",
            fix="check the label column (--label-column) or join by centroid (--label-column none)",
        )
    n = len(stats.labels)
    names = np.full(n, UNMATCHED, dtype=object)
    classes = np.full(n, IGNORE_INDEX, dtype=np.uint8)
    markers = np.full((n, len(table.markers)), np.nan, dtype=np.float32)
    pos = np.searchsorted(stats.labels, row_labels)
    found = (pos < n) & (row_labels > 0)
    found[found] = stats.labels[pos[found]] == row_labels[found]
    take = _one_row_per_label(np.flatnonzero(found), pos, rows, table, stats)
    qc: dict[str, float] = {"table_rows": len(rows), "rows_without_mask_label": int((~found).sum())}
    qc["rows_sharing_a_label"] = int(found.sum()) - len(take)
    if cols.label:
        distance = _join_distance(rows, table, stats, pos[take], take)
        qc["median_centroid_distance_px"] = round(distance, 3)
        if max_centroid_distance is not None:
            limit = max_centroid_distance
            check_id_join(region, distance, joined=len(take), rows=len(rows), limit=limit, column=cols.label)
    names[pos[take]] = rows[cols.cluster].to_numpy()[take]
    for name in np.unique(names[pos[take]]) if len(take) else []:
        classes[pos[take][names[pos[take]] == name]] = class_map.class_id(
            name, context=f" in region {region}"
        )
    if table.markers:
        markers[pos[take]] = rows[table.markers].to_numpy(dtype=np.float32)[take]
    small = stats.area < min_area_px
    qc["labels"] = n
    qc["unmatched_labels"] = int((names == UNMATCHED).sum())
    qc["dirt_or_ignored"] = int(((classes == IGNORE_INDEX) & (names != UNMATCHED)).sum())
    qc["below_min_area"] = int((small & (classes != IGNORE_INDEX)).sum())
    classes[small] = IGNORE_INDEX
    cell_ids = (np.int64(fov_index) << np.int64(32)) | stats.labels.astype(np.int64)
    return FovCells(stats.labels, cell_ids, classes, names, stats.area, stats.cy, stats.cx, markers, qc)
