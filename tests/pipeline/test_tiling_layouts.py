"""``--tiling phenobench`` and ``--target-mpp`` through the whole conversion."""

from __future__ import annotations

from pathlib import Path

import pytest
from datasets import load_dataset

from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.errors import InvalidOptionError
from phenocell.pipeline.convert import ConvertOptions, convert


def test_phenobench_layout_at_target_mpp(raw_export: Path, tmp_path: Path) -> None:
    # the tiny export's H&E is 256 x 320 at half the mask pixel size: at 0.377 µm/px it is 128 x 160,
    # one linspace crop per axis, centre-padded to 224
    options = ConvertOptions(progress=False, tiling="phenobench", target_mpp=DEFAULT_MASK_MPP)
    out = convert(raw_export, tmp_path / "phenocell", options=options)
    ds = load_dataset(str(out), "base", split="train")
    assert set(ds["tile_size"]) == {224}
    assert {(v["x"], v["y"], v["width"], v["height"]) for v in ds["valid"]} == {(32, 48, 160, 128)}
    assert {round(m, 5) for m in ds["mpp"]} == {round(DEFAULT_MASK_MPP, 5)}
    assert ds[0]["image"].size == (224, 224)
    card = (out / "README.md").read_text()
    assert "phenobench" in card


def test_grid_rows_have_a_full_valid_box(dataset_dir: Path) -> None:
    ds = load_dataset(str(dataset_dir), "base", split="test")
    assert all(v == {"x": 0, "y": 0, "width": 128, "height": 128} for v in ds["valid"])


def test_bad_tiling_options() -> None:
    with pytest.raises(InvalidOptionError, match="tiling"):
        ConvertOptions(tiling="hexagons")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="target pixel size"):
        ConvertOptions(target_mpp=-1.0)
