"""Readers for the per-region TIFFs: label masks and registered H&E images, opened lazily.

Both are opened with ``tifffile``, which parses the header once; a window is then read straight from the
file, chunk by chunk (TIFF tiles or strips), so a tile or a row strip is decoded without reading the whole
image. The pixel size (µm/px) comes from the TIFF resolution tags unless the caller gives it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tifffile

from phenocell.constants import DEFAULT_MAX_PIXELS
from phenocell.errors import InvalidInputError, require_file
from phenocell.records import LazyImage, check_pixels, corrupt_image_error

_UNIT_TO_UM = {2: 25_400.0, 3: 10_000.0}  # TIFF ResolutionUnit: 2 inch, 3 centimetre


def _tag_mpp(page: Any) -> float | None:
    tags = page.tags
    if "XResolution" not in tags or "ResolutionUnit" not in tags:
        return None
    num, den = tags["XResolution"].value
    unit = int(tags["ResolutionUnit"].value)
    if unit not in _UNIT_TO_UM or num == 0:
        return None
    return _UNIT_TO_UM[unit] * den / num


_JPEG = {6, 7, 33007, 34892}  # TIFF compressions whose chunks need the page's JPEG tables


@dataclass(frozen=True)
class TiffPixels:
    """The pixels of one TIFF page, read and decoded chunk by chunk (its tiles or strips) from the file.

    Indexed like a numpy array with up to two slices (rows, columns; steps > 0), it reads only the chunks
    that hold a selected pixel, in file order, decodes each once and returns a new array; the file is
    opened for each read. Chunks the file leaves out (offset or byte count 0) read as 0.
    """

    path: Path
    shape: tuple[int, ...]  # (H, W) or (H, W, samples)
    dtype: np.dtype
    chunks: tuple[int, int]  # rows and columns of one chunk
    offsets: tuple[int, ...]  # per chunk, row-major
    bytecounts: tuple[int, ...]
    # tifffile's TiffPage.decode: (bytes, chunk index) -> (pixels, position, shape)
    decode: Callable[..., Any]
    decode_args: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def of_page(cls, path: Path, page: Any) -> TiffPixels:
        """The pixels of ``page`` (a ``tifffile.TiffPage`` with one interleaved plane, depth 1)."""
        args = {"jpegtables": page.jpegtables, "jpegheader": page.jpegheader}
        return cls(
            path=path,
            shape=tuple(int(n) for n in page.shape),
            dtype=np.dtype(page.dtype).newbyteorder("="),
            chunks=(int(page.chunks[0]), int(page.chunks[1])),
            offsets=tuple(int(n) for n in page.dataoffsets),
            bytecounts=tuple(int(n) for n in page.databytecounts),
            decode=page.decode,
            decode_args=args if page.compression in _JPEG else {},
        )

    def __getitem__(self, key: Any) -> np.ndarray:
        rows, cols = _selection(key, (self.shape[0], self.shape[1]))
        out = np.zeros((len(rows), len(cols), *self.shape[2:]), dtype=self.dtype)
        if not out.size:
            return out
        (step_y, step_x), across = self.chunks, -(-self.shape[1] // self.chunks[1])
        wanted = [
            int(y) * across + int(x) for y in np.unique(rows // step_y) for x in np.unique(cols // step_x)
        ]
        with open(self.path, "rb") as fh:
            for index in sorted(wanted, key=lambda i: self.offsets[i]):
                offset, count = self.offsets[index], self.bytecounts[index]
                if offset <= 0 or count <= 0:
                    continue  # a chunk the file leaves out: zeros
                fh.seek(offset)
                data = fh.read(count)
                if len(data) < count:
                    raise ValueError(f"chunk {index}: the file ends {len(data)} of its {count} bytes in")
                pixels, position, _ = self.decode(data, index, **self.decode_args)
                _place(out, pixels[0], position[2], position[3], rows, cols)
        return out


def _selection(key: Any, size: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """The rows and columns that ``key`` (up to two slices with steps > 0) selects, as index arrays."""
    key = key if isinstance(key, tuple) else (key,)
    if len(key) > 2 or not all(isinstance(k, slice) for k in key):
        raise TypeError(f"TIFF pixels are read by up to two slices, not {key!r}")
    ranges = [k.indices(n) for k, n in zip((*key, slice(None), slice(None)), size, strict=False)]
    if any(step <= 0 for _, _, step in ranges):
        raise TypeError(f"TIFF pixels are read with steps > 0, not {key!r}")
    rows, cols = (np.arange(*r) for r in ranges)
    return rows, cols


def _place(
    out: np.ndarray, chunk: np.ndarray, top: int, left: int, rows: np.ndarray, cols: np.ndarray
) -> None:
    """Copy the selected pixels of one decoded chunk (top-left pixel at ``top``, ``left``) into ``out``."""
    if out.ndim == 2:
        chunk = chunk[..., 0]
    r0, r1 = np.searchsorted(rows, [top, top + chunk.shape[0]])
    c0, c1 = np.searchsorted(cols, [left, left + chunk.shape[1]])
    if r0 == r1 or c0 == c1:
        return
    row_step = int(rows[1] - rows[0]) if len(rows) > 1 else 1
    col_step = int(cols[1] - cols[0]) if len(cols) > 1 else 1
    out[r0:r1, c0:c1] = chunk[
        rows[r0] - top : rows[r1 - 1] - top + 1 : row_step,
        cols[c0] - left : cols[c1 - 1] - left + 1 : col_step,
    ]


def _open(path: Path, what: str, mpp: float | None, max_pixels: int) -> LazyImage:
    require_file(path, what, f"add the {what} or exclude its region with --exclude")
    try:
        with tifffile.TiffFile(path) as tif:  # tags such as JPEG tables are read while the file is open
            page_mpp = _tag_mpp(tif.pages[0])
            series = tif.series[0]  # of a pyramid, its full-resolution level
            shape = tuple(int(n) for n in series.shape)
            pages, page = len(series.pages), series.keyframe
            planes = tuple(int(n) for n in page.shaped[:2])  # separate sample planes, depth
            array = TiffPixels.of_page(path, page) if (pages, planes) == (1, (1, 1)) else None
    except Exception as err:
        raise corrupt_image_error(path, err) from err
    check_pixels(path, what, shape, max_pixels)
    if array is None:
        raise InvalidInputError(
            f"{what} {path} is not a single image plane",
            expected="one TIFF page holding the image (samples interleaved, no depth)",
            found=f"{pages} pages of shape {shape}"
            if pages != 1
            else f"{planes[0]} sample planes, depth {planes[1]}",
            fix=f"save the {what} as one page"
            + (" with interleaved samples (planar configuration contig)" if planes[0] != 1 else ""),
        )
    resolved = mpp if mpp is not None else page_mpp
    if resolved is None or not np.isfinite(resolved) or resolved <= 0:
        raise InvalidInputError(
            f"no pixel size for {what} {path}",
            expected="TIFF resolution tags (XResolution + ResolutionUnit) or an explicit pixel size",
            found="no usable resolution tags",
            fix="pass --mask-mpp / --he-mpp (µm per pixel)",
        )
    return LazyImage(path=path, array=array, mpp=float(resolved))


def open_label_mask(
    path: Path, *, mpp: float | None = None, max_pixels: int = DEFAULT_MAX_PIXELS
) -> LazyImage:
    """Open a label image (2-D integer, 0 = background; negative labels are refused when scanned)."""
    image = _open(Path(path), "label mask", mpp, max_pixels)
    if len(image.shape) != 2 or image.array.dtype.kind not in "ui":
        raise InvalidInputError(
            f"label mask {path} is not a 2-D integer image",
            expected="(H, W) uint16/uint32 labels",
            found=f"shape {image.shape}, dtype {image.array.dtype}",
            fix="export the segmentation as a single-channel integer label TIFF",
        )
    return image


def open_he(path: Path, *, mpp: float | None = None, max_pixels: int = DEFAULT_MAX_PIXELS) -> LazyImage:
    """Open a registered H&E image (H, W, 3) uint8; RGBA and other layouts are refused."""
    image = _open(Path(path), "H&E image", mpp, max_pixels)
    if len(image.shape) != 3 or image.shape[2] != 3 or image.array.dtype != np.uint8:
        rgba = len(image.shape) == 3 and image.shape[2] == 4
        raise InvalidInputError(
            f"H&E image {path} is not 8-bit RGB" + (" (it has an alpha channel)" if rgba else ""),
            expected="(H, W, 3) uint8 (interleaved RGB)",
            found=f"shape {image.shape}, dtype {image.array.dtype}",
            fix="save the H&E as an 8-bit RGB TIFF"
            + (" without alpha (drop the 4th channel)" if rgba else ""),
        )
    return image


def nearest_indices(start: int, length: int, src_mpp: float, dst_mpp: float, limit: int) -> np.ndarray:
    """Source-pixel indices of ``length`` destination pixels from ``start`` (nearest neighbour).

    Destination pixel ``i`` has its centre at ``(i + 0.5) * dst_mpp`` µm, which lies in source pixel
    ``floor((i + 0.5) * dst_mpp / src_mpp)``; indices are clipped to ``[0, limit)``.
    """
    centres = (np.arange(start, start + length, dtype=np.float64) + 0.5) * (dst_mpp / src_mpp)
    return np.clip(np.floor(centres).astype(np.int64), 0, limit - 1)


def read_window(mask: LazyImage, rows: np.ndarray, cols: np.ndarray) -> tuple[np.ndarray, ...]:
    """The mask window covering ``rows`` x ``cols``, and those indices relative to the window."""
    r0, r1, c0, c1 = int(rows.min()), int(rows.max()) + 1, int(cols.min()), int(cols.max()) + 1
    return mask.read(slice(r0, r1), slice(c0, c1)), rows - r0, cols - c0


def pick(window: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """``window[rows][:, cols]`` (nearest neighbour), row-major; ``window`` itself where both pick all.

    Rows, then columns, each by ``take``: several times faster than one ``np.ix_`` gather, and unlike
    ``window[rows][:, cols]`` (column-major, so every tile was transposed again for its PNG) row-major.
    """
    height, width = window.shape[:2]
    same_rows = len(rows) == height and bool((rows == np.arange(height)).all())
    if same_rows and len(cols) == width and bool((cols == np.arange(width)).all()):
        return window
    return window.take(rows, axis=0).take(cols, axis=1)


def read_resampled(mask: LazyImage, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Read the mask window covering ``rows`` x ``cols`` and pick those pixels (no interpolation; a copy)."""
    window, rows, cols = read_window(mask, rows, cols)
    picked = pick(window, rows, cols)
    return picked.copy() if picked is window else picked


