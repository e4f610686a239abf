"""Fast conversion paths equal the plain ones (label tables, strip sums, row bands); --png-level."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.errors import InvalidOptionError
from phenocell.panoptic import labelling
from phenocell.panoptic.labelling import FovCells, _strip_sums
from phenocell.panoptic.tiling import _tile_instances
from phenocell.readers.images import banded
from phenocell.records import LazyImage
from phenocell.schema import decode_mask


def _cells(labels: np.ndarray) -> FovCells:
    n = len(labels)
    classes = np.arange(n, dtype=np.uint8) % 14 + 1
    classes[::5] = 255
    return FovCells(
        labels, labels, classes, np.full(n, "x", dtype=object), np.ones(n), np.zeros(n), np.zeros(n),
        np.zeros((n, 2), dtype=np.float32),
    )  # fmt: skip


@pytest.mark.parametrize("top", [50, 1 << 30])  # dense table, binary search
def test_tile_ids_equal_sorting_the_tiles_labels(top: int) -> None:
    rng = np.random.default_rng(0)
    labels = np.unique(rng.integers(1, top, 40))
    tile = rng.choice(np.concatenate([[0], labels[::2]]), size=(32, 32))
    cells = _cells(labels)
    local, rows, area = _tile_instances(cells, cells.rows_of(tile))
    present, inverse = np.unique(tile, return_inverse=True)  # the definition: ids by sorted label
    assert present[0] == 0
    assert np.array_equal(local, inverse.reshape(tile.shape))
    assert np.array_equal(cells.labels[rows], present[1:])
    assert area.tolist() == [int((tile == v).sum()) for v in present[1:]]
    semantic = cells.semantic_lut[cells.rows_of(tile)]
    assert np.array_equal(semantic[tile == 0], np.zeros(int((tile == 0).sum())))
    fg = tile > 0
    assert np.array_equal(semantic[fg], cells.class_ids[np.searchsorted(labels, tile[fg])])


def test_strip_sums_dense_and_sorted_paths_agree(monkeypatch: pytest.MonkeyPatch) -> None:
    strip = np.random.default_rng(1).integers(0, 30, (12, 17)).astype(np.int64)
    dense = _strip_sums(strip, 100)
    monkeypatch.setattr(labelling, "LUT_LABELS", 1)  # force the unique() path
    sorted_ = _strip_sums(strip, 100)
    assert dense is not None and sorted_ is not None
    for a, b in zip(dense, sorted_, strict=True):
        assert np.array_equal(a, b)
    rows, cols = np.nonzero(strip == 7)
    k = int(np.flatnonzero(dense[0] == 7)[0])
    assert dense[2][k] == (rows + 100).sum() and dense[3][k] == cols.sum()
    assert _strip_sums(np.zeros((3, 3), dtype=np.int64), 0) is None


def test_banded_reads_equal_window_reads() -> None:
    array = np.arange(40 * 30 * 3).reshape(40, 30, 3)
    plain = LazyImage(Path("x.tif"), array, 0.5)
    bands = banded(plain)
    for rows, cols in [(slice(0, 8), slice(0, 8)), (slice(0, 8), slice(20, 30)), (slice(8, 16), slice(3, 9))]:
        assert np.array_equal(bands.read(rows, cols), plain.read(rows, cols))
    assert np.array_equal(bands.read(slice(4, 12), slice(0, 30)), array[4:12])  # straddles two bands


def test_png_level_changes_bytes_not_pixels_and_is_recorded(raw_export: Path, tmp_path: Path) -> None:
    fast = convert(raw_export, tmp_path / "l1", options=CodexOptions(png_level=1, progress=False))
    default = convert(raw_export, tmp_path / "l6", options=CodexOptions(progress=False))
    assert json.loads((fast / "manifest.json").read_text())["options"]["png_level"] == 1
    assert "png_level" not in json.loads((default / "manifest.json").read_text())["options"]
    assert "png_level" in (fast / "README.md").read_text()
    a, b = sorted((fast / "data").glob("*.parquet")), sorted((default / "data").glob("*.parquet"))
    first, second = pq.read_table(a[0]), pq.read_table(b[0])
    for column in ("image", "instance_mask", "semantic_mask"):
        x, y = first.column(column)[0].as_py(), second.column(column)[0].as_py()
        assert x["bytes"] != y["bytes"]
        assert np.array_equal(decode_mask(x, np.dtype(np.int64)), decode_mask(y, np.dtype(np.int64)))
    with pytest.raises(InvalidOptionError, match="png_level") as err:
        CodexOptions(png_level=10)
    assert "9" in str(err.value)
