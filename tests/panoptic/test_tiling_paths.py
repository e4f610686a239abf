"""Fast conversion paths equal the plain ones: label tables, strip sums, bands, label windows; --png-level."""

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
from phenocell.panoptic.tile_layouts import TileBox
from phenocell.panoptic.tiling import _tile_instances, tile_arrays
from phenocell.readers.images import banded, nearest_indices, pick
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


@pytest.mark.parametrize("lut", [True, False])  # dense bincounts, unique()
@pytest.mark.parametrize("dtype", [np.uint16, np.uint32, np.int64])
def test_strip_sums_equal_their_definition(monkeypatch: pytest.MonkeyPatch, lut: bool, dtype: type) -> None:
    """Blobs whose runs go on across row ends (same label at the end of a row and the start of the next)."""
    if not lut:
        monkeypatch.setattr(labelling, "LUT_LABELS", 1)
    rng = np.random.default_rng(2)
    strip = np.repeat(np.repeat(rng.integers(0, 9, (5, 4)), 3, 0), 5, 1)[:13, :19].astype(dtype)
    if dtype != np.uint16:
        strip[strip > 0] += 60_000  # labels beyond 16 bits
    strip[2, -1] = strip[3, 0] = 7  # one label across a row end
    found = _strip_sums(strip, 40)
    assert found is not None
    labels, area, sy, sx = found
    assert labels.tolist() == sorted(set(strip[strip > 0].tolist()))
    for k, label in enumerate(labels.tolist()):
        rows, cols = np.nonzero(strip == label)
        assert (area[k], sy[k], sx[k]) == (len(rows), (rows + 40).sum(), cols.sum())


class _Chunked:
    """An array stored in chunks of ``step`` rows that records the rows each read decodes (as zarr does)."""

    def __init__(self, array: np.ndarray, step: int) -> None:
        self.array, self.chunks, self.shape, self.dtype = (
            array,
            (step, array.shape[1]),
            array.shape,
            array.dtype,
        )
        self.decoded: list[int] = []

    def __getitem__(self, key: tuple[slice, slice]) -> np.ndarray:
        rows = key[0]
        step = self.chunks[0]
        first, last = rows.start // step, -(-rows.stop // step)  # every chunk row the read touches
        self.decoded += [
            r for c in range(first, last) for r in range(c * step, min((c + 1) * step, self.shape[0]))
        ]
        return self.array[key]


@pytest.mark.parametrize("step", [1, 7, 16, 64])
def test_banded_reads_equal_window_reads_and_decode_each_chunk_once(step: int) -> None:
    array = np.arange(40 * 30 * 3).reshape(40, 30, 3)
    chunked = _Chunked(array, step)
    bands = banded(LazyImage(Path("x.tif"), chunked, 0.5))
    # tile rows as a grid (the last shifted back to the edge) and as linspace crops walk them: downwards
    windows = [(0, 8), (0, 8), (8, 16), (16, 24), (24, 32), (30, 38), (32, 40), (5, 13), (13, 27), (27, 40)]
    for top, bottom in windows:
        for cols in (slice(0, 8), slice(20, 30)):
            assert np.array_equal(bands.read(slice(top, bottom), cols), array[top:bottom, cols])
    assert np.array_equal(bands.read(slice(4, 12), slice(0, 30)), array[4:12])
    down = chunked.decoded[: chunked.decoded.index(39) + 1]  # the first pass down the image
    assert sorted(down) == list(range(40))  # every row once: a band keeps the rows the next one needs


def test_banded_reads_of_an_image_in_memory_are_plain_slices() -> None:
    array = np.arange(40 * 30).reshape(40, 30)
    bands = banded(LazyImage(Path("x.tif"), array, 0.5))
    assert np.shares_memory(bands.read(slice(4, 12), slice(3, 9)), array)


@pytest.mark.parametrize("shape", [(30, 40), (30, 40, 3)])
def test_pick_is_nearest_neighbour_and_row_major(shape: tuple[int, ...]) -> None:
    """The picked tile is laid out row by row, as its PNG encoder reads it (no transposing copy)."""
    window = np.random.default_rng(4).integers(0, 60_000, shape).astype(np.uint16)
    rows, cols = nearest_indices(0, 64, 0.5, 0.25, 30), nearest_indices(3, 50, 0.5, 0.25, 40)
    picked = pick(window, rows, cols)
    assert np.array_equal(picked, window[np.ix_(rows, cols)]) and picked.flags.c_contiguous
    assert pick(window, np.arange(30), np.arange(40)) is window


@pytest.mark.parametrize("scale", [2.0, 1.0, 0.75, 0.5, 1.5])  # H&E finer, same grid, coarser, non-integer
def test_tile_arrays_equal_picking_the_labels_first(scale: float) -> None:
    """Cells looked up on the label window then picked give the tile that picking first gives."""
    rng = np.random.default_rng(3)
    labels = np.unique(rng.integers(1, 400, 120))
    index = np.repeat(np.repeat(rng.choice(np.concatenate([[0], labels]), (14, 18)), 5, 0), 5, 1)
    cells = _cells(labels)
    mask = LazyImage(Path("m.tif"), index, 0.5)
    shape = (round(index.shape[0] * scale), round(index.shape[1] * scale))
    he = LazyImage(Path("h.tif"), rng.integers(0, 256, (*shape, 3), dtype=np.uint8), 0.5 / scale)
    for box in [TileBox(0, 0, 32, 32, 32), TileBox(shape[0] - 30, 7, 30, 27, 32), TileBox(9, 13, 17, 23, 24)]:
        image, semantic, local, rows, area = tile_arrays(he, mask, cells, box)
        y = nearest_indices(box.y0, box.height, mask.mpp, he.mpp, index.shape[0])
        x = nearest_indices(box.x0, box.width, mask.mpp, he.mpp, index.shape[1])
        crop = index[np.ix_(y, x)]  # the definition: labels picked onto the H&E grid, then counted
        present, inverse, counts = np.unique(crop, return_inverse=True, return_counts=True)
        pad = (
            (box.pad_top, box.size - box.height - box.pad_top),
            (box.pad_left, box.size - box.width - box.pad_left),
        )
        ids = np.pad(inverse.reshape(crop.shape) if present[0] == 0 else inverse.reshape(crop.shape) + 1, pad)
        assert np.array_equal(local, ids)
        assert np.array_equal(cells.labels[rows], present[present > 0])
        assert area.tolist() == counts[present > 0].tolist()
        assert np.array_equal(semantic, np.pad(cells.semantic_lut[cells.rows_of(crop)], pad))
        crop_rgb = he.read(slice(box.y0, box.y0 + box.height), slice(box.x0, box.x0 + box.width))
        assert np.array_equal(image, np.pad(crop_rgb, (*pad, (0, 0))))
        assert image.flags.c_contiguous and local.dtype == np.uint16 and semantic.dtype == np.uint8


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
