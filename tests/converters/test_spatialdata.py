"""``--source spatialdata``: stores built with spatialdata's own API convert; masks match the table."""

from __future__ import annotations

import importlib.util
import io
import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from click.testing import CliRunner
from PIL import Image

from phenocell.cli import convert_main
from phenocell.converters.base import UnitStats
from phenocell.converters.driver import convert
from phenocell.converters.options import ExecutionOptions
from phenocell.converters.spatialdata import SpatialDataOptions, SpatialDataSource
from phenocell.errors import InvalidInputError, MissingDependencyError
from phenocell.readers.spatialdata import read_store

from ..conftest import load_generator

sd_data = load_generator("spatialdata")

#: The class merges, written out here (DESIGN.md's table): cluster name → class id, dirt → ignore (255).
MERGES = {
    "B cells": 1,
    **dict.fromkeys(
        [
            "CD68+CD163+ macrophages",
            "CD11b+CD68+ macrophages",
            "CD68+ macrophages",
            "CD68+ macrophages GzmB+",
            "CD163+ macrophages",
            "CD11b+ monocytes",
        ],
        2,
    ),
    "adipocytes": 3,
    "CD11c+ DCs": 4,
    **dict.fromkeys(
        [
            "CD4+ T cells",
            "CD4+ T cells CD45RO+",
            "CD4+ T cells GATA3+",
            "CD8+ T cells",
            "Tregs",
            "CD3+ T cells",
        ],
        5,
    ),
    "granulocytes": 6,
    "NK cells": 7,
    "nerves": 8,
    "plasma cells": 9,
    "smooth muscle": 10,
    "stroma": 11,
    "tumor cells": 12,
    "vasculature": 13,
    "lymphatics": 13,
    **dict.fromkeys(
        ["undefined", "immune cells", "tumor cells / immune cells", "immune cells / vasculature"], 14
    ),
    "dirt": 255,
}


@pytest.fixture()
def codex(spatialdata_raw: tuple[Path, Path]) -> Path:
    """The synthetic CODEX export the store was made from (read-only)."""
    return spatialdata_raw[0]


@pytest.fixture()
def store(spatialdata_raw: tuple[Path, Path]) -> Path:
    """The tiny store: 4 FoVs, labels at the masks' µm/px, H&E at half of it, one annotating table."""
    return spatialdata_raw[1]


def _options(**kw: Any) -> SpatialDataOptions:
    """Options for a test run (one worker, no progress bar; the patient table is the store's own)."""
    return SpatialDataOptions(**({"progress": False, "execution": ExecutionOptions(workers=1)} | kw))


def _expected(codex: Path, fov: str, labels: np.ndarray) -> np.ndarray:
    """The semantic mask recomputed from the labels and the table's cell types through MERGES."""
    frame = sd_data.cell_frame(codex)
    rows = frame[frame["region"] == fov]
    by_label = dict(zip(rows["cell_id"], rows["cell_type"], strict=True))
    lut = {0: 0} | {int(v): MERGES[by_label[v]] if v in by_label else 255 for v in np.unique(labels) if v}
    return np.vectorize(lut.__getitem__)(labels).astype(np.uint8)


def _decode(image: dict[str, Any]) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(image["bytes"])))


def _tiles(out: Path) -> list[dict[str, Any]]:
    rows = []
    for shard in sorted((out / "data").glob("*.parquet")):
        rows += pq.read_table(
            shard, columns=["fov", "tile_y", "tile_x", "tile_size", "mpp", "semantic_mask"]
        ).to_pylist()
    return rows


