"""One record of the authors' LMDB release → one row of our schema (tiles kept as they are).

A record written by ``phenocell export lmdb`` carries our own maps and fields (extra keys), which are
restored exactly. A record of the authors' release has only their maps: its class ids are mapped to ours by
name (``label_dict.json``); since their data has no ignore value, dirt is background there, and instances
whose pixels are background in the semantic map (dirt kept in their instance map) are dropped. Its cells
have no granular name (the class name stands in), no markers, and ids unique per tile fragment:
``fov_index << 32 | tile_index << 16 | local id``.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np

from phenocell.errors import InvalidInputError
from phenocell.schema import (
    BACKGROUND,
    CLASS_NAMES,
    MAX_TILE_INSTANCES,
    encode_instance,
    encode_rgb,
    encode_semantic,
)
from phenocell.storage.lmdb_layout import EXTRA_INSTANCE, EXTRA_META, EXTRA_SEMANTIC

UINT16_TO_UINT8 = 257


def has_phenocell_fields(record: dict[str, Any]) -> bool:
    """Whether a record carries the extra keys of ``phenocell export lmdb``."""
    return all(key in record for key in (EXTRA_SEMANTIC, EXTRA_INSTANCE, EXTRA_META))


def image_hwc(record: dict[str, Any], source: str) -> np.ndarray:
    """The record's (3, H, W) image as (H, W, 3) uint8 (uint16 scaled by ``round(v / 257)``)."""
    image = record["image"]
    if image.shape[0] != 3 or image.dtype not in (np.uint8, np.uint16):
        raise InvalidInputError(
            f"{source}: image is not 3-channel 8/16-bit",
            expected="(3, H, W) uint8 or uint16",
            found=f"{image.shape} {image.dtype}",
            fix="pass an LMDB of RGB tiles",
        )
    if image.dtype == np.uint16:
        image = ((image.astype(np.uint32) + UINT16_TO_UINT8 // 2) // UINT16_TO_UINT8).astype(np.uint8)
    return np.ascontiguousarray(np.moveaxis(image, 0, -1))


def restore_row(record: dict[str, Any], source: str) -> dict[str, Any]:
    """The row a ``phenocell export lmdb`` record came from (our maps and fields, unchanged)."""
    try:
        meta = json.loads(record[EXTRA_META])
    except (TypeError, ValueError) as err:
        raise InvalidInputError(
            f"{source}: {EXTRA_META} is not JSON",
            expected="the JSON fields written by phenocell export lmdb",
            found=f"{type(err).__name__}: {err}",
            fix="re-export the dataset",
        ) from err
    return {
        **meta,
        "image": encode_rgb(image_hwc(record, source)),
        "semantic_mask": encode_semantic(np.asarray(record[EXTRA_SEMANTIC])),
        "instance_mask": encode_instance(np.asarray(record[EXTRA_INSTANCE])),
    }


def _remap(semantic: np.ndarray, label_map: dict[int, int], source: str) -> np.ndarray:
    present = np.unique(semantic).tolist()
    unknown = [v for v in present if v not in label_map]
    if unknown:
        raise InvalidInputError(
            f"{source}: semantic ids not in label_dict.json",
            expected=f"ids {sorted(label_map)}",
            found=f"ids {unknown}",
            fix="pass the label_dict.json of this release",
        )
    lut = np.zeros(max(present) + 1, dtype=np.uint8)
    for their_id in present:
        lut[their_id] = label_map[their_id]
    return lut[semantic]


def _cells(semantic: np.ndarray, local: np.ndarray, n: int, id_base: int) -> list[dict[str, Any]]:
    flat = local.ravel()
    area = np.bincount(flat, minlength=n + 1)
    votes = np.bincount(flat * len(CLASS_NAMES) + semantic.ravel(), minlength=(n + 1) * len(CLASS_NAMES))
    classes = votes.reshape(n + 1, len(CLASS_NAMES))[:, 1:].argmax(axis=1) + 1
    yy, xx = np.indices(local.shape)
    cy = np.bincount(flat, weights=yy.ravel(), minlength=n + 1) / np.maximum(area, 1)
    cx = np.bincount(flat, weights=xx.ravel(), minlength=n + 1) / np.maximum(area, 1)
    return [
        {
            "instance_id": j,
            "cell_id": id_base | j,
            "label": int(classes[j]),
            "granular_name": CLASS_NAMES[int(classes[j])],
            "centroid_x": float(cx[j]),
            "centroid_y": float(cy[j]),
            "area": int(area[j]),
            "markers": [],
        }
        for j in range(1, n + 1)
    ]


def authors_row(
    record: dict[str, Any], label_map: dict[int, int], *, id_base: int, source: str
) -> tuple[dict[str, Any], int]:
    """Image, maps and cells of one of the authors' records; also the number of instances dropped.

    Args:
        record: the checked record.
        label_map: their class id → ours.
        id_base: ``fov_index << 32 | tile_index << 16``, or'ed with local ids to make cell ids.
        source: where the record came from (for messages).

    """
    semantic = _remap(np.asarray(record["semantic_mask"]), label_map, source)
    instance = np.asarray(record["instance_mask"]).astype(np.int64)
    on_background = np.unique(instance[(semantic == BACKGROUND) & (instance > 0)])
    covered = np.unique(instance[(semantic != BACKGROUND) & (instance > 0)])
    dropped = np.setdiff1d(on_background, covered)
    instance[np.isin(instance, dropped)] = 0
    present, local = np.unique(instance, return_inverse=True)
    local = local.reshape(instance.shape)
    if present.size and present[0] != 0:
        local = local + 1
    n = int((present > 0).sum())
    if n > MAX_TILE_INSTANCES:
        raise InvalidInputError(
            f"{source}: too many instances for 16-bit ids",
            expected=f"at most {MAX_TILE_INSTANCES}",
            found=str(n),
            fix="split the tiles",
        )
    row = {
        "image": encode_rgb(image_hwc(record, source)),
        "semantic_mask": encode_semantic(semantic),
        "instance_mask": encode_instance(local),
        "cells": _cells(semantic, local, n, id_base),
    }
    return row, int(dropped.size)
