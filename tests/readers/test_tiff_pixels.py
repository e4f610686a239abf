"""TIFF windows read chunk by chunk straight from the file equal tifffile's whole-image read."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tifffile

from phenocell.errors import CorruptInputError, InvalidInputError
from phenocell.readers.images import TiffPixels, open_he, open_label_mask

MPP = 0.5
LABELS = np.random.default_rng(0).integers(0, 70_000, (70, 90)).astype(np.uint32)
RGB = np.random.default_rng(1).integers(0, 256, (70, 90, 3)).astype(np.uint8)

# (name, pixels, tifffile.imwrite arguments): tiles with partial edge tiles, strips, one strip, predictor,
# big-endian, JPEG (lossy, so compared with tifffile's own decoding of the same file)
LAYOUTS: list[tuple[str, np.ndarray, dict[str, Any]]] = [
    ("tiled", LABELS, {"tile": (32, 48), "compression": "zlib"}),
    ("strips", LABELS, {"rowsperstrip": 16, "compression": "zlib", "predictor": True}),
    ("one-strip", LABELS.astype(np.uint16), {}),
    ("big-endian", LABELS.astype(np.uint16), {"byteorder": ">", "tile": (16, 16), "compression": "zlib"}),
    ("rgb-tiled", RGB, {"tile": (16, 32), "compression": "zlib", "photometric": "rgb"}),
    ("rgb-jpeg", RGB, {"tile": (16, 16), "compression": "jpeg", "photometric": "rgb"}),
]
WINDOWS = [
    (slice(None), slice(None)),
    (slice(10, 20), slice(5, 9)),
    (slice(30, 70), slice(40, 90)),
    (slice(60, 200), slice(85, 95)),  # past the edge
    (slice(3, 66, 7), slice(1, 90, 5)),  # every n-th pixel (the QC overview)
    (slice(None, None, 32), slice(None, None, 48)),
    (slice(5, 5), slice(0, 10)),  # empty
]


def _write(path: Path, pixels: np.ndarray, args: dict[str, Any]) -> Path:
    tifffile.imwrite(path, pixels, resolution=(1e4 / MPP, 1e4 / MPP), resolutionunit="CENTIMETER", **args)
    return path


@pytest.mark.parametrize(("name", "pixels", "args"), LAYOUTS, ids=[layout[0] for layout in LAYOUTS])
def test_windows_equal_tifffile(tmp_path: Path, name: str, pixels: np.ndarray, args: dict[str, Any]) -> None:
    path = _write(tmp_path / f"{name}.tif", pixels, args)
    image = (open_he if pixels.ndim == 3 else open_label_mask)(path)
    whole = tifffile.imread(path)
    assert image.mpp == pytest.approx(MPP) and image.shape == whole.shape
    assert image.array.dtype == whole.dtype.newbyteorder("=")
    if "jpeg" not in name:
        assert np.array_equal(whole, pixels)
    for rows, cols in WINDOWS:
        window = image.array[rows, cols]
        assert window.shape == whole[rows, cols].shape and np.array_equal(window, whole[rows, cols])
    assert np.array_equal(image.read(slice(10, 20), slice(5, 9)), whole[10:20, 5:9])


def test_a_window_decodes_only_its_chunks_each_once(tmp_path: Path) -> None:
    image = open_label_mask(_write(tmp_path / "m.tif", LABELS, {"tile": (16, 16), "compression": "zlib"}))
    decoded: list[int] = []

    def counting(data: bytes, index: int, **kwargs: Any) -> Any:
        decoded.append(index)
        return image.array.decode(data, index, **kwargs)

    pixels = dataclasses.replace(image.array, decode=counting)
    across = 6  # 90 columns in 16-px tiles
    assert np.array_equal(pixels[20:40, 30:50], LABELS[20:40, 30:50])  # tile rows 1..2, columns 1..3
    assert sorted(decoded) == [r * across + c for r in (1, 2) for c in (1, 2, 3)]
    decoded.clear()
    assert np.array_equal(pixels[::32, ::40], LABELS[::32, ::40])  # rows 0, 32, 64; columns 0, 40, 80
    assert sorted(decoded) == [r * across + c for r in (0, 2, 4) for c in (0, 2, 5)]


def test_truncated_chunks_raise_the_typed_error(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.tif", LABELS, {"tile": (16, 16), "compression": "zlib"})
    image = open_label_mask(path)
    cut = min(image.array.offsets[-3:]) + 5  # the header and the first chunks stay readable
    path.write_bytes(path.read_bytes()[:cut])
    assert np.array_equal(image.read(slice(0, 16), slice(0, 16)), LABELS[:16, :16])
    with pytest.raises(CorruptInputError, match="cannot decode TIFF") as info:
        image.read(slice(60, 70), slice(0, 90))
    assert "the file ends" in info.value.found


def test_images_in_several_planes_are_refused(tmp_path: Path) -> None:
    pages = _write(tmp_path / "pages.tif", np.stack([LABELS, LABELS]), {})
    with pytest.raises(InvalidInputError, match="not a single image plane") as info:
        open_label_mask(pages)
    assert "2 pages" in info.value.found
    planar = _write(tmp_path / "planar.tif", RGB.transpose(2, 0, 1).copy(), {"photometric": "rgb"})
    with pytest.raises(InvalidInputError, match="not a single image plane") as info:
        open_he(planar)
    assert "3 sample planes" in info.value.found and "interleaved" in info.value.fix


def test_windows_are_read_by_slices_only(tmp_path: Path) -> None:
    pixels = open_label_mask(_write(tmp_path / "m.tif", LABELS, {})).array
    assert isinstance(pixels, TiffPixels)
    for key in [(1, 2), (slice(None, None, -1), slice(None)), (slice(None),) * 3]:
        with pytest.raises(TypeError):
            pixels[key]


def test_reading_a_tiff_imports_no_zarr(tmp_path: Path) -> None:
    """The TIFF path reads the file itself: zarr (a costly import, ~0.3 CPU-s) stays out of conversions."""
    path = _write(tmp_path / "m.tif", LABELS, {"tile": (16, 16), "compression": "zlib"})
    code = (
        "import sys; from phenocell.readers.images import open_label_mask; "
        f"open_label_mask({str(path)!r}).read(slice(0, 9), slice(0, 9)); print('zarr' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