def test_store_converts_and_its_masks_match_the_table(codex: Path, store: Path, tmp_path: Path) -> None:
    """The default --pixel-grid mask: tiles on the labels' grid, the H&E area-averaged onto it."""
    options = _options(tiling="grid", tile_size=32)
    out = convert(store, tmp_path / "phenocell", source="spatialdata", options=options)
    fovs = sd_data.fov_arrays(codex)
    tiles = _tiles(out)
    assert {t["fov"] for t in tiles} == set(fovs)
    for tile in tiles:
        labels, _, mpp = fovs[tile["fov"]]
        y, x, size = tile["tile_y"], tile["tile_x"], tile["tile_size"]
        np.testing.assert_array_equal(
            _decode(tile["semantic_mask"]), _expected(codex, tile["fov"], labels)[y : y + size, x : x + size]
        )
        assert tile["mpp"] == pytest.approx(mpp)  # from the labels' Scale transformation
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["markers"] == list(sd_data.MARKERS)
    assert manifest["options"]["source"] == "spatialdata"


def test_he_grid_tiles_carry_the_labels_at_twice_their_size(codex: Path, store: Path) -> None:
    """--pixel-grid he: tiles on the H&E pixels (half the labels' µm/px), labels by nearest neighbour."""
    source = SpatialDataSource.open(store, _options(tiling="grid", tile_size=48, pixel_grid="he"))
    for fov, (labels, he, mpp) in sd_data.fov_arrays(codex).items():
        expected = _expected(codex, fov, labels).repeat(2, axis=0).repeat(2, axis=1)
        tiles = list(source.for_unit(fov).tiles(fov, UnitStats()))
        assert tiles
        for tile in tiles:
            y, x, size = tile["tile_y"], tile["tile_x"], tile["tile_size"]
            np.testing.assert_array_equal(
                _decode(tile["semantic_mask"]), expected[y : y + size, x : x + size]
            )
            np.testing.assert_array_equal(_decode(tile["image"]), he[y : y + size, x : x + size])
            assert tile["mpp"] == pytest.approx(mpp / 2)


# ------------------------------------------------------------------ one-FoV stores built here

#: 8 x 10 labels: cells 2, 5 and 9 have table rows, cell 7 has none.
LABELS = np.zeros((8, 10), dtype=np.int32)
LABELS[1:3, 1:4], LABELS[4:7, 2:5], LABELS[1:4, 6:9], LABELS[6:8, 7:10] = 2, 5, 9, 7
PATIENTS = "patients,tumor_type,stage,groups,msi\np1,adenocarcinoma,3,1,MSS\n"


def _one_fov(
    path: Path,
    *,
    labels_to: dict[str, Any] | None = None,
    images: dict[str, dict[str, Any]] | None = None,
    cell_types: tuple[str, ...] = ("CD8+ T cells", "tumor cells", "dirt"),
    column: str | None = "cell_type",
    table: bool = True,
) -> Path:
    """A store with one labels element ``cells``, the given H&E images and (optionally) a table of 3 rows."""
    pytest.importorskip("spatialdata")
    import anndata as ad
    import spatialdata as sd
    from spatialdata.models import Image2DModel, Labels2DModel, TableModel
    from spatialdata.transformations import Identity

    rgb = np.random.default_rng(0).integers(0, 256, (3, 24, 30), dtype=np.uint8)
    images = {"he": {"global": Identity()}} if images is None else images
    labels = {
        "cells": Labels2DModel.parse(
            LABELS, dims=("y", "x"), transformations=labels_to or {"global": Identity()}
        )
    }
    parsed = {
        n: Image2DModel.parse(rgb, dims=("c", "y", "x"), transformations=tf) for n, tf in images.items()
    }
    tables = {}
    if table:
        obs = pd.DataFrame({"region": pd.Categorical(["cells"] * 3), "cell_id": [2, 5, 9], "patients": "p1"})
        if column:
            obs[column] = list(cell_types)
        obs.index = obs.index.astype(str)
        tables["table"] = TableModel.parse(
            ad.AnnData(obs=obs), region="cells", region_key="region", instance_key="cell_id"
        )
    sd.SpatialData(images=parsed, labels=labels, tables=tables).write(path / "store.zarr")
    (path / "store.zarr" / "patients.csv").write_text(PATIENTS)
    return path / "store.zarr"


def _open(store: Path, **kw: Any) -> SpatialDataSource:
    return SpatialDataSource.open(store, _options(**kw))


