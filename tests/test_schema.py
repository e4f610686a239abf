"""Mask dtypes round-trip at their limits through datasets + parquet."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from phenocell.errors import InvalidInputError
from phenocell.schema import FEATURES, INSTANCE_DTYPE, encode_instance, encode_rgb, encode_semantic
from phenocell.storage.writer import write_shard


def _row(instance: np.ndarray, semantic: np.ndarray, cell_id: int) -> dict:
    size = instance.shape[0]
    cell = {
        "instance_id": 65535,
        "cell_id": cell_id,
        "label": 14,
        "granular_name": "undefined",
        "centroid_x": 1.5,
        "centroid_y": 2.5,
        "area": 3,
        "markers": [1.0, None],
    }
    return {
        "tile_id": "t",
        "image": encode_rgb(np.zeros((size, size, 3), np.uint8)),
        "instance_mask": encode_instance(instance),
        "semantic_mask": encode_semantic(semantic),
        "cells": [cell],
        "fov": "reg001_A",
        "patient": "1",
        "group": "1",
        "tumor_type": "mucinous",
        "stage": 4,
        "tile_x": 0,
        "tile_y": 0,
        "tile_size": size,
        "mpp": 0.19,
    }


def test_mask_values_at_dtype_limits_round_trip(tmp_path: Path) -> None:
    instance = np.array([[0, 1, 255, 256], [65534, 65535, 0, 0], [0, 0, 0, 0], [0, 0, 0, 0]], dtype=np.int64)
    semantic = np.array([[0, 1, 14, 255]] * 4, dtype=np.int64)
    (tmp_path / "d").mkdir()
    write_shard(tmp_path / "d" / "x.parquet", [_row(instance, semantic, 2**40 + 70000)])
    row = load_dataset("parquet", data_files=str(tmp_path / "d" / "x.parquet"), split="train").cast(FEATURES)[
        0
    ]
    np.testing.assert_array_equal(np.asarray(row["instance_mask"]).astype(np.int64), instance)
    np.testing.assert_array_equal(np.asarray(row["semantic_mask"]).astype(np.int64), semantic)
    assert row["cells"][0]["cell_id"] == 2**40 + 70000 and row["cells"][0]["instance_id"] == 65535
    assert row["cells"][0]["markers"] == [1.0, None]


@pytest.mark.parametrize("value", [65536, -1, 2**40])
def test_instance_ids_outside_uint16_are_refused(value: int) -> None:
    with pytest.raises(InvalidInputError, match=f"do not fit {INSTANCE_DTYPE}"):
        encode_instance(np.array([[0, value]], dtype=np.int64))


def test_semantic_outside_uint8_is_refused() -> None:
    with pytest.raises(InvalidInputError, match="do not fit uint8"):
        encode_semantic(np.array([[256]]))
