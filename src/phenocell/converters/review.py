"""``phenocell qc``: a static HTML page to review every FoV before converting.

For each FoV: the H&E with instance outlines coloured by class (PNG, and a thumbnail), and its statistics
(cells, unmatched cells, dirt/ignored, area outliers, table rows without a mask label, contested polygon
pixels, repaired polygons). The exclusion list it reads and writes (``exclude.csv``, CSV ``fov,reason``) is
the file ``phenocell-convert --exclude`` takes.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image
from tqdm.auto import tqdm

from phenocell.cards.figures import outline_overlay
from phenocell.cards.qc_page import render_qc_page
from phenocell.converters.base import FovSource
from phenocell.converters.driver import fov_source_type, source_options, staged
from phenocell.converters.options import FovOptions
from phenocell.converters.outputs import write_output_manifest
from phenocell.converters.workers import run_units
from phenocell.errors import PhenoCellError
from phenocell.paths import check_inside
from phenocell.readers.images import read_resampled
from phenocell.readers.pairs import read_exclusions, write_exclusions
from phenocell.records import LazyImage
from phenocell.schema import CLASS_NAMES

OVERLAY_SIDE = 1024
THUMB_SIDE = 256
OUTLIER_MADS = 5.0


def _grid(he: LazyImage, mask: LazyImage, side: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Mask row / column indices under a subsampled H&E grid (every ``step``-th H&E pixel)."""
    step = max(1, math.ceil(max(he.shape[:2]) / side))
    ratio = he.mpp / mask.mpp
    rows = np.clip(
        np.floor((np.arange(0, he.shape[0], step) + 0.5) * ratio).astype(np.int64), 0, mask.shape[0] - 1
    )
    cols = np.clip(
        np.floor((np.arange(0, he.shape[1], step) + 0.5) * ratio).astype(np.int64), 0, mask.shape[1] - 1
    )
    return rows, cols, step


def _area_outliers(area_um2: np.ndarray) -> int:
    if len(area_um2) < 3:
        return 0
    median = np.median(area_um2)
    mad = np.median(np.abs(area_um2 - median)) or 1.0
    return int((np.abs(area_um2 - median) > OUTLIER_MADS * 1.4826 * mad).sum())


def review_fov(source: FovSource, fov: str, out: Path) -> dict[str, Any]:
    """Render one FoV's overlay and thumbnail into ``out``; returns its statistics."""
    opened = source.open_fov(fov)
    he, mask, cells = opened.he, opened.mask, opened.cells
    rows, cols, step = _grid(he, mask, OVERLAY_SIDE)
    labels = read_resampled(mask, rows, cols).astype(np.int64)
    semantic = np.zeros(labels.shape, dtype=np.uint8)
    semantic[labels > 0] = cells.class_ids[cells.lookup(labels[labels > 0])]
    image = np.asarray(he.array[::step, ::step])[..., :3]
    overlay = Image.fromarray(outline_overlay(image, labels, semantic))
    overlay.save(check_inside(out / f"{fov}.png", out))
    overlay.thumbnail((THUMB_SIDE, THUMB_SIDE))
    overlay.save(check_inside(out / f"{fov}_thumb.png", out))
    classes = {CLASS_NAMES[c]: int((cells.class_ids == c).sum()) for c in range(1, len(CLASS_NAMES))}
    return {
        "cells": len(cells.labels),
        "unmatched": cells.qc["unmatched_labels"],
        "dirt_or_ignored": cells.qc["dirt_or_ignored"],
        "below_min_area": cells.qc["below_min_area"],
        "area_outliers": _area_outliers(cells.area * mask.mpp**2),
        "rows_without_mask_label": cells.qc["rows_without_mask_label"],
        **opened.outlines,
        "top_classes": dict(sorted(classes.items(), key=lambda kv: -kv[1])[:3]),
    }


def _review_or_error(source: FovSource, fov: str, out: Path) -> dict[str, Any]:
    """:func:`review_fov`, with a bad FoV's problem shown on the page instead of stopping the review."""
    try:
        return review_fov(source, fov, out)
    except PhenoCellError as err:
        return {"error": str(err)}


def render_qc(raw_dir: Path, out: Path, *, source: str = "auto", options: FovOptions | None = None) -> Path:
    """Write ``out/index.html``, ``out/fovs/*.png``, ``out/exclude.csv`` and ``out/manifest.json``.

    ``source`` is a FoV source (``auto``: detected) and ``options`` its options. ``options.exclude`` is read
    (if given) and copied to ``out/exclude.csv``; all FoVs are rendered, excluded ones marked. ``out`` is
    written atomically under its lock, as a conversion: an existing one is replaced only with
    ``options.overwrite`` and only if PhenoCell wrote it. Returns the page path.
    """
    kind = fov_source_type(Path(raw_dir), source, "qc")
    options = source_options(kind, options)
    out = Path(out)
    with staged(Path(raw_dir), out, options, __name__, kind.__module__) as tmp:
        excluded = read_exclusions(options.exclude) if options.exclude else {}
        opened = kind.open(Path(raw_dir).absolute(), dataclasses.replace(options, exclude=None))
        (tmp / "fovs").mkdir()
        task = functools.partial(_review_or_error, out=tmp.absolute() / "fovs")
        bar = tqdm(total=len(opened.units()), desc="QC", unit="fov", disable=not options.progress)
        found = {}
        for fov, fov_stats in run_units(task, opened, options.execution):
            found[fov] = fov_stats
            bar.update()
        bar.close()
        stats = dict(sorted(found.items()))
        write_exclusions(tmp / "exclude.csv", excluded)
        page = render_qc_page(Path(raw_dir), out / "exclude.csv", stats, excluded)
        (tmp / "index.html").write_text(page, encoding="utf-8")
        write_output_manifest(tmp, "qc", Path(raw_dir), sorted(stats), opened.normalised)
    return out / "index.html"
