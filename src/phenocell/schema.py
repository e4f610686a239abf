"""The one declaration of the PhenoCell features, class names and mask dtypes.

Masks are stored as PNG bytes inside ``datasets.Image`` columns so the Hub viewer shows them:
``semantic_mask`` as 8-bit grayscale (0 background, 1..14 classes, 255 ignore) and ``instance_mask`` as
16-bit grayscale with tile-local ids 1..65535 (a 256-1024 px tile never holds that many cells; more is an
error, never a silent wrap). ``datasets`` would turn a plain uint16/uint32 array into TIFF bytes and downcast
int64 with only a warning, so the encoders here cast explicitly and check the range.

``datasets`` (and pandas under it) is imported only when a schema is first built (:func:`features_for`,
:data:`FEATURES`, :data:`CELL_FEATURES`), so modules that need only the names and dtypes here import fast.
"""

from __future__ import annotations

import functools
import io
from typing import TYPE_CHECKING, Any

import numpy as np
from PIL import Image

from phenocell.errors import InvalidInputError
from phenocell.profiles import PHENOCELL, DatasetProfile

if TYPE_CHECKING:
    import datasets

    #: The row schema of PhenoCell itself (``features_for(PHENOCELL)``), built on first use.
    FEATURES: datasets.Features
    #: The schema of one ``cells`` record, built on first use.
    CELL_FEATURES: dict[str, Any]

CLASS_NAMES: tuple[str, ...] = PHENOCELL.class_names
#: RGB display colour per class id (overlays, QC pages, QuPath exports); ignore is grey.
CLASS_COLORS: tuple[tuple[int, int, int], ...] = PHENOCELL.class_colors
IGNORE_COLOR = (200, 200, 200)
NUM_CLASSES = len(CLASS_NAMES) - 1  # 14 cell classes; id 0 is background
BACKGROUND = 0
IGNORE_INDEX = 255  # ignored cells in semantic masks (dirt, no table row, QC-removed)
IGNORE_RECORD = -1  # the same cells in `cells` records: a ClassLabel stores "no label" as -1
IGNORE_NAME = "ignore"
SEMANTIC_DTYPE = np.dtype(np.uint8)


def mask_to_record(class_id: int) -> int:
    """A semantic-mask class id (255 = ignore) as a cell-record label (-1 = ignore)."""
    return IGNORE_RECORD if int(class_id) == IGNORE_INDEX else int(class_id)


def record_to_mask(label: int) -> int:
    """A cell-record label (-1 = ignore) as a semantic-mask class id (255 = ignore)."""
    return IGNORE_INDEX if int(label) == IGNORE_RECORD else int(label)


def class_name(class_id: int) -> str:
    """The class name of a mask id or record label; both ignore conventions give ``"ignore"``."""
    return IGNORE_NAME if int(class_id) in (IGNORE_INDEX, IGNORE_RECORD) else CLASS_NAMES[int(class_id)]


INSTANCE_DTYPE = np.dtype(np.uint16)
MAX_TILE_INSTANCES = int(np.iinfo(INSTANCE_DTYPE).max)


def features_for(profile: DatasetProfile) -> datasets.Features:
    """The row schema of a dataset with ``profile``'s classes; every profile shares the same columns."""
    import datasets

    cell_features = {
        "instance_id": datasets.Value("uint16"),
        "cell_id": datasets.Value("int64"),
        "label": datasets.ClassLabel(names=list(profile.class_names)),
        "granular_name": datasets.Value("string"),
        "centroid_x": datasets.Value("float32"),
        "centroid_y": datasets.Value("float32"),
        "area": datasets.Value("int32"),
        "markers": datasets.List(datasets.Value("float32")),
    }
    return datasets.Features(
        {
            "tile_id": datasets.Value("string"),
            "image": datasets.Image(),
            "instance_mask": datasets.Image(),
            "semantic_mask": datasets.Image(),
            "cells": datasets.List(cell_features),
            "fov": datasets.Value("string"),
            "patient": datasets.Value("string"),
            "group": datasets.Value("string"),
            "tumor_type": datasets.ClassLabel(names=["adenocarcinoma", "mucinous"]),
            "stage": datasets.Value("int8"),
            # FoV position of the tile's pixel (0, 0) on the H&E grid; negative where a padded tile starts
            "tile_x": datasets.Value("int32"),
            "tile_y": datasets.Value("int32"),
            "tile_size": datasets.Value("int32"),
            # the crop inside the tile (tile pixels); outside it is padding that no metric should count
            "valid": {
                "x": datasets.Value("int32"),
                "y": datasets.Value("int32"),
                "width": datasets.Value("int32"),
                "height": datasets.Value("int32"),
            },
            "mpp": datasets.Value("float32"),
        }
    )


