"""Converting the authors' per-FoV HDF5 export: masks recomputed independently from gt_ct / gt_inst."""

from __future__ import annotations

import csv
import io
import json
import shutil
from importlib import resources
from pathlib import Path

import h5py
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from phenocell.cli import convert_main
from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.converters.driver import convert
from phenocell.converters.options import Hdf5Options
from phenocell.errors import InvalidInputError, InvalidOptionError, MissingInputError
from phenocell.schema import CLASS_NAMES

#: gt_ct id k ↔ FINE_NAMES[k - 1]: the 29 ClusterNames sorted alphabetically, as the authors number them.
FINE_NAMES = (
    "B cells",
    "CD11b+ monocytes",
    "CD11b+CD68+ macrophages",
    "CD11c+ DCs",
    "CD163+ macrophages",
    "CD3+ T cells",
    "CD4+ T cells",
    "CD4+ T cells CD45RO+",
    "CD4+ T cells GATA3+",
    "CD68+ macrophages",
    "CD68+ macrophages GzmB+",
    "CD68+CD163+ macrophages",
    "CD8+ T cells",
    "NK cells",
    "Tregs",
    "adipocytes",
    "dirt",
    "granulocytes",
    "immune cells",
    "immune cells / vasculature",
    "lymphatics",
    "nerves",
    "plasma cells",
    "smooth muscle",
    "stroma",
    "tumor cells",
    "tumor cells / immune cells",
    "undefined",
    "vasculature",
)
MIN_AREA_UM2 = 10.0  # a user's --min-cell-area (the HDF5 default is none, as the authors')
DIRT = FINE_NAMES.index("dirt") + 1


def _fine_lut(ignore: int) -> np.ndarray:
    """gt_ct id → expected semantic value: 0 background; ``ignore`` for dirt and unclassified instances."""
    text = resources.files("phenocell.panoptic").joinpath("class_map.csv").read_text()
    merge = {r["cluster_name"]: r["class_name"] for r in csv.DictReader(text.splitlines())}
    lut = np.full(30, ignore, dtype=np.uint8)  # id 0 inside an instance: no class
    for k, name in enumerate(FINE_NAMES, start=1):
        lut[k] = ignore if merge[name] == "ignore" else CLASS_NAMES.index(merge[name])
    return lut


def _expected_fov(path: Path, rule: str = "pixel") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """H&E, semantic, instances and ifl of one FoV (its synthetic cells carry one gt_ct id each).

    ``pixel`` (default): dirt is background in both maps, no size filter. ``majority`` with a 10 µm² minimum:
    dirt, unclassified and small cells are 255.
    """
    with h5py.File(path) as data:
        img, ifl, ct, inst = data["img"][()], data["ifl"][()], data["gt_ct"][0], data["gt_inst"][0]
    if rule == "pixel":
        semantic, inst = _fine_lut(0)[ct], np.where(ct == DIRT, 0, inst)
    else:
        semantic = np.where(inst > 0, _fine_lut(255)[ct], 0).astype(np.uint8)
        ids, area = np.unique(inst[inst > 0], return_counts=True)
        semantic[np.isin(inst, ids[area * DEFAULT_MASK_MPP**2 < MIN_AREA_UM2])] = 255
    if img.dtype == np.uint16:
        img = np.round(img / 257.0).astype(np.uint8)
    return np.moveaxis(img, 0, -1), semantic, inst, ifl


def _rows(dataset: Path):
    for shard in sorted((dataset / "data").glob("*.parquet")):
        yield from pq.read_table(shard).to_pylist()


def _decode(value: dict) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(value["bytes"])))


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    return len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1])) and bool(
        ((pairs[0] == 0) == (pairs[1] == 0)).all()
    )


def _check_tiles(raw: Path, dataset: Path, rule: str) -> tuple[int, int]:
    """Compare every tile with the FoVs under ``rule``; returns (tiles, tiles with an ignored pixel)."""
    expected = {p.stem: _expected_fov(p, rule) for p in sorted(raw.glob("*.hdf"))}
    tiles = ignored = 0
    for row in _rows(dataset):
        he, semantic, inst, _ = expected[row["fov"]]
        y, x, size = row["tile_y"], row["tile_x"], row["tile_size"]
        window = (slice(y, y + size), slice(x, x + size))
        np.testing.assert_array_equal(_decode(row["semantic_mask"]), semantic[window])
        np.testing.assert_array_equal(_decode(row["image"]), he[window])
        assert _same_partition(_decode(row["instance_mask"]).astype(np.int64), inst[window])
        tiles += 1
        ignored += int((semantic[window] == 255).any())
    return tiles, ignored


def test_every_tile_matches_gt_ct_and_gt_inst(hdf5_raw: Path, hdf5_dataset: Path) -> None:
    assert _check_tiles(hdf5_raw, hdf5_dataset, "pixel") == (6 * 9, 0)  # the authors' rule: nothing ignored


def test_majority_rule_and_min_area_ignore_dirt_unclassified_and_small_cells(
    hdf5_raw: Path, tmp_path: Path
) -> None:
    options = Hdf5Options(
        tiling="grid", tile_size=64, gt_ct_labels="majority", min_cell_area_um2=MIN_AREA_UM2, progress=False
    )
    out = convert(hdf5_raw, tmp_path / "pc", options=options)
    tiles, ignored = _check_tiles(hdf5_raw, out, "majority")
    assert tiles == 6 * 9 and ignored > 0
    departures = json.loads((out / "manifest.json").read_text())["options"]["departures"]
    assert set(departures) == {"gt_ct_labels", "min_cell_area_um2", "tiling"}


