"""Cell outlines as polygons: GeoJSON reader (rasterised to a label image) and label-image vectorisation.

GeoJSON layout, one file per region (``polygons/<region>.geojson``)::

    {"type": "FeatureCollection",
     "phenocell": {"mpp": 0.377442, "height": 1440, "width": 1920},   # optional: the outlines' grid
     "features": [{"type": "Feature", "properties": {"label": 17},
                   "geometry": {"type": "Polygon", ...}}, ...]}

Coordinates are mask pixels (x right, y down, pixel corners on integers), ``label`` is the cell's id in
the cell table's label column. Without the ``phenocell`` member the grid comes from ``--mask-mpp`` and
the H&E size.
Overlapping outlines are resolved deterministically: smaller cells are burnt last, so they stay whole; the
number of contested pixels is reported in the QC statistics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping, shape

from phenocell.constants import DEFAULT_MAX_PIXELS, MAX_LABEL
from phenocell.errors import CorruptInputError, InvalidInputError, require_file
from phenocell.records import LazyImage, check_pixels

GRID_KEY = "phenocell"


def label_polygons(labels: np.ndarray) -> dict[int, Any]:
    """Vectorise a label image: label → (Multi)Polygon in pixel coordinates, exact on the pixel grid."""
    if labels.max(initial=0) > np.iinfo(np.int32).max:
        raise InvalidInputError(
            "labels too large to vectorise",
            expected="labels < 2**31",
            found=str(int(labels.max())),
            fix="relabel the mask",
        )
    from rasterio import (
        features,
    )  # here: a label TIFF export never rasterises, and rasterio is slow to import

    parts: dict[int, list[Any]] = {}
    for geom, value in features.shapes(labels.astype(np.int32), mask=labels > 0):
        parts.setdefault(int(value), []).append(shape(geom))
    return {label: shapely.union_all(geoms) for label, geoms in sorted(parts.items())}


def write_geojson(path: Path, polygons: dict[int, Any], grid: dict[str, float] | None = None) -> None:
    """Write ``{label: geometry}`` as a GeoJSON FeatureCollection (labels in ``properties.label``)."""
    doc: dict[str, Any] = {"type": "FeatureCollection"}
    if grid is not None:
        doc[GRID_KEY] = grid
    doc["features"] = [
        {"type": "Feature", "properties": {"label": label}, "geometry": mapping(geom)}
        for label, geom in polygons.items()
    ]
    Path(path).write_text(json.dumps(doc))


#: How far (pixels) an outline may reach past its grid before it is refused.
EDGE_TOLERANCE_PX = 1.0
_POLYGONAL = ("Polygon", "MultiPolygon")


def _bad(path: Path, what: str, expected: str, found: str, fix: str) -> InvalidInputError:
    return InvalidInputError(f"{what} in {path}", expected=expected, found=found, fix=fix)


def _parse(path: Path) -> dict[str, Any]:
    require_file(path, "polygon file", "add the region's GeoJSON or exclude the region")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as err:
        raise CorruptInputError(
            f"cannot read GeoJSON {path}",
            expected="a GeoJSON FeatureCollection (UTF-8 JSON)",
            found=f"{type(err).__name__}: {err}",
            fix="re-export the outlines",
        ) from err
    kind = doc.get("type") if isinstance(doc, dict) else type(doc).__name__
    if kind != "FeatureCollection" or not isinstance(doc.get("features", []), list):
        raise CorruptInputError(
            f"GeoJSON {path} is not a FeatureCollection",
            expected='an object with "type": "FeatureCollection" and a "features" list',
            found=f"type {kind!r}",
            fix="wrap the outlines in a FeatureCollection (one Feature per cell)",
        )
    return doc


def _number(value: Any, name: str, path: Path) -> float:
    try:
        number = float(value)
    except (TypeError, ValueError):
        number = float("nan")
    if isinstance(value, bool) or not np.isfinite(number) or number <= 0:
        raise _bad(
            path,
            f"bad grid {name!r}",
            f"a positive number in {GRID_KEY}.{name}",
            repr(value),
            f"correct {GRID_KEY}.{name} or drop the {GRID_KEY} member",
        )
    return number


def _grid(
    doc: dict[str, Any], path: Path, mpp: float, shape_hw: tuple[int, int] | None
) -> tuple[int, int, float]:
    grid = doc.get(GRID_KEY) or {}
    if not isinstance(grid, dict):
        raise _bad(path, "bad grid", f"an object {GRID_KEY} with mpp/height/width", repr(grid), "fix it")
    fallback = shape_hw or (0, 0)
    height = grid.get("height", fallback[0]) or fallback[0]
    width = grid.get("width", fallback[1]) or fallback[1]
    if not height or not width:
        raise InvalidInputError(
            f"no grid for {path}",
            expected=f"a '{GRID_KEY}' member with height/width",
            found="none",
            fix="add it, or give --mask-mpp so the grid follows the H&E",
        )
    h, w = _number(height, "height", path), _number(width, "width", path)
    if h != int(h) or w != int(w):
        raise _bad(path, "bad grid size", "integer height/width", f"{h} x {w}", f"fix {GRID_KEY}")
    return int(h), int(w), _number(grid.get("mpp", mpp), "mpp", path)


def _label(value: Any) -> int | None:
    """The integer label of a feature, or None when it is not an integer 1..MAX_LABEL."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if not np.isfinite(value) or value != int(value) or not 1 <= int(value) <= MAX_LABEL:
        return None
    return int(value)


