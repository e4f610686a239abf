"""Tiling layouts: the authors' 7 x 9 linspace crops, padded to 224, whose valid boxes rebuild the FoV."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.errors import InvalidOptionError
from phenocell.panoptic.labelling import FovCells
from phenocell.panoptic.tile_layouts import linspace_edges, phenobench_boxes, resample_he
from phenocell.panoptic.tiling import TileSpec, iter_tiles, tile_boxes
from phenocell.records import LazyImage
from phenocell.schema import IGNORE_INDEX
from phenocell.synthetic.export import PHENOBENCH_FOV
from phenocell.synthetic.tissue import draw_index_mask, sample_cells


@pytest.fixture(scope="module")
def fov() -> tuple[LazyImage, LazyImage, FovCells]:
    """One 1440 x 1920 FoV: synthetic cells, H&E and mask on the same grid (native resolution)."""
    rng = np.random.default_rng(4)
    index = draw_index_mask(sample_cells(rng, PHENOBENCH_FOV, DEFAULT_MASK_MPP), PHENOBENCH_FOV)
    labels = np.unique(index)[1:]
    n = len(labels)
    classes = rng.integers(1, 15, n).astype(np.uint8)
    classes[::17] = IGNORE_INDEX
    yy, xx = np.indices(index.shape)
    area = np.bincount(index.ravel(), minlength=n + 1)[labels]
    cy = np.bincount(index.ravel(), yy.ravel(), minlength=n + 1)[labels] / area
    cx = np.bincount(index.ravel(), xx.ravel(), minlength=n + 1)[labels] / area
    cells = FovCells(
        labels,
        labels.astype(np.int64),
        classes,
        np.full(n, "x", dtype=object),
        area,
        cy,
        cx,
        np.zeros((n, 0), np.float32),
    )
    he = rng.integers(1, 256, (*PHENOBENCH_FOV, 3), dtype=np.uint8)
    path = Path("fov.tif")
    return LazyImage(path, he, DEFAULT_MASK_MPP), LazyImage(path, index, DEFAULT_MASK_MPP), cells


def _png(value: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(value["bytes"])))


def test_authors_crop_edges() -> None:
    assert linspace_edges(1440) == [0, 205, 411, 617, 822, 1028, 1234, 1440]
    assert linspace_edges(1920) == [0, 213, 426, 640, 853, 1066, 1280, 1493, 1706, 1920]
    boxes = phenobench_boxes(1440, 1920)
    assert len(boxes) == 63 and {(b.height, b.width) for b in boxes} <= {
        (205, 213),
        (206, 213),
        (205, 214),
        (206, 214),
    }
    assert boxes[0].valid() == {
        "x": 5,
        "y": 9,
        "width": 213,
        "height": 205,
    }  # (224 - 205) // 2 = 9 rows above


def test_phenobench_tiles_rebuild_the_fov(fov: tuple[LazyImage, LazyImage, FovCells]) -> None:
    he, mask, cells = fov
    rows = list(iter_tiles(he, mask, cells, TileSpec(), {"fov": "reg001_A"}, layout="phenobench"))
    assert len(rows) == 63
    covered = np.zeros(PHENOBENCH_FOV, dtype=np.int32)
    semantic = np.full(PHENOBENCH_FOV, 77, dtype=np.uint8)
    instance = np.zeros(PHENOBENCH_FOV, dtype=np.int64)
    image = np.zeros((*PHENOBENCH_FOV, 3), dtype=np.uint8)
    for row in rows:
        sem, inst, rgb = _png(row["semantic_mask"]), _png(row["instance_mask"]), _png(row["image"])
        assert (
            sem.shape == inst.shape == (224, 224) and rgb.shape == (224, 224, 3) and row["tile_size"] == 224
        )
        v = row["valid"]
        inside = (slice(v["y"], v["y"] + v["height"]), slice(v["x"], v["x"] + v["width"]))
        pad = np.ones((224, 224), bool)
        pad[inside] = False
        assert not sem[pad].any() and not inst[pad].any() and not rgb[pad].any()  # padding is zero
        y0, x0 = row["tile_y"] + v["y"], row["tile_x"] + v["x"]
        target = (slice(y0, y0 + v["height"]), slice(x0, x0 + v["width"]))
        covered[target] += 1
        semantic[target] = sem[inside]
        image[target] = rgb[inside]
        to_global = np.zeros(len(row["cells"]) + 1, dtype=np.int64)  # tile-local id -> global cell id
        for cell in row["cells"]:
            to_global[cell["instance_id"]] = cell["cell_id"]
        instance[target] = to_global[inst[inside]]
    assert (covered == 1).all()  # the valid boxes tile the FoV exactly once
    class_of_label = np.zeros(int(mask.array.max()) + 1, dtype=np.uint8)  # a dense table, label -> class
    for label, class_id in zip(cells.labels.tolist(), cells.class_ids.tolist(), strict=True):
        class_of_label[label] = class_id
    assert np.array_equal(semantic, class_of_label[mask.array])  # background (label 0) stays 0
    assert np.array_equal(instance, mask.array)  # cell ids here are the labels themselves
    assert np.array_equal(image, he.array)


def test_grid_layout_is_unchanged() -> None:
    boxes = tile_boxes(512, 640, TileSpec(256), "grid", "f")
    assert [(b.y0, b.x0) for b in boxes] == [(0, 0), (0, 256), (0, 384), (256, 0), (256, 256), (256, 384)]
    assert all(b.valid() == {"x": 0, "y": 0, "width": 256, "height": 256} for b in boxes)


def test_resample_he_by_area() -> None:
    array = np.zeros((8, 8, 3), dtype=np.uint8)
    array[::2, ::2] = 200  # one bright pixel per 2 x 2 block: the block mean is 50
    he = LazyImage(Path("x.tif"), array, 0.25)
    half = resample_he(he, 0.5)
    assert half.shape == (4, 4, 3) and half.mpp == pytest.approx(0.5) and (half.array == 50).all()
    assert resample_he(he, 0.25) is he
    with pytest.raises(InvalidOptionError, match="target pixel size"):
        resample_he(he, 100.0)
