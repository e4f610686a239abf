"""Reader checklist: happy path, missing input, corrupted input, invalid content (match=)."""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import tifffile

from phenocell.constants import CellTableColumns
from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError
from phenocell.panoptic.class_merges import load_class_map
from phenocell.readers.cell_table import read_cell_table
from phenocell.readers.images import nearest_indices, open_he, open_label_mask
from phenocell.readers.pairs import read_exclusions, write_exclusions
from phenocell.readers.patients import read_patient_table

TABLE = "CRC_clusters_neighborhoods_markers.csv"


def test_cell_table_happy(raw_export: Path) -> None:
    table = read_cell_table(raw_export / TABLE)
    assert len(table.markers) == 12 and table.markers[0] == "HOECHST1:Cyc_1_ch_1"
    assert table.regions()[0] == "reg001_A"


def test_cell_table_missing_and_corrupt(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="missing cell table"):
        read_cell_table(tmp_path / TABLE)
    (tmp_path / TABLE).write_bytes(b"\xff\xfe\x00garbage\x00\n\x80\x81")
    with pytest.raises(CorruptInputError):
        read_cell_table(tmp_path / TABLE)


def test_cell_table_custom_column_names(raw_export: Path, tmp_path: Path) -> None:
    text = (raw_export / TABLE).read_text().replace("ClusterName", "cluster")
    (tmp_path / TABLE).write_text(text)
    with pytest.raises(InvalidInputError, match="missing \\['ClusterName'\\]"):
        read_cell_table(tmp_path / TABLE)
    assert read_cell_table(tmp_path / TABLE, columns=CellTableColumns(cluster="cluster")).frame.shape[0] > 0


def test_cell_table_non_numeric_label(raw_export: Path, tmp_path: Path) -> None:
    lines = (raw_export / TABLE).read_text().splitlines()
    (tmp_path / TABLE).write_text(
        "\n".join([lines[0], lines[1].replace("reg001_A,1,A,1,", "reg001_A,1,A,1,x", 1), *lines[2:]])
    )
    with pytest.raises(InvalidInputError, match="values that are not numbers") as err:
        read_cell_table(tmp_path / TABLE)
    assert re.search(r"line 2: 'x\d+'", str(err.value)) and "integer mask label id" in str(err.value)


def test_cell_table_blank_names(raw_export: Path, tmp_path: Path) -> None:
    lines = (raw_export / TABLE).read_text().splitlines()
    at = lines[0].split(",").index("ClusterName")
    for line, name in ((3, "  "), (5, "")):  # file lines 3 and 5: one blank, one empty
        fields = lines[line - 1].split(",")
        lines[line - 1] = ",".join([*fields[:at], name, *fields[at + 1 :]])
    (tmp_path / TABLE).write_text("\n".join(lines))
    with pytest.raises(InvalidInputError, match=r"'ClusterName' .* has empty values") as err:
        read_cell_table(tmp_path / TABLE)
    assert "2 empty cells, e.g. on lines [3, 5]" in str(err.value)


def test_patient_table(raw_export: Path) -> None:
    patients = read_patient_table(raw_export / "patients.csv")
    assert {p.tumor_type for p in patients.values()} == {"adenocarcinoma", "mucinous"}
    assert {p.stage for p in patients.values()} == {3, 4}


def test_class_map_default_has_29_names_and_14_classes() -> None:
    cmap = load_class_map()
    assert len(cmap.ids) == 29
    assert set(cmap.ids.values()) == set(range(1, 15)) | {255}
    assert cmap.ids["dirt"] == 255 and cmap.ids["NK cells"] == 7 and cmap.ids["tumor cells"] == 12


def test_class_map_unknown_name() -> None:
    with pytest.raises(InvalidInputError, match=r"(?s)unknown cluster name 'xyz'.*class_map\.csv"):
        load_class_map().class_id("xyz")


_BAD_TABLES = [
    (
        read_patient_table,
        "patients,tumor_type,stage,groups\n1,adenocarcinoma,IV,1\n2,squamous,3,1\n",
        InvalidInputError,
        "bad 'tumor_type'",
    ),
    (
        read_patient_table,
        "patients,tumor_type,stage,groups\n1,Mucinous adenocarcinoma,pT4,1\n",
        InvalidInputError,
        "pT category",
    ),
    (read_patient_table, "patients,stage\n1,3\n", InvalidInputError, "incomplete"),
    (load_class_map, "name,class\n", CorruptInputError, "wrong header"),
    (load_class_map, "cluster_name,class_name\nfoo,Martians\n", InvalidInputError, "bad row 2"),
]


@pytest.mark.parametrize(("reader", "text", "error", "match"), _BAD_TABLES)
def test_bad_tables_are_refused(
    reader: Callable[[Path], object], text: str, error: type[Exception], match: str, tmp_path: Path
) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text(text)
    with pytest.raises(error, match=match):
        reader(bad)


@pytest.mark.parametrize("reader", [read_patient_table, load_class_map])
def test_missing_tables_are_refused(reader: Callable[[Path], object], tmp_path: Path) -> None:
    with pytest.raises(MissingInputError):
        reader(tmp_path / "none.csv")


def test_exclusions_round_trip(tmp_path: Path) -> None:
    write_exclusions(tmp_path / "e.csv", {"reg002_B": "blurry, out of focus", "reg001_A": "fold"})
    assert read_exclusions(tmp_path / "e.csv") == {"reg001_A": "fold", "reg002_B": "blurry, out of focus"}
    (tmp_path / "e.csv").write_text("fov,reason\nreg001_A,\n")
    with pytest.raises(CorruptInputError, match="bad line 2"):
        read_exclusions(tmp_path / "e.csv")


def test_images_read_pixel_size_and_windows(raw_export: Path, tmp_path: Path) -> None:
    mask = open_label_mask(raw_export / "masks" / "reg001_A.tif")
    he = open_he(raw_export / "he" / "reg001_A.tif")
    assert mask.mpp == pytest.approx(0.377442) and he.mpp == pytest.approx(0.377442 / 2)
    full = tifffile.imread(raw_export / "masks" / "reg001_A.tif")
    np.testing.assert_array_equal(mask.read(slice(10, 20), slice(5, 9)), full[10:20, 5:9])
    tifffile.imwrite(tmp_path / "x.tif", full)
    with pytest.raises(InvalidInputError, match="no pixel size"):
        open_label_mask(tmp_path / "x.tif")
    assert open_label_mask(tmp_path / "x.tif", mpp=0.5).mpp == 0.5
    with pytest.raises(InvalidInputError, match="not 8-bit RGB"):
        open_he(tmp_path / "x.tif", mpp=0.5)


def test_nearest_indices_never_interpolate() -> None:
    np.testing.assert_array_equal(nearest_indices(0, 6, 0.4, 0.2, 100), [0, 0, 1, 1, 2, 2])
    np.testing.assert_array_equal(nearest_indices(0, 3, 0.2, 0.4, 100), [1, 3, 5])
    assert nearest_indices(0, 10, 0.4, 0.2, 3).max() == 2
