"""The id join is checked by centroids: a shifted ``Index in File`` fails, the right one passes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.errors import InvalidInputError
from phenocell.panoptic.join_check import check_id_join, median_centroid_distance
from phenocell.synthetic import SynthOptions, synthesize

CONSECUTIVE = SynthOptions(
    fovs=4, patients=4, seed=3, mask_shape=(128, 160), scale=1, consecutive_labels=True
)
TABLE = "CRC_clusters_neighborhoods_markers.csv"


@pytest.fixture(scope="module")
def consecutive_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(tmp_path_factory.mktemp("join") / "raw", options=CONSECUTIVE, progress=False)


def _shift(raw: Path, by: int) -> None:
    table = pd.read_csv(raw / TABLE)
    table["Index in File"] = table["Index in File"] + by
    table.to_csv(raw / TABLE, index=False)


def test_unshifted_ids_pass_and_record_the_median(consecutive_raw: Path, tmp_path: Path) -> None:
    out = convert(
        consecutive_raw,
        tmp_path / "ok",
        options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False),
    )
    stats = json.loads((out / "qc" / "fov_stats.json").read_text())
    medians = [s["median_centroid_distance_px"] for s in stats.values()]
    assert len(medians) == 4 and max(medians) < 0.1  # table centroids are the labels' own (rounded to 0.1)


@pytest.mark.parametrize("by", [1, -1])
def test_shifted_ids_fail_with_the_centroid_error(consecutive_raw: Path, tmp_path: Path, by: int) -> None:
    raw = Path(shutil.copytree(consecutive_raw, tmp_path / "raw"))
    _shift(raw, by)
    with pytest.raises(InvalidInputError, match="do not match the mask's labels") as err:
        convert(
            raw,
            tmp_path / "bad",
            options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False),
        )
    message = str(err.value)
    assert "--label-column none" in message and "median distance" in message
    median = float(message.split("median distance ")[1].split(" px")[0])
    assert median > 5.0
    assert not (tmp_path / "bad").exists()


def test_centroid_join_needs_no_id_check_and_gives_each_row_its_own_cell(
    consecutive_raw: Path, tmp_path: Path
) -> None:
    import pyarrow.parquet as pq

    from phenocell.constants import CellTableColumns

    truth = pd.read_csv(consecutive_raw / TABLE)  # the right ids, before the shift
    keys = zip(truth["File Name"], truth["Index in File"], strict=True)
    name_of = dict(zip(keys, truth["ClusterName"], strict=True))
    raw = Path(shutil.copytree(consecutive_raw, tmp_path / "raw"))
    _shift(raw, 1)  # ids are wrong, but the centroid join does not use them
    options = CodexOptions(
        tiling="grid", pixel_grid="he", tile_size=128, progress=False, columns=CellTableColumns(label=None)
    )
    out = convert(raw, tmp_path / "by_centroid", options=options)
    cells = [
        (row["fov"], cell["cell_id"] & 0xFFFFFFFF, cell["granular_name"])
        for shard in sorted((out / "data").glob("*.parquet"))
        for row in pq.read_table(shard, columns=["fov", "cells"]).to_pylist()
        for cell in row["cells"]
    ]
    matched = [(fov, label, name) for fov, label, name in cells if name != "unmatched"]
    found = len({(fov, label) for fov, label, _ in matched})  # a centroid off its own cell finds none
    assert found >= 0.9 * len(truth)
    assert all(name == name_of.get((fov, label)) for fov, label, name in matched)  # ... and its own one


def test_check_rules() -> None:
    yx = np.array([[10.0, 10.0], [20.0, 20.0], [30.0, 5.0]])
    assert median_centroid_distance(yx, yx + np.array([3.0, 4.0])) == pytest.approx(5.0)
    assert np.isnan(median_centroid_distance(yx[:0], yx[:0]))
    check_id_join("r", 4.9, joined=100, rows=100, limit=5.0, column="Index in File")
    check_id_join("r", 50.0, joined=3, rows=100, limit=5.0, column="Index in File")  # too few to judge
    with pytest.raises(InvalidInputError, match=r"median distance 5\.10 px over 100 joined rows"):
        check_id_join("r", 5.1, joined=100, rows=100, limit=5.0, column="Index in File")
    with pytest.raises(InvalidInputError, match="none of 100 rows"):
        check_id_join("r", float("nan"), joined=0, rows=100, limit=5.0, column="Index in File")


@pytest.mark.parametrize("label_column", ["Index in File", None])
@pytest.mark.parametrize(("x", "shown"), [(1e300, "1e+300"), (160.0 + 1.5, "161.5")])
def test_a_centroid_off_its_fov_is_an_error_naming_line_fov_and_value(
    consecutive_raw: Path, tmp_path: Path, label_column: str | None, x: float, shown: str
) -> None:
    import warnings

    from phenocell.constants import CellTableColumns

    raw = Path(shutil.copytree(consecutive_raw, tmp_path / "raw"))
    table = pd.read_csv(raw / TABLE)
    row = int(np.flatnonzero(table["File Name"] == table["File Name"].iloc[0])[2])
    table.loc[row, "X:X"] = x
    table.to_csv(raw / TABLE, index=False)
    options = CodexOptions(
        tiling="grid",
        pixel_grid="he",
        tile_size=128,
        progress=False,
        columns=CellTableColumns(label=label_column),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # never a NumPy RuntimeWarning instead of the error
        with pytest.raises(InvalidInputError, match="centroid outside the FoV's mask") as err:
            convert(raw, tmp_path / "out", options=options)
    message = str(err.value)
    assert (
        f"region {table['File Name'].iloc[0]}" in message
        and f"line {row + 2}: (X, Y) = ({shown}, " in message
    )
    assert "0 <= X < 160" in message and not (tmp_path / "out").exists()


def test_a_centroid_within_a_pixel_of_the_edge_passes_an_id_join() -> None:
    from phenocell.panoptic.join_check import check_centroids_on_mask

    lines = np.array([2, 3])
    check_centroids_on_mask(
        np.array([[0.0, -0.9], [127.5, 160.9]]), lines, (128, 160), region="r", lookup=False
    )
    with pytest.raises(InvalidInputError, match=r"line 3: \(X, Y\) = \(160\.9, 127\.5\)"):
        check_centroids_on_mask(
            np.array([[0.0, 0.0], [127.5, 160.9]]), lines, (128, 160), region="r", lookup=True
        )
