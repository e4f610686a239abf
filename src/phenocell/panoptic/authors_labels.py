"""Cells of one FoV from the authors' label maps (``gt_inst`` instances, ``gt_ct`` granular ids).

``gt_ct`` id ``k`` (1..29) is the k-th of the granular cluster names sorted alphabetically (Python string
order), and those names are the rows of the class-merge table (``class_map.csv``): the table is the only
list of names, so ids, names and the 14 classes come from one place.

Two rules turn the maps into tiles (``--gt-ct-labels``):

- ``pixel`` (the authors' chain, ``SchuerchDataset``): :func:`pixel_maps` maps ``gt_ct`` pixel by pixel to
  class ids, so an instance keeps every class its pixels carry, ``gt_ct`` outside instances stays labelled
  and an instance with ``gt_ct`` 0 stays an instance on background; dirt (and any other ``ignore`` name)
  is 0 in both the semantic and the instance map.
- ``majority``: each instance is painted with the granular id most of its pixels carry; an instance with no
  id (0) is labelled ``unmatched`` and ignored (255), like a mask label without a table row in a CODEX
  export; dirt and other ``ignore`` names are 255 as well; ``gt_ct`` outside instances is dropped.

Either way each cell's record (class, granular name) is its majority id, as :func:`cells_from_maps` gives.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from phenocell.errors import InvalidInputError
from phenocell.panoptic.class_merges import ClassMap, load_class_map
from phenocell.panoptic.labelling import UNMATCHED, FovCells, scan_labels
from phenocell.records import LazyImage
from phenocell.schema import IGNORE_INDEX

FINE_CLASSES = 29


def fine_cluster_names() -> tuple[str, ...]:
    """The granular names in ``gt_ct`` order (id k ↔ element k - 1): the default class map, sorted."""
    names = tuple(sorted(load_class_map().ids))
    if len(names) != FINE_CLASSES:
        raise InvalidInputError(
            "the default class map does not list the 29 granular cluster names",
            expected=f"{FINE_CLASSES} names in phenocell/panoptic/class_map.csv",
            found=f"{len(names)} names",
            fix="restore the package's class_map.csv (user merges go in --class-map)",
        )
    return names


def fine_lookup(class_map: ClassMap) -> tuple[np.ndarray, np.ndarray]:
    """Per ``gt_ct`` id: granular name (``unmatched`` for 0) and class id (merged with ``class_map``)."""
    names = np.array([UNMATCHED, *fine_cluster_names()], dtype=object)
    classes = np.array(
        [IGNORE_INDEX] + [class_map.class_id(n, context=" (gt_ct names)") for n in names[1:]], dtype=np.uint8
    )
    return names, classes


def pixel_maps(instances: np.ndarray, fine: np.ndarray, class_map: ClassMap) -> tuple[np.ndarray, np.ndarray]:
    """The authors' pixel rule: ``(instances, semantic)`` with ignored names (dirt) 0 in both maps.

    Args:
        instances: (H, W) instance ids, 0 = background.
        fine: (H, W) granular ids 0..29.
        class_map: the merge table (with the user's overrides).

    Returns:
        The instance map without the ignored pixels, and the (H, W) uint8 class id of every pixel (0 where
        ``gt_ct`` is 0 or an ignored name).

    """
    _, classes = fine_lookup(class_map)
    ignored = classes == IGNORE_INDEX
    ignored[0] = False  # gt_ct 0 is background in their semantic map, and leaves the instance alone
    lut = np.where(classes == IGNORE_INDEX, 0, classes).astype(np.uint8)
    return np.where(ignored[fine], 0, instances), lut[fine]


def _majority_fine(index: np.ndarray, fine: np.ndarray, n: int) -> tuple[np.ndarray, int]:
    """Most frequent granular id per label (ties: the smaller id) and the number of mixed labels."""
    counts = np.bincount(index * (FINE_CLASSES + 1) + fine, minlength=n * (FINE_CLASSES + 1))
    counts = counts.reshape(n, FINE_CLASSES + 1)
    mixed = int(((counts > 0).sum(axis=1) > 1).sum())
    return counts.argmax(axis=1), mixed


def cells_from_maps(
    instances: np.ndarray,
    fine: np.ndarray,
    class_map: ClassMap,
    *,
    path: Path,
    mpp: float,
    fov_index: int,
    min_area_px: float,
    markers: np.ndarray | None = None,
) -> FovCells:
    """Label every instance of one FoV from its ``gt_ct`` pixels (QC failures get 255).

    Args:
        instances: (H, W) instance ids, 0 = background.
        fine: (H, W) granular ids 0..29.
        class_map: the merge table (with the user's overrides).
        path: the source file (for messages).
        mpp: pixel size in µm.
        fov_index: the FoV's index; global cell ids are ``fov_index << 32 | instance id``.
        min_area_px: instances smaller than this are ignored.
        markers: optional (n instances, n markers) means, rows in sorted instance order.

    """
    stats = scan_labels(LazyImage(Path(path), instances, mpp))
    n = len(stats.labels)
    fg = instances > 0
    index = np.searchsorted(stats.labels, instances[fg])
    fine_of, mixed = _majority_fine(index, fine[fg].astype(np.int64), n)
    names_lut, class_lut = fine_lookup(class_map)
    names = names_lut[fine_of]
    classes = class_lut[fine_of].copy()
    small = stats.area < min_area_px
    qc: dict[str, float] = {
        "table_rows": 0,
        "rows_without_mask_label": 0,
        "rows_sharing_a_label": 0,
        "labels": n,
        "unmatched_labels": int((fine_of == 0).sum()),
        "dirt_or_ignored": int(((classes == IGNORE_INDEX) & (fine_of > 0)).sum()),
        "below_min_area": int((small & (classes != IGNORE_INDEX)).sum()),
        "labels_with_mixed_gt_ct": mixed,
        "gt_ct_pixels_outside_instances": int(((fine > 0) & ~fg).sum()),
    }
    classes[small] = IGNORE_INDEX
    cell_ids = (np.int64(fov_index) << np.int64(32)) | stats.labels.astype(np.int64)
    values = np.zeros((n, 0), dtype=np.float32) if markers is None else markers.astype(np.float32)
    return FovCells(stats.labels, cell_ids, classes, names, stats.area, stats.cy, stats.cx, values, qc)