@functools.cache
def _phenocell_features() -> datasets.Features:
    return features_for(PHENOCELL)


def __getattr__(name: str) -> Any:
    """``FEATURES`` and ``CELL_FEATURES``, built (importing ``datasets``) when first asked for."""
    if name == "FEATURES":
        return _phenocell_features()
    if name == "CELL_FEATURES":
        return _phenocell_features()["cells"].feature
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


#: zlib level of the PNG tiles (``--png-level``); 6 is what every earlier version wrote.
PNG_LEVEL = 6


def _png_bytes(image: Image.Image, level: int = PNG_LEVEL) -> dict[str, Any]:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=level)
    return {"bytes": buffer.getvalue(), "path": None}


def _check_range(array: np.ndarray, dtype: np.dtype, what: str) -> None:
    if array.ndim != 2:
        raise InvalidInputError(
            f"{what} must be 2-D", expected="(H, W) array", found=f"shape {array.shape}", fix="pass one mask"
        )
    info = np.iinfo(dtype)
    lo, hi = (int(array.min()), int(array.max())) if array.size else (0, 0)
    if lo < info.min or hi > info.max:
        raise InvalidInputError(
            f"{what} values do not fit {dtype}",
            expected=f"values in [{info.min}, {info.max}]",
            found=f"values in [{lo}, {hi}]",
            fix="relabel the mask (tile-local ids) or use a smaller tile size",
        )


def encode_rgb(image: np.ndarray, level: int = PNG_LEVEL) -> dict[str, Any]:
    """Encode an (H, W, 3) uint8 RGB tile as lossless PNG bytes (zlib ``level``)."""
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise InvalidInputError(
            "H&E tile must be RGB uint8",
            expected="(H, W, 3) uint8",
            found=f"{image.shape} {image.dtype}",
            fix="convert the H&E image to 8-bit RGB",
        )
    return _png_bytes(Image.fromarray(image, mode="RGB"), level)


def encode_semantic(mask: np.ndarray, level: int = PNG_LEVEL) -> dict[str, Any]:
    """Encode a semantic mask (0 bg, 1..14, 255 ignore) as 8-bit PNG bytes (zlib ``level``)."""
    _check_range(mask, SEMANTIC_DTYPE, "semantic mask")
    return _png_bytes(Image.fromarray(mask.astype(SEMANTIC_DTYPE), mode="L"), level)


def encode_instance(mask: np.ndarray, level: int = PNG_LEVEL) -> dict[str, Any]:
    """Encode a tile-local instance mask as 16-bit PNG bytes (lossless for 0..65535; zlib ``level``)."""
    _check_range(mask, INSTANCE_DTYPE, "instance mask")
    return _png_bytes(Image.fromarray(mask.astype(INSTANCE_DTYPE)), level)


def decode_mask(value: Any, dtype: np.dtype) -> np.ndarray:
    """Turn a decoded ``datasets.Image`` value (PIL image or ``{"bytes": ...}``) into a ``dtype`` array."""
    if isinstance(value, dict):
        value = Image.open(io.BytesIO(value["bytes"]))
    return np.asarray(value).astype(dtype, copy=False)