def _repair(geom: Any) -> Any:
    """An invalid outline made valid, keeping only its polygonal parts."""
    parts = shapely.get_parts(shapely.make_valid(geom))
    return shapely.union_all([p for p in parts if p.geom_type in _POLYGONAL])


def _feature(feat: Any, i: int, path: Path) -> tuple[int, Any, bool]:
    """(label, polygonal geometry, repaired?) of one feature; typed errors name the feature."""
    try:
        raw_label = feat["properties"]["label"]
        geom = shape(feat["geometry"])
    except (KeyError, TypeError, ValueError, AttributeError, shapely.errors.GEOSException) as err:
        raise CorruptInputError(
            f"bad feature {i} in {path}",
            expected="a Polygon with properties.label",
            found=f"{type(err).__name__}: {err}",
            fix="fix or drop that feature",
        ) from err
    label = _label(raw_label)
    if label is None:
        raise _bad(
            path,
            f"bad label in feature {i}",
            f"an integer 1..{MAX_LABEL}",
            repr(raw_label),
            "give every outline the integer label of its cell-table row",
        )
    if geom.geom_type not in _POLYGONAL:
        raise _bad(
            path,
            f"feature {i} (label {label}) is a {geom.geom_type}",
            "a Polygon or MultiPolygon",
            geom.geom_type,
            "export cell outlines, not centroids or lines",
        )
    repaired = not geom.is_valid
    if repaired:
        geom = _repair(geom)
    if geom.is_empty or geom.area <= 0:
        raise _bad(
            path,
            f"feature {i} (label {label}) has no area",
            "an outline enclosing pixels",
            "empty or degenerate polygon",
            "fix or drop that feature",
        )
    return label, geom, repaired


def _check_cells(cells: list[tuple[int, Any]], path: Path, height: int, width: int) -> None:
    labels = [label for label, _ in cells]
    dup = sorted({x for x in labels if labels.count(x) > 1}) if len(set(labels)) != len(labels) else []
    if dup:
        raise _bad(
            path,
            "several outlines share a label",
            "one outline per label",
            f"labels {dup[:5]} repeated",
            "merge them into one MultiPolygon or relabel",
        )
    tol = EDGE_TOLERANCE_PX
    outside = [  # written so that NaN bounds count as outside
        label
        for label, g in cells
        if not (g.bounds[0] >= -tol and g.bounds[1] >= -tol)
        or not (g.bounds[2] <= width + tol and g.bounds[3] <= height + tol)
    ]
    if outside:
        raise _bad(
            path,
            "outlines outside the image",
            f"coordinates within 0..{width} x 0..{height} px",
            f"{len(outside)} outlines, labels {outside[:5]}",
            "check the outlines' coordinate system (mask pixels) and grid size",
        )


def read_polygons(
    path: Path, *, mpp: float, shape_hw: tuple[int, int] | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[LazyImage, dict[str, int]]:
    """Rasterise a region's outlines to a label image on the mask grid.

    Args:
        path: the GeoJSON file.
        mpp: mask pixel size, used when the file does not declare its grid.
        shape_hw: mask shape, used when the file does not declare its grid.
        max_pixels: largest grid (H x W) accepted, checked before anything is allocated.

    Returns:
        The label image (in memory) and its statistics: ``contested_pixels`` (claimed by more than one
        outline) and ``repaired_polygons`` (invalid outlines made valid).

    Raises:
        CorruptInputError: not a GeoJSON FeatureCollection, or a feature without geometry / label.
        InvalidInputError: no features, bad grid, non-integer / out-of-range / repeated labels, non-polygon
            geometry, outlines outside the grid.
        ResourceLimitError: the grid exceeds ``max_pixels``.
    """
    path = Path(path)
    doc = _parse(path)
    height, width, grid_mpp = _grid(doc, path, mpp, shape_hw)
    check_pixels(path, "polygon grid of", (height, width), max_pixels)
    if not doc.get("features"):
        raise _bad(
            path,
            "no features",
            "one Feature (a cell outline with properties.label) per cell",
            "an empty FeatureCollection: no outlines, so no cell can be labelled",
            "re-export the region's outlines, or leave the region out with --exclude",
        )
    parsed = [_feature(feat, i, path) for i, feat in enumerate(doc["features"])]
    cells = [(label, geom) for label, geom, _ in parsed]
    _check_cells(cells, path, height, width)
    stats = {"contested_pixels": 0, "repaired_polygons": sum(r for _, _, r in parsed)}
    cells.sort(key=lambda c: (-c[1].area, c[0]))  # large first: small cells end up on top, whole
    burns = [(geom, label) for label, geom in cells]
    from rasterio import features

    labels = features.rasterize(burns, out_shape=(height, width), dtype="uint32")
    cover = features.rasterize(
        [(g, 1) for g, _ in burns], out_shape=(height, width), dtype="uint16", merge_alg=features.MergeAlg.add
    )
    stats["contested_pixels"] = int((cover > 1).sum())
    return LazyImage(path, labels, grid_mpp), stats
