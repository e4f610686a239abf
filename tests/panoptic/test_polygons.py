"""Polygon (GeoJSON) segmentations: same masks as label TIFFs, overlaps resolved and reported."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from shapely.geometry import box

from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.errors import CorruptInputError
from phenocell.readers.polygons import label_polygons, read_polygons, write_geojson
from phenocell.synthetic import synthesize

from ..conftest import codex_data


def _partition_equal(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = set(zip(a.ravel().tolist(), b.ravel().tolist(), strict=True))
    return len(pairs) == len({x for x, _ in pairs}) == len({y for _, y in pairs})


def test_polygons_and_label_tiffs_convert_to_the_same_masks(raw_export: Path, tmp_path: Path) -> None:
    options = dataclasses.replace(codex_data.TINY, segmentation="polygons")
    raw_poly = synthesize(tmp_path / "raw_poly", options=options, progress=False)
    assert list((raw_poly / "polygons").glob("*.geojson")) and not (raw_poly / "masks").exists()
    opts = CodexOptions(tiling="grid", pixel_grid="he", tile_size=codex_data.TILE, progress=False)
    a = load_dataset(str(convert(raw_export, tmp_path / "tiff", options=opts)), "base")
    b = load_dataset(str(convert(raw_poly, tmp_path / "poly", options=opts)), "base")
    for split in ("train", "validation", "test"):
        assert a[split]["tile_id"] == b[split]["tile_id"]
        for ra, rb in zip(a[split], b[split], strict=True):
            np.testing.assert_array_equal(np.asarray(ra["semantic_mask"]), np.asarray(rb["semantic_mask"]))
            assert _partition_equal(np.asarray(ra["instance_mask"]), np.asarray(rb["instance_mask"]))
            assert [c["cell_id"] for c in ra["cells"]] == [c["cell_id"] for c in rb["cells"]]


def test_vectorise_then_rasterise_is_exact() -> None:
    rng = np.random.default_rng(0)
    labels = np.kron(rng.integers(0, 6, (12, 12)), np.ones((3, 3), dtype=np.int64)) * 70001
    polys = label_polygons(labels)
    assert all(p.is_valid for p in polys.values())
    from rasterio.features import rasterize

    again = rasterize([(g, k) for k, g in polys.items()], out_shape=labels.shape, dtype="uint32")
    np.testing.assert_array_equal(again, labels)


def test_overlapping_outlines_are_resolved_deterministically_and_counted(tmp_path: Path) -> None:
    big, small = box(0, 0, 10, 10), box(6, 6, 14, 14)  # 16 px shared
    grid = {"mpp": 0.5, "height": 16, "width": 16}
    write_geojson(tmp_path / "a.geojson", {1: big, 2: small}, grid)
    write_geojson(tmp_path / "b.geojson", {2: small, 1: big}, grid)
    mask_a, stats_a = read_polygons(tmp_path / "a.geojson", mpp=1.0)
    mask_b, stats_b = read_polygons(tmp_path / "b.geojson", mpp=1.0)
    np.testing.assert_array_equal(mask_a.array, mask_b.array)
    assert stats_a == stats_b == {"contested_pixels": 16, "repaired_polygons": 0}
    assert (mask_a.array == 2).sum() == 64 and mask_a.mpp == 0.5  # the smaller cell stays whole


def test_corrupt_geojson(tmp_path: Path) -> None:
    (tmp_path / "x.geojson").write_text("{not json")
    with pytest.raises(CorruptInputError, match="cannot read GeoJSON"):
        read_polygons(tmp_path / "x.geojson", mpp=1.0, shape_hw=(4, 4))
    (tmp_path / "y.geojson").write_text(
        json.dumps({"type": "FeatureCollection", "features": [{"type": "Feature"}]})
    )
    with pytest.raises(CorruptInputError, match="bad feature 0"):
        read_polygons(tmp_path / "y.geojson", mpp=1.0, shape_hw=(4, 4))


def test_invalid_outline_is_repaired_and_counted(tmp_path: Path) -> None:
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [8, 8], [8, 0], [0, 8], [0, 0]]]}
    doc = {
        "type": "FeatureCollection",
        "phenocell": {"mpp": 1.0, "height": 10, "width": 10},
        "features": [{"type": "Feature", "properties": {"label": 3}, "geometry": bowtie}],
    }
    (tmp_path / "b.geojson").write_text(json.dumps(doc))
    mask, stats = read_polygons(tmp_path / "b.geojson", mpp=1.0)
    assert stats["repaired_polygons"] == 1 and (mask.array == 3).sum() > 0