def test_markers_are_ifl_means_named_by_channel_file(hdf5_raw: Path, hdf5_dataset: Path) -> None:
    manifest = json.loads((hdf5_dataset / "manifest.json").read_text())
    names = (hdf5_raw / "channel_names.txt").read_text().split()
    assert manifest["markers"] == names
    _, _, inst, ifl = _expected_fov(hdf5_raw / "reg001_B.hdf")
    row = next(r for r in _rows(hdf5_dataset) if r["fov"] == "reg001_B")
    for cell in row["cells"][:5]:
        label = cell["cell_id"] & 0xFFFFFFFF
        want = ifl[:, inst == label].mean(axis=1)
        np.testing.assert_allclose(cell["markers"], want, rtol=1e-5)


def test_splits_and_card_come_from_the_same_pipeline(hdf5_raw: Path, hdf5_dataset: Path) -> None:
    splits = json.loads((hdf5_dataset / "splits.json").read_text())
    assert {"base", "tumor_type", "tumor_stage"} <= set(splits["families"])
    owners = pd.read_csv(hdf5_raw / "fov_patients.csv", dtype=str)
    assert splits["fov_patient"] == dict(zip(owners["File Name"], owners["patients"], strict=True))
    manifest = json.loads((hdf5_dataset / "manifest.json").read_text())
    assert manifest["options"]["source"] == "phenobench-hdf5"  # the format auto-detection chose
    assert "reg001_A.hdf" in manifest["inputs"]
    assert "tumor_stage_test" in (hdf5_dataset / "README.md").read_text()


def test_cli_source_choice_and_auto_detection(hdf5_raw: Path, tmp_path: Path) -> None:
    out = tmp_path / "pc"
    args = [str(hdf5_raw), "--out", str(out), "--tile-size", "64", "--source", "phenobench-hdf5", "--quiet"]
    result = CliRunner().invoke(convert_main, args)
    assert result.exit_code == 0, result.output
    assert len(list((out / "data").glob("*.parquet"))) == 6
    codex_args = [str(hdf5_raw), "--out", str(tmp_path / "c"), "--source", "codex"]
    codex = CliRunner().invoke(convert_main, codex_args)
    assert codex.exit_code == 2 and "cell table" in codex.output
    unknown_args = [str(hdf5_raw), "--out", str(tmp_path / "u"), "--source", "hdf"]
    unknown = CliRunner().invoke(convert_main, unknown_args)
    assert unknown.exit_code == 2 and "'auto', 'phenobench-hdf5'" in unknown.output
    with pytest.raises(InvalidOptionError, match="one of auto, phenobench-hdf5, authors-lmdb"):
        convert(hdf5_raw, tmp_path / "u", source="hdf")


def test_missing_patient_mapping_and_unmapped_fov(hdf5_raw: Path, tmp_path: Path) -> None:
    raw = Path(shutil.copytree(hdf5_raw, tmp_path / "raw"))
    (raw / "fov_patients.csv").unlink()
    with pytest.raises(MissingInputError, match="no FoV → patient table"):
        convert(raw, tmp_path / "a", options=Hdf5Options(progress=False))
    (raw / "fov_patients.csv").write_text("File Name,patients\nreg001_A,1\n")
    with pytest.raises(InvalidInputError, match="regions missing from the region → patient mapping"):
        convert(raw, tmp_path / "b", options=Hdf5Options(progress=False))
    assert not (tmp_path / "a").exists() and not (tmp_path / "b").exists()


def test_synth_cli_writes_an_hdf5_export_that_converts(tmp_path: Path) -> None:
    from phenocell.cli import main

    raw, out = tmp_path / "raw", tmp_path / "pc"
    args = ["synth", str(raw), "--format", "phenobench-hdf5", "--fovs", "4", "--patients", "4"]
    result = CliRunner().invoke(main, [*args, "--mask-size", "96x128"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in raw.glob("*.hdf")) == [
        "reg001_A.hdf",
        "reg001_B.hdf",
        "reg002_A.hdf",
        "reg002_B.hdf",
    ]
    result = CliRunner().invoke(convert_main, [str(raw), "--out", str(out), "--tile-size", "64", "--quiet"])
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["markers"][0] == "marker1:Cyc_1_ch_2"


def test_hdf5_export_with_the_authors_split_files(hdf5_raw: Path, authors_lmdb: Path, tmp_path: Path) -> None:
    options = Hdf5Options(tiling="grid", tile_size=64, splits_from=authors_lmdb, progress=False)
    out = convert(hdf5_raw, tmp_path / "pc", options=options)
    families = json.loads((out / "splits.json").read_text())["families"]
    with open(authors_lmdb / "splits" / "schuerch_dataset_split.csv") as handle:
        rows = list(csv.DictReader(handle))
    test = sorted(r["sample_name"][:-4] for r in rows if r["train_test_val_split"] == "test")
    assert families["base"]["splits"]["test"] == test
    assert "dii_clr" in families and families["base"]["rule"].startswith("the authors' split file")
