"""Released nucleus datasets (Lizard, PanNuke, Arctique) → the same tiles and cell records as PhenoCell.

A :class:`~phenocell.records.LabelledImage` already carries one label per nucleus and its class, so this
block only wraps it in the records the tiler takes (an in-memory :class:`LazyImage` for the image and the
label map at the profile's pixel size, and :class:`FovCells`), then reuses :func:`iter_tiles` unchanged.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from phenocell.errors import InvalidInputError
from phenocell.panoptic.labelling import FovCells, scan_labels
from phenocell.panoptic.tiling import TileSpec, iter_tiles
from phenocell.profiles import DatasetProfile
from phenocell.records import LabelledImage, LazyImage
from phenocell.schema import PNG_LEVEL


def sample_cells(
    sample: LabelledImage, profile: DatasetProfile, *, fov_index: int
) -> tuple[LazyImage, LazyImage, FovCells]:
    """The image, label map and cells of one released image, ready for :func:`iter_tiles`.

    Global cell ids are ``fov_index << 32 | label`` as for PhenoCell; granular names are the release's own
    class names where it has them (Arctique metadata), else the profile's.

    Raises:
        InvalidInputError: a class id is outside the profile, or the labels disagree with the label map.

    """
    name = sample.ref.name
    he = LazyImage(Path(name), sample.image, profile.mpp)
    mask = LazyImage(Path(name), sample.instances, profile.mpp)
    stats = scan_labels(mask)
    pos = np.searchsorted(sample.labels, stats.labels)
    pos = np.clip(pos, 0, max(len(sample.labels) - 1, 0))
    ok = len(sample.labels) == len(stats.labels) and bool(np.all(sample.labels[pos] == stats.labels))
    classes = sample.classes[pos] if len(stats.labels) else np.zeros(0, dtype=np.int64)
    if not ok or ((classes < 1) | (classes > profile.num_classes)).any():
        raise InvalidInputError(
            f"{profile.name} image {name}: classes do not match its label map",
            expected=f"one class in 1..{profile.num_classes} per label of the map",
            found=f"{len(sample.labels)} classes for {len(stats.labels)} labels",
            fix="check the reader output (a bug, or a damaged release file)",
        )
    cells = FovCells(
        labels=stats.labels,
        cell_ids=(np.int64(fov_index) << np.int64(32)) | stats.labels.astype(np.int64),
        class_ids=classes.astype(np.uint8),
        granular=_granular(sample, pos, classes, profile),
        area=stats.area,
        cy=stats.cy,
        cx=stats.cx,
        markers=np.zeros((len(stats.labels), 0), dtype=np.float32),
        qc={"labels": len(stats.labels)},
    )
    return he, mask, cells


def _granular(
    sample: LabelledImage, pos: np.ndarray, classes: np.ndarray, profile: DatasetProfile
) -> np.ndarray:
    """The release's own class name of each cell where it has one (Arctique metadata), else the profile's."""
    own = sample.names if len(sample.names) == len(sample.labels) else ()
    names = [own[p] if own and own[p] else profile.class_names[c] for p, c in zip(pos, classes, strict=True)]
    return np.array(names, dtype=object)


def sample_meta(sample: LabelledImage) -> dict[str, Any]:
    """The per-row metadata of a released image: it is its own FoV and 'patient'; ``group`` its origin."""
    ref = sample.ref
    return {"fov": ref.name, "patient": ref.name, "group": ref.group, "tumor_type": None, "stage": None}


def iter_sample_tiles(
    sample: LabelledImage,
    profile: DatasetProfile,
    spec: TileSpec,
    *,
    fov_index: int,
    layout: str = "grid",
    png_level: int = PNG_LEVEL,
) -> Iterator[dict[str, Any]]:
    """Encoded rows (schema :func:`phenocell.schema.features_for` of ``profile``) of one released image.

    ``layout`` is PhenoCell's: ``grid`` (``spec``) or ``phenobench`` (the authors' linspace crops, padded);
    ``png_level`` the zlib level of the PNGs.
    """
    he, mask, cells = sample_cells(sample, profile, fov_index=fov_index)
    yield from iter_tiles(he, mask, cells, spec, sample_meta(sample), layout=layout, png_level=png_level)