def test_class_names_are_read_as_themselves(tmp_path: Path) -> None:
    store = _one_fov(tmp_path, cell_types=("t cells", "Tumor cells", "ignore"))
    cells = _open(store).open_fov("cells").cells
    assert cells.labels.tolist() == [2, 5, 7, 9]
    assert cells.class_ids.tolist() == [5, 12, 255, 255]  # T cells, Tumor cells, no row, ignore


def test_cluster_names_go_through_the_class_merges(tmp_path: Path) -> None:
    cells = _open(_one_fov(tmp_path)).open_fov("cells").cells
    assert cells.class_ids.tolist() == [MERGES["CD8+ T cells"], MERGES["tumor cells"], 255, MERGES["dirt"]]


def test_translated_labels_are_resampled_onto_the_he(tmp_path: Path) -> None:
    tf = pytest.importorskip("spatialdata.transformations")
    shifted = tf.Sequence([tf.Scale([2, 2], axes=("y", "x")), tf.Translation([3, 5], axes=("y", "x"))])
    store = _one_fov(tmp_path, labels_to={"global": shifted})
    fov = _open(store).open_fov("cells")
    rgb = np.random.default_rng(0).integers(0, 256, (3, 24, 30), dtype=np.uint8).transpose(1, 2, 0)
    np.testing.assert_array_equal(fov.he.read(slice(None), slice(None)), rgb[3:19, 5:25])
    np.testing.assert_array_equal(fov.mask.read(slice(None), slice(None)), LABELS.repeat(2, 0).repeat(2, 1))
    assert fov.mask.mpp == fov.he.mpp == 1.0  # coordinates read as µm


def test_several_images_need_image_element(tmp_path: Path) -> None:
    tf = pytest.importorskip("spatialdata.transformations")
    store = _one_fov(tmp_path, images={"he_a": {"global": tf.Identity()}, "he_b": {"global": tf.Identity()}})
    with pytest.raises(InvalidInputError, match="--image-element") as err:
        _open(store)
    assert "he_a, he_b" in str(err.value)
    assert _open(store, image_element="he_b").placements["cells"].image == "he_b"


def test_several_coordinate_systems_need_coordinate_system(tmp_path: Path) -> None:
    tf = pytest.importorskip("spatialdata.transformations")
    both = {"global": tf.Identity(), "aligned": tf.Scale([2, 2], axes=("y", "x"))}
    store = _one_fov(tmp_path, labels_to=both, images={"he": dict(both)})
    with pytest.raises(InvalidInputError, match="--coordinate-system"):
        _open(store)
    assert _open(store, coordinate_system="aligned").placements["cells"].system == "aligned"


def _cli(store: Path, out: Path, *flags: str) -> Any:
    """``phenocell-convert STORE --out OUT FLAGS`` (one worker, no progress bar)."""
    args = [str(store), "--out", str(out), "--workers", "1", "--quiet", *flags]
    return CliRunner().invoke(convert_main, args)


def test_store_without_a_table_exits_2_naming_it(tmp_path: Path) -> None:
    result = _cli(_one_fov(tmp_path, table=False), tmp_path / "out")  # --source auto recognises the store
    assert result.exit_code == 2, result.output
    assert "has no table annotating a labels element" in result.output
    assert not (tmp_path / "out").exists()


def test_store_without_the_cell_type_column_exits_2_naming_it(tmp_path: Path) -> None:
    result = _cli(_one_fov(tmp_path, column="ClusterName"), tmp_path / "out", "--source", "spatialdata")
    assert result.exit_code == 2, result.output
    assert "no cell-type column 'cell_type'" in result.output
    assert "'ClusterName'" in result.output  # the columns it has
    assert "--cell-type-column" in result.output


def test_missing_package_names_the_extra(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "spatialdata" else find_spec(name, *a)
    )
    with pytest.raises(MissingDependencyError, match=r'pip install "phenocell\[spatialdata\]"'):
        read_store(tmp_path)
