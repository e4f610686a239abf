"""Bad raw input: typed error with expected / found / fix, non-zero CLI exit, no output left behind."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from click.testing import CliRunner

from phenocell.cli import convert_main
from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.errors import (
    CorruptInputError,
    InvalidInputError,
    MissingInputError,
    OutputExistsError,
    PhenoCellError,
)

TABLE = "CRC_clusters_neighborhoods_markers.csv"


def drop_column(raw: Path) -> None:
    pd.read_csv(raw / TABLE).drop(columns=["ClusterName"]).to_csv(raw / TABLE, index=False)


def unknown_cluster(raw: Path) -> None:
    table = pd.read_csv(raw / TABLE)
    table.loc[3, "ClusterName"] = "mystery cells"
    table.to_csv(raw / TABLE, index=False)


def remove_mask(raw: Path) -> None:
    (raw / "masks" / "reg002_A.tif").unlink()


def shrink_he(raw: Path) -> None:
    path = raw / "he" / "reg001_B.tif"
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags["XResolution"].value
        image = tif.asarray()
    tifffile.imwrite(
        path, image[:-40], resolution=(tags[0] / tags[1],) * 2, resolutionunit="CENTIMETER", photometric="rgb"
    )


def truncate_mask(raw: Path) -> None:
    path = raw / "masks" / "reg001_A.tif"
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage_mask(raw: Path) -> None:
    (raw / "masks" / "reg001_A.tif").write_bytes(b"this is not a tiff" * 10)


def empty_table(raw: Path) -> None:
    header = (raw / TABLE).read_text().splitlines()[0]
    (raw / TABLE).write_text(header + "\n")


CASES: list[tuple[Callable[[Path], None], type[PhenoCellError], str]] = [
    (drop_column, InvalidInputError, "lacks required columns"),
    (unknown_cluster, InvalidInputError, "unknown cluster name 'mystery cells'"),
    (remove_mask, MissingInputError, "region reg002_A has no label mask"),
    (shrink_he, InvalidInputError, "H&E and mask do not cover the same area"),
    (truncate_mask, CorruptInputError, "cannot decode TIFF"),
    (garbage_mask, CorruptInputError, "cannot decode TIFF"),
    (empty_table, InvalidInputError, "is empty"),
]


@pytest.mark.parametrize(("damage", "error", "match"), CASES, ids=[c[0].__name__ for c in CASES])
def test_bad_input_raises_typed_error_and_leaves_nothing(
    raw_copy: Path, tmp_path: Path, damage, error, match
) -> None:
    damage(raw_copy)
    out = tmp_path / "out"
    with pytest.raises(error, match=match) as info:
        convert(
            raw_copy,
            out,
            options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False),
        )
    text = str(info.value)
    assert "expected:" in text and "found:" in text and "fix:" in text
    assert not out.exists() and not list(tmp_path.glob(".out*"))


@pytest.mark.parametrize(
    ("damage", "error", "match"), CASES[:3] + CASES[4:5], ids=["column", "cluster", "mask", "tiff"]
)
def test_cli_exits_non_zero_with_message(raw_copy: Path, tmp_path: Path, damage, error, match) -> None:
    damage(raw_copy)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        convert_main, [str(raw_copy), "--out", str(out), "--tile-size", "128", "--quiet"]
    )
    assert result.exit_code == 2
    assert match in result.output and "fix:" in result.output
    assert not out.exists()


def test_existing_output_is_refused_unless_overwrite(raw_export: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(OutputExistsError, match="already exists"):
        convert(
            raw_export,
            out,
            options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False),
        )
    assert (out / "keep.txt").read_text() == "mine"
    result = CliRunner().invoke(convert_main, [str(raw_export), "--out", str(out), "--quiet"])
    assert result.exit_code == 2 and "--overwrite" in result.output
    with pytest.raises(OutputExistsError, match="only replaces what PhenoCell wrote"):  # not ours: kept
        convert(
            raw_export,
            out,
            options=CodexOptions(
                tiling="grid", pixel_grid="he", tile_size=128, progress=False, overwrite=True
            ),
        )
    (out / "keep.txt").unlink()
    convert(
        raw_export,
        out,
        options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False, overwrite=True),
    )
    assert (out / "manifest.json").exists()


def test_failure_mid_conversion_keeps_previous_output(raw_copy: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    convert(
        raw_copy, out, options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False)
    )
    before = sorted(p.name for p in (out / "data").iterdir())
    truncate_mask(raw_copy)
    with pytest.raises(CorruptInputError):
        convert(
            raw_copy,
            out,
            options=CodexOptions(
                tiling="grid", pixel_grid="he", tile_size=128, progress=False, overwrite=True
            ),
        )
    assert sorted(p.name for p in (out / "data").iterdir()) == before


def test_invalid_option_lists_valid_choices(raw_export: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(
        convert_main, [str(raw_export), "--out", str(tmp_path / "o"), "--base-by", "fov"]
    )
    assert result.exit_code != 0 and "patient" in result.output and "region" in result.output
    with pytest.raises(ValueError, match="one of 'patient', 'region'"):
        convert(raw_export, tmp_path / "o", options=CodexOptions(base_by="fov", progress=False))
    with pytest.raises(ValueError, match="smaller than one tile"):
        convert(
            raw_export,
            tmp_path / "o",
            options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=4096, progress=False),
        )
    assert not (tmp_path / "o").exists()


def test_user_class_map_maps_unknown_names(raw_copy: Path, tmp_path: Path) -> None:
    table = pd.read_csv(raw_copy / TABLE)
    table.loc[table["size:size"].nlargest(3).index, "ClusterName"] = "mystery cells"  # large: no QC removal
    table.to_csv(raw_copy / TABLE, index=False)
    mapping = tmp_path / "extra.csv"
    mapping.write_text("cluster_name,class_name\nmystery cells,Other cells\n")
    out = convert(
        raw_copy,
        tmp_path / "out",
        options=CodexOptions(
            tiling="grid", pixel_grid="he", tile_size=128, progress=False, class_map=mapping
        ),
    )
    import pyarrow.parquet as pq

    labels = {
        cell["label"]
        for shard in sorted((out / "data").glob("*.parquet"))
        for row in pq.read_table(shard, columns=["cells"]).to_pylist()
        for cell in row["cells"]
        if cell["granular_name"] == "mystery cells"
    }
    assert labels == {14}  # class 14 is "Other cells" (README, class table): the user's mapping was applied
    assert "mystery cells" in json.loads((out / "manifest.json").read_text())["class_map"]["Other cells"]


def test_exclusion_list_removes_fovs(raw_export: Path, tmp_path: Path) -> None:
    exclude = tmp_path / "exclude.csv"
    exclude.write_text("fov,reason\nreg003_B,folded tissue\n")
    out = convert(
        raw_export,
        tmp_path / "out",
        options=CodexOptions(
            tiling="grid", pixel_grid="he", tile_size=128, progress=False, exclude=exclude
        ),
    )
    assert not list((out / "data").glob("reg003_B*"))
    assert "folded tissue" in (out / "README.md").read_text()
    assert "reg003_B,folded tissue" in (out / "qc" / "excluded.csv").read_text()


def test_mask_labels_with_no_table_row_are_ignored(dataset_dir: Path) -> None:
    stats = pd.read_json(dataset_dir / "qc" / "fov_stats.json")
    assert stats.loc["unmatched_labels"].sum() > 0
    assert stats.loc["rows_without_mask_label"].sum() > 0
    assert np.all(stats.loc["labels"] > 0)
