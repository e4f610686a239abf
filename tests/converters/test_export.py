"""QuPath GeoJSON export: valid polygons whose rasterisation matches the instance masks."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import tifffile
from click.testing import CliRunner
from rasterio.features import rasterize
from shapely.geometry import shape

from phenocell.cli import main
from phenocell.schema import CLASS_NAMES


def test_export_rasterises_back_to_the_instance_masks(raw_export: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["export", "geojson", str(raw_export), "--out", str(tmp_path / "geo")])
    assert result.exit_code == 0, result.output
    ious = []
    for path in sorted((tmp_path / "geo").glob("*.geojson")):
        doc = json.loads(path.read_text())
        mask = tifffile.imread(raw_export / "masks" / f"{path.stem}.tif").astype(np.int64)
        he_shape = tifffile.imread(raw_export / "he" / f"{path.stem}.tif").shape[:2]
        scale = he_shape[0] // mask.shape[0]  # the fixture's H&E is exactly 2x finer than its mask
        assert scale == 2 and he_shape == (mask.shape[0] * scale, mask.shape[1] * scale)
        instance = mask.repeat(scale, axis=0).repeat(scale, axis=1)  # each mask pixel covers 2 x 2 H&E pixels
        geoms = [(shape(f["geometry"]), f["properties"]) for f in doc["features"]]
        assert geoms and all(g.is_valid for g, _ in geoms)
        names = {p["classification"]["name"] for _, p in geoms}
        assert names <= {*CLASS_NAMES[1:], "ignore"} and all(p["objectType"] == "detection" for _, p in geoms)
        for geom, props in geoms:
            drawn = rasterize([(geom, 1)], out_shape=instance.shape, dtype="uint8").astype(bool)
            truth = instance == props["label"]
            ious.append((drawn & truth).sum() / (drawn | truth).sum())
            assert props["cell_id"] & 0xFFFFFFFF == props["label"]
    print(f"GeoJSON export: {len(ious)} cells, mean IoU {np.mean(ious):.4f}, min IoU {np.min(ious):.4f}")
    assert np.min(ious) > 0.98  # exact here: integer scale, outlines traced from the mask itself


def test_a_failing_fov_leaves_no_partial_export(raw_copy: Path, tmp_path: Path) -> None:
    (raw_copy / "masks" / "reg002_A.tif").write_bytes(b"broken")
    kept = tmp_path / "existing"
    kept.mkdir()
    (kept / "notes.txt").write_text("mine")
    for out, overwrite, expected in (
        (tmp_path / "new", [], None),
        (tmp_path / "empty", ["--overwrite"], []),
        (kept, [], ["notes.txt"]),
    ):
        if expected == []:
            out.mkdir()
        args = ["export", "geojson", str(raw_copy), "--out", str(out), "--workers", "1", *overwrite]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 2
        assert ("already exists" if out == kept else "cannot decode TIFF") in result.output
        listing = sorted(p.name for p in out.iterdir()) if out.exists() else None
        assert listing == expected