@dataclass
class BandedImage(LazyImage):
    """A :class:`LazyImage` whose reads are served from a full-width row band, decoded once.

    Tiles of one row share their rows, so reading a band once per tile row replaces one windowed decode
    per tile with one per row. The band starts and ends on the file's
    chunk rows (TIFF strips or tile rows), and a read that runs past it keeps the rows it still needs and
    decodes only the chunk rows after them, so each chunk is decoded once when reads move down the
    image; memory is one band. An image already in memory is sliced directly.
    """

    _band: np.ndarray | None = field(default=None, init=False, repr=False)
    _top: int = field(default=0, init=False, repr=False)

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        """The window ``rows`` x ``cols``, from the band holding ``rows`` (decoded when not held)."""
        if isinstance(self.array, np.ndarray):
            return super().read(rows, cols)
        start, stop = rows.start or 0, self.shape[0] if rows.stop is None else rows.stop
        band = self._band
        if band is None or start < self._top or stop > self._top + band.shape[0]:
            band = self._load(start, stop)
        return band[start - self._top : stop - self._top, cols]

    def _load(self, start: int, stop: int) -> np.ndarray:
        """Hold rows ``start:stop`` widened to chunk rows, reusing the held rows from ``start`` on."""
        step = int((getattr(self.array, "chunks", None) or (1,))[0]) or 1
        top, bottom = start // step * step, min(-(-stop // step) * step, self.shape[0])
        band = self._band
        if band is not None and self._top <= top < self._top + band.shape[0]:
            kept = band[top - self._top : bottom - self._top]
        else:
            kept = None
        held = 0 if kept is None else kept.shape[0]
        fresh = super().read(slice(top + held, bottom), slice(0, self.shape[1]))
        self._band = fresh if kept is None else np.concatenate([kept, fresh])
        self._top = top
        return self._band


def banded(image: LazyImage) -> BandedImage:
    """``image`` read through row bands (:class:`BandedImage`)."""
    return BandedImage(image.path, image.array, image.mpp)
