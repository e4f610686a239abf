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
from rasterio import features
from shapely.geometry import mapping, shape

from phenocell.errors import CorruptInputError, InvalidInputError, require_file
from phenocell.records import LazyImage

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


def _parse(path: Path) -> dict[str, Any]:
    require_file(path, "polygon file", "add the region's GeoJSON or exclude the region")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        assert isinstance(doc, dict) and doc.get("type") == "FeatureCollection"
        return doc
    except (json.JSONDecodeError, UnicodeDecodeError, AssertionError) as err:
        raise CorruptInputError(
            f"cannot read GeoJSON {path}",
            expected="a GeoJSON FeatureCollection",
            found=f"{type(err).__name__}: {err}",
            fix="re-export the outlines",
        ) from err


def read_polygons(
    path: Path, *, mpp: float, shape_hw: tuple[int, int] | None = None
) -> tuple[LazyImage, int]:
    """Rasterise a region's outlines to a label image on the mask grid.

    Args:
        path: the GeoJSON file.
        mpp: mask pixel size, used when the file does not declare its grid.
        shape_hw: mask shape, used when the file does not declare its grid.

    Returns:
        The label image (in memory) and the number of pixels claimed by more than one outline.
    """
    doc = _parse(Path(path))
    grid = doc.get(GRID_KEY) or {}
    height, width = (
        int(grid.get("height", shape_hw[0] if shape_hw else 0)),
        int(grid.get("width", shape_hw[1] if shape_hw else 0)),
    )
    if height <= 0 or width <= 0:
        raise InvalidInputError(
            f"no grid for {path}",
            expected=f"a '{GRID_KEY}' member with height/width",
            found="none",
            fix="add it, or give --mask-mpp so the grid follows the H&E",
        )
    cells = []
    for i, feat in enumerate(doc.get("features", [])):
        try:
            label = int(feat["properties"]["label"])
            geom = shapely.make_valid(shape(feat["geometry"]))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise CorruptInputError(
                f"bad feature {i} in {path}",
                expected="a Polygon with properties.label",
                found=f"{type(err).__name__}: {err}",
                fix="fix or drop that feature",
            ) from err
        cells.append((label, geom))
    if not cells:
        return LazyImage(Path(path), np.zeros((height, width), np.uint32), float(grid.get("mpp", mpp))), 0
    cells.sort(key=lambda c: (-c[1].area, c[0]))  # large first: small cells end up on top, whole
    burns = [(geom, label) for label, geom in cells]
    labels = features.rasterize(burns, out_shape=(height, width), dtype="uint32")
    cover = features.rasterize(
        [(g, 1) for g, _ in burns], out_shape=(height, width), dtype="uint16", merge_alg=features.MergeAlg.add
    )
    return LazyImage(Path(path), labels, float(grid.get("mpp", mpp))), int((cover > 1).sum())
