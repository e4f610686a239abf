"""A check that the id join of cell-table rows to mask labels is right, by comparing centroids.

When cells are joined to the mask by their label id (``Index in File``), an id column that is shifted by
one, 0-based instead of 1-based, or from another segmentation would silently give every cell a
neighbour's label. Each table row also carries its centroid (``X:X``, ``Y:Y`` in mask pixels): for a right
join it lies on its label's own centroid, a few pixels at most; for a wrong one it lies about a cell
diameter away. The median over a FoV's joined rows decides.
"""

from __future__ import annotations

import numpy as np

from phenocell.errors import InvalidInputError

#: Fewer joined rows than this leave the median undecided (no check on tiny FoVs).
MIN_ROWS = 5
#: How far (mask px) outside its mask an id-joined row's centroid may lie (a centroid convention differing by
#: a pixel); a centroid used to look up a label must lie on the mask.
EDGE_TOLERANCE_PX = 1.0


def check_centroids_on_mask(
    yx: np.ndarray, lines: np.ndarray, shape: tuple[int, ...], *, region: str, lookup: bool
) -> None:
    """Raise unless every row's centroid (y, x) lies on the FoV's mask (within the edge tolerance).

    Args:
        yx: (N, 2) centroids in mask pixels.
        lines: the cell-table line number of each row, for the message.
        shape: the mask's (height, width).
        region: the FoV, for the message.
        lookup: the centroids find the labels (``--label-column none``): no tolerance.

    Raises:
        InvalidInputError: a centroid is off the mask; the message names its line, the FoV and the value.

    """
    pts = np.asarray(yx, dtype=np.float64).reshape(-1, 2)
    margin = 0.0 if lookup else EDGE_TOLERANCE_PX
    height, width = shape[:2]
    with np.errstate(invalid="ignore"):
        bad = ~np.isfinite(pts).all(axis=1) | (pts < -margin).any(axis=1)
        bad |= (pts[:, 0] >= height + margin) | (pts[:, 1] >= width + margin)
    if not bad.any():
        return
    first = int(np.flatnonzero(bad)[0])
    y, x = pts[first].tolist()
    raise InvalidInputError(
        f"region {region}: {int(bad.sum())} cell-table row(s) have a centroid outside the FoV's mask",
        expected=f"0 <= Y < {height} and 0 <= X < {width} (mask pixels"
        + (")" if lookup else f", {margin:g} px tolerance)"),
        found=f"line {int(lines[first])}: (X, Y) = ({x:g}, {y:g})"
        + (f"; lines {[int(v) for v in lines[bad][1:4]]} too" if bad.sum() > 1 else ""),
        fix="correct or drop those rows; check the centroid columns (--x-column / --y-column) and that they "
        "are in mask pixels of this FoV",
    )


def median_centroid_distance(table_yx: np.ndarray, label_yx: np.ndarray) -> float:
    """Median Euclidean distance (mask px) between each joined row's centroid and its label's centroid."""
    if len(table_yx) == 0:
        return float("nan")
    return float(np.median(np.hypot(*(np.asarray(table_yx) - np.asarray(label_yx)).T)))


def check_id_join(region: str, distance: float, *, joined: int, rows: int, limit: float, column: str) -> None:
    """Raise when the id join looks wrong: a median distance above ``limit``, or no row joined at all.

    Args:
        region: the FoV, for the message.
        distance: the median distance from :func:`median_centroid_distance` (NaN: nothing joined).
        joined: rows whose id was found among the mask labels.
        rows: table rows of the FoV.
        limit: largest accepted median distance (mask px).
        column: the id column, for the message.

    Raises:
        InvalidInputError: the join is wrong; the message suggests ``--label-column none``.

    """
    if rows < MIN_ROWS or (joined < MIN_ROWS and joined > 0):
        return
    if joined and distance <= limit:
        return
    found = (
        f"median distance {distance:.2f} px over {joined} joined rows"
        if joined
        else f"none of {rows} rows has an id among the mask's labels"
    )
    raise InvalidInputError(
        f"region {region}: the cell table's {column!r} ids do not match the mask's labels",
        expected=f"each row's centroid (X, Y) within {limit:g} px (median) of its label's centroid",
        found=found,
        fix="the id column may be shifted or 0-based: join by centroid with --label-column none "
        "(or raise --max-centroid-distance if the centroids are known to be approximate)",
    )
