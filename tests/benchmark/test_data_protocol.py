"""``protocol.data``: a default run on a default conversion records no data departure; a run on a
``--tiling grid`` conversion on the H&E's own pixels lists them, and ``benchmark compare`` marks it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.report import compare
from phenocell.benchmark.run import run_benchmark
from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions

FAST = TrainConfig(steps=2, batch_size=2, lr=1e-3, warmup=1, val_every=2, workers=0, augment="none")


def _run(data: Path, out: Path, config: TrainConfig = FAST) -> dict:
    run_benchmark(
        data,
        family="base",
        encoder="test/vit-tiny",
        head="linear",
        out=out,
        config=config,
        log=lambda _: None,
    )
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def default_dataset(raw_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return convert(
        raw_export, tmp_path_factory.mktemp("default") / "phenocell", options=CodexOptions(progress=False)
    )


def test_default_run_on_a_default_conversion_has_no_data_departure(
    default_dataset: Path, tmp_path: Path
) -> None:
    doc = _run(default_dataset, tmp_path / "run")
    data = doc["protocol"]["data"]
    assert (data["tiling"], data["tile_size"], data["image_scale"]) == ("phenobench", 224, "tile_max")
    assert (
        data["mpp"] == pytest.approx(DEFAULT_MASK_MPP, rel=1e-3) and data["reference_mpp"] == DEFAULT_MASK_MPP
    )
    assert (data["family"], data["split_source"]) == ("base", "drawn")
    assert data["departures"] == {}
    assert data["resize"] == {"from": 224, "to": 128, "mode": "bicubic", "antialias": True}  # vit-tiny: 128
    assert "config_unetr_schuerch.yaml" in doc["protocol"]["reference"]
    assert "†" not in compare([tmp_path / "run"])
    assert "tiling phenobench, tiles of 224 px" in (tmp_path / "run" / "report.md").read_text()


def test_grid_conversion_lists_data_departures_and_compare_marks_it(
    dataset_dir: Path, tmp_path: Path
) -> None:
    # dataset_dir: --tiling grid --tile-size 128 --pixel-grid he (H&E at half the mask's µm/px)
    doc = _run(dataset_dir, tmp_path / "run", TrainConfig(**{**vars(FAST), "image_scale": "unit"}))
    departures = doc["protocol"]["data"]["departures"]
    assert departures["tiling"] == {"value": "grid", "reference": "phenobench"}
    assert departures["tile_size"] == {"value": 128, "reference": 224}
    assert departures["mpp"]["value"] == pytest.approx(DEFAULT_MASK_MPP / 2, rel=1e-3)
    assert departures["image_scale"] == {"value": "unit", "reference": "tile_max"}
    assert set(departures) <= set(doc["protocol"]["departures"])  # departures cover data and training
    table = compare([tmp_path / "run"])
    assert "†" in table and "not comparable with the published numbers" in table
