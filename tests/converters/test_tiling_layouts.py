"""``--tiling phenobench`` and ``--target-mpp`` through the whole conversion."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset
from PIL import Image

from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.errors import InvalidOptionError


def test_phenobench_layout_at_target_mpp(raw_export: Path, tmp_path: Path) -> None:
    # the tiny export's H&E is 256 x 320 at half the mask pixel size: at 0.377 µm/px it is 128 x 160,
    # one linspace crop per axis, centre-padded to 224
    options = CodexOptions(progress=False, tiling="phenobench", target_mpp=DEFAULT_MASK_MPP)
    out = convert(raw_export, tmp_path / "phenocell", options=options)
    ds = load_dataset(str(out), "base", split="train")
    assert set(ds["tile_size"]) == {224}
    assert {(v["x"], v["y"], v["width"], v["height"]) for v in ds["valid"]} == {(32, 48, 160, 128)}
    assert {round(m, 5) for m in ds["mpp"]} == {round(DEFAULT_MASK_MPP, 5)}
    assert ds[0]["image"].size == (224, 224)
    card = (out / "README.md").read_text()
    assert "phenobench" in card


def test_default_layout_is_the_authors_crops_on_the_mask_grid(raw_export: Path, tmp_path: Path) -> None:
    # no option: the H&E (256 x 320 px at half the mask's 0.377442 µm/px) is area-averaged onto the mask
    # grid (128 x 160 px), then cut as the authors cut it: ceil(128 / 224) = ceil(160 / 224) = 1 crop per
    # axis, so one 128 x 160 crop per FoV, centre-padded to 224 (32 columns left, 48 rows above)
    out = convert(raw_export, tmp_path / "phenocell", options=CodexOptions(progress=False))
    ds = load_dataset(str(out), "base", split="train")
    assert set(ds["tile_size"]) == {224} and len(ds) == len(set(ds["fov"]))  # one tile per FoV
    assert {(v["x"], v["y"], v["width"], v["height"]) for v in ds["valid"]} == {(32, 48, 160, 128)}
    assert {round(m, 5) for m in ds["mpp"]} == {round(DEFAULT_MASK_MPP, 5)}
    he = np.asarray(Image.open(raw_export / "he" / f"{ds[0]['fov']}.tif").convert("RGB"), dtype=float)
    tile = np.asarray(ds[0]["image"].convert("RGB"), dtype=float)
    area_mean = he[:256, :320].reshape(128, 2, 160, 2, 3).mean(axis=(1, 3))  # 2 x 2 H&E px per mask px
    assert np.abs(tile[48:176, 32:192] - area_mean).max() <= 1.0  # rounding to uint8
    manifest = json.loads((out / "manifest.json").read_text())
    assert (manifest["options"]["tiling"], manifest["options"]["pixel_grid"]) == ("phenobench", "mask")
    assert "on the mask grid" in (out / "README.md").read_text()


def test_pixel_grid_he_cuts_the_he_pixels(raw_export: Path, tmp_path: Path) -> None:
    # 256 x 320 H&E px: ceil(256 / 224) = ceil(320 / 224) = 2 crops per axis of 128 x 160, at the H&E's mpp
    options = CodexOptions(progress=False, pixel_grid="he")
    ds = load_dataset(str(convert(raw_export, tmp_path / "he", options=options)), "base", split="train")
    assert len(ds) == 4 * len(set(ds["fov"])) and set(ds["tile_size"]) == {224}
    assert {round(m, 5) for m in ds["mpp"]} == {round(DEFAULT_MASK_MPP / 2, 5)}


def test_grid_rows_have_a_full_valid_box(dataset_dir: Path) -> None:
    ds = load_dataset(str(dataset_dir), "base", split="test")
    assert all(v == {"x": 0, "y": 0, "width": 128, "height": 128} for v in ds["valid"])


def test_bad_tiling_options() -> None:
    with pytest.raises(InvalidOptionError, match="tiling"):
        CodexOptions(tiling="hexagons")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="target pixel size"):
        CodexOptions(target_mpp=-1.0)
