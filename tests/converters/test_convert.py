"""End-to-end conversion: load_dataset configs, independent recomputation of masks, determinism."""

from __future__ import annotations

import csv
import json
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from datasets import load_dataset

from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.schema import CLASS_NAMES
from phenocell.storage.writer import sha256_file

MIN_AREA_UM2 = 10.0  # the default --min-cell-area of a CODEX export


def test_default_and_family_config_return_same_rows(
    dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(dataset_dir.parent)
    a = load_dataset("phenocell", split="tumor_stage_test")
    b = load_dataset("phenocell", "tumor_stage", split="test")
    assert a.num_rows == b.num_rows > 0
    assert a["tile_id"] == b["tile_id"]
    assert a.features["cells"].feature["label"].names == list(CLASS_NAMES)
    assert set(a["stage"]) == {4}


def _independent_class_lut(raw: Path, fov: str, mask: np.ndarray, mpp: float) -> dict[int, int]:
    """label -> semantic value, recomputed from the raw files without the converter's code."""
    text = resources.files("phenocell.panoptic").joinpath("class_map.csv").read_text()
    names = {row["cluster_name"]: row["class_name"] for row in csv.DictReader(text.splitlines())}
    class_id = {n: (255 if c == "ignore" else CLASS_NAMES.index(c)) for n, c in names.items()}
    table = pd.read_csv(raw / "CRC_clusters_neighborhoods_markers.csv")
    rows = table[table["File Name"] == fov]
    by_label = dict(zip(rows["Index in File"], rows["ClusterName"], strict=True))
    labels, area = np.unique(mask[mask > 0], return_counts=True)
    lut = {0: 0}
    for label, px in zip(labels.tolist(), area.tolist(), strict=True):
        if label not in by_label or px * mpp**2 < MIN_AREA_UM2:
            lut[label] = 255
        else:
            lut[label] = class_id[by_label[label]]
    return lut


def test_every_tile_matches_masks_recomputed_from_raw(raw_export: Path, dataset_dir: Path) -> None:
    ds = load_dataset(str(dataset_dir), "base")
    fov_order = sorted(
        pd.read_csv(raw_export / "CRC_clusters_neighborhoods_markers.csv")["File Name"].unique()
    )
    checked = 0
    for split in ds.values():
        for row in split:
            fov = row["fov"]
            with tifffile.TiffFile(raw_export / "masks" / f"{fov}.tif") as tif:
                mask = tif.asarray().astype(np.int64)
                num, den = tif.pages[0].tags["XResolution"].value
            mpp = 1e4 * den / num
            lut = _independent_class_lut(raw_export, fov, mask, mpp)
            he_mask = mask.repeat(2, axis=0).repeat(2, axis=1)  # 2:1 nearest neighbour, the synth's scale
            y, x, t = row["tile_y"], row["tile_x"], row["tile_size"]
            raw_tile = he_mask[y : y + t, x : x + t]
            expected = np.vectorize(lut.__getitem__)(raw_tile)
            np.testing.assert_array_equal(np.asarray(row["semantic_mask"]), expected)
            decoded = np.asarray(row["instance_mask"])
            assert decoded.dtype == np.uint16  # lossless 16-bit PNG, not downcast to 8 bit
            inst = decoded.astype(np.int64)
            assert (inst > 0).sum() == (raw_tile > 0).sum()
            # the local ids are a relabelling of the raw labels (same partition) and cell ids carry the label
            pairs = {(a, b) for a, b in zip(inst.ravel().tolist(), raw_tile.ravel().tolist(), strict=True)}
            assert len(pairs) == len({a for a, _ in pairs}) == len({b for _, b in pairs})
            fov_index = fov_order.index(fov) + 1
            local_to_raw = dict(pairs)
            for cell in row["cells"]:
                assert cell["cell_id"] == (fov_index << 32) | local_to_raw[cell["instance_id"]]
            checked += 1
    assert checked == sum(s.num_rows for s in ds.values()) > 0


def test_uint32_label_ids_above_65535_survive(raw_export: Path, dataset_dir: Path) -> None:
    wide = [p for p in sorted((raw_export / "masks").glob("*.tif")) if tifffile.imread(p).dtype == np.uint32]
    assert wide, "the synthetic export must contain uint32 masks"
    big = int(tifffile.imread(wide[0]).max())
    assert big > 65535
    ds = load_dataset(str(dataset_dir), "base")
    labels = {
        c["cell_id"] & 0xFFFFFFFF
        for s in ds.values()
        for r in s
        if r["fov"] == wide[0].stem
        for c in r["cells"]
    }
    assert big in labels


def test_same_seed_gives_byte_identical_output(raw_export: Path, tmp_path: Path) -> None:
    opts = CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False)
    a, b = (
        convert(raw_export, tmp_path / "a", options=opts),
        convert(raw_export, tmp_path / "b", options=opts),
    )
    for name in [
        "splits.json",
        "manifest.json",
        "README.md",
        *[f"data/{p.name}" for p in (a / "data").iterdir()],
    ]:
        assert sha256_file(a / name) == sha256_file(b / name), name


def test_manifest_hashes_and_counts_match_files(dataset_dir: Path) -> None:
    manifest = json.loads((dataset_dir / "manifest.json").read_text())
    assert manifest["shards"]
    for shard, meta in manifest["shards"].items():
        assert sha256_file(dataset_dir / shard) == meta["sha256"]
        assert pd.read_parquet(dataset_dir / shard, columns=["tile_id"]).shape[0] == meta["rows"]
    assert "CRC_clusters_neighborhoods_markers.csv" in manifest["inputs"]
    assert not list(dataset_dir.parent.glob(".*partial"))


def test_centroid_join_gives_same_labels_as_id_join(raw_export: Path, tmp_path: Path) -> None:
    from phenocell.constants import CellTableColumns

    by_id = convert(
        raw_export,
        tmp_path / "id",
        options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False),
    )
    opts = CodexOptions(
        tiling="grid", pixel_grid="he", tile_size=128, progress=False, columns=CellTableColumns(label=None)
    )
    by_xy = convert(raw_export, tmp_path / "xy", options=opts)
    a = load_dataset(str(by_id), "base", split="train")
    b = load_dataset(str(by_xy), "base", split="train")
    same = np.mean(
        [
            np.mean(np.asarray(x) == np.asarray(y))
            for x, y in zip(a["semantic_mask"], b["semantic_mask"], strict=True)
        ]
    )
    assert same > 0.9  # centroids of overlapped cells can land on a neighbour: most pixels agree
