"""``phenocell export geojson``: per-FoV cell outlines with classes, in H&E pixels, as QuPath reads them.

Each feature is a QuPath detection: ``properties.objectType = "detection"`` and
``properties.classification = {"name", "color"}``, plus ``label`` (mask label), ``cell_id`` (the dataset's
global cell id) and ``granular_name``. Import in QuPath with File > Import objects from file.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from shapely.geometry import mapping
from tqdm.auto import tqdm

from phenocell.converters.base import FovSource
from phenocell.converters.driver import fov_source_type, source_options, staged
from phenocell.converters.options import FovOptions
from phenocell.converters.outputs import write_output_manifest
from phenocell.converters.workers import run_units
from phenocell.panoptic.labelling import FovCells
from phenocell.paths import check_inside
from phenocell.readers.polygons import label_polygons
from phenocell.schema import CLASS_COLORS, IGNORE_COLOR, IGNORE_INDEX, class_name


def _feature(geom: Any, label: int, cell_id: int, class_id: int, granular: str) -> dict[str, Any]:
    ignored = class_id == IGNORE_INDEX
    name = class_name(class_id)
    color = IGNORE_COLOR if ignored else CLASS_COLORS[class_id]
    return {
        "type": "Feature",
        "geometry": mapping(geom),
        "properties": {
            "objectType": "detection",
            "classification": {"name": name, "color": list(color)},
            "label": label,
            "cell_id": cell_id,
            "granular_name": granular,
        },
    }


def _features(cells: FovCells, polygons: dict[int, Any], scale: float) -> list[dict[str, Any]]:
    """QuPath features of every labelled cell, outlines scaled from mask to H&E pixels."""
    rows = cells.lookup(np.array(list(polygons), dtype=np.int64))

    def to_he(xy: np.ndarray) -> np.ndarray:
        return (xy * scale).round(3)  # H&E pixels, without float noise

    return [
        _feature(
            shapely.transform(geom, to_he),
            label,
            int(cells.cell_ids[i]),
            int(cells.class_ids[i]),
            str(cells.granular[i]),
        )
        for (label, geom), i in zip(polygons.items(), rows.tolist(), strict=True)
    ]


def export_geojson(
    raw_dir: Path, out: Path, *, source: str = "auto", options: FovOptions | None = None
) -> list[Path]:
    """Write ``out/<fov>.geojson`` for every FoV of a FoV source's input (and ``out/manifest.json``).

    ``out`` is written atomically under its lock, as a conversion: a failed run leaves nothing (not even the
    folders made for it), and an existing ``out`` is replaced only with ``options.overwrite`` and only if
    PhenoCell wrote it. Returns the files written.
    """
    kind = fov_source_type(Path(raw_dir), source, "export geojson")
    options = source_options(kind, options)
    out = Path(out)
    with staged(Path(raw_dir), out, options, __name__, kind.__module__) as tmp:
        opened = kind.open(Path(raw_dir).absolute(), options)
        task = functools.partial(export_fov, out=tmp.absolute())
        bar = tqdm(total=len(opened.units()), desc="export", unit="fov", disable=not options.progress)
        written = {}
        for fov, path in run_units(task, opened, options.execution):
            written[fov] = out / path.name
            bar.update()
        bar.close()
        write_output_manifest(tmp, "geojson", Path(raw_dir), sorted(written), opened.normalised)
    return [written[fov] for fov in sorted(written)]


def export_fov(source: FovSource, fov: str, out: Path) -> Path:
    """Write ``out/<fov>.geojson`` for one FoV; returns its path."""
    opened = source.open_fov(fov)
    he, mask, cells = opened.he, opened.mask, opened.cells
    polygons = label_polygons(mask.read(slice(0, mask.shape[0]), slice(0, mask.shape[1])))
    feats = _features(cells, polygons, mask.mpp / he.mpp)
    path = check_inside(out / f"{fov}.geojson", out)
    path.write_text(json.dumps({"type": "FeatureCollection", "features": feats}))
    return path
