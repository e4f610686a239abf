"""Reader for the authors' per-FoV HDF5 files (the layout their ``SchuerchDataset`` reads).

One file per FoV, named after its region (``reg002_A.hdf``), holding four datasets on one pixel grid::

    img      (3, H, W)  H&E, channels first; uint8, or uint16 scaled to 8 bit (see below)
    ifl      (C, H, W)  the CODEX channels (58 in the release), any numeric dtype
    gt_ct    (1, H, W)  granular class ids: 0 background, 1..29 the cluster names sorted alphabetically
    gt_inst  (1, H, W)  instance ids, 0 background

Leading singleton axes are squeezed, so ``(H, W)`` masks are read too. The files carry no pixel size.

A uint16 ``img`` is scaled linearly over the full 16-bit range: ``v8 = round(v16 / 257)`` (257 = 65535 / 255,
so 0 → 0 and 65535 → 255, and an 8-bit image stored as ``v8 * 257`` comes back exactly). Other dtypes are
refused rather than guessed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from phenocell.constants import DEFAULT_MAX_PIXELS
from phenocell.errors import CorruptInputError, InvalidInputError, require_file, require_package
from phenocell.records import check_pixels

DATASETS = ("img", "ifl", "gt_ct", "gt_inst")
#: Granular ids in ``gt_ct``: 0 background, 1..29 the sorted cluster names.
MAX_FINE_ID = 29
UINT16_TO_UINT8 = 257


@dataclass
class PhenoBenchFov:
    """One FoV's H&E and label maps, all (H, W) on the same grid."""

    path: Path
    he: np.ndarray  # (H, W, 3) uint8
    fine: np.ndarray  # (H, W) uint8 granular ids 0..29
    instances: np.ndarray  # (H, W) int64 instance ids, 0 = background
    channels: int  # number of ifl channels


def _h5py() -> Any:
    require_package("h5py", "phenobench", "reading the authors' per-FoV HDF5 files")
    import h5py

    return h5py


def _plane(data: Any, name: str, path: Path) -> np.ndarray:
    """A 2-D map from a (1, H, W) or (H, W) dataset."""
    array = np.asarray(data[name][()])
    while array.ndim > 2 and array.shape[0] == 1:
        array = array[0]
    if array.ndim != 2 or array.dtype.kind not in "ui":
        raise InvalidInputError(
            f"{path}: dataset {name!r} is not an integer map",
            expected="(1, H, W) or (H, W) integers",
            found=f"shape {array.shape}, dtype {array.dtype}",
            fix="re-export the file in the authors' layout",
        )
    return array


def to_uint8(image: np.ndarray, path: Path) -> np.ndarray:
    """An H&E array as uint8: unchanged if uint8, ``round(v / 257)`` if uint16, refused otherwise."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) + UINT16_TO_UINT8 // 2) // UINT16_TO_UINT8).astype(np.uint8)
    raise InvalidInputError(
        f"{path}: H&E 'img' has dtype {image.dtype}",
        expected="uint8 or uint16",
        found=str(image.dtype),
        fix="store the H&E as 8- or 16-bit integers",
    )


def _he(data: Any, path: Path) -> np.ndarray:
    image = np.asarray(data["img"][()])
    if image.ndim != 3 or image.shape[0] != 3:
        raise InvalidInputError(
            f"{path}: H&E 'img' is not channels-first RGB",
            expected="(3, H, W)",
            found=f"shape {image.shape}",
            fix="store the H&E as (3, H, W)",
        )
    return np.ascontiguousarray(np.moveaxis(to_uint8(image, path), 0, -1))


def _open(path: Path) -> Any:
    h5py = _h5py()
    require_file(path, "HDF5 file", "add the FoV's .hdf file or exclude it with --exclude")
    try:
        handle = h5py.File(path, "r")
    except OSError as err:
        raise CorruptInputError(
            f"cannot open HDF5 file {path}",
            expected="a readable HDF5 file",
            found=f"{type(err).__name__}: {err}",
            fix="re-download or re-export the file; check it is not truncated",
        ) from err
    missing = [name for name in DATASETS if name not in handle]
    if missing:
        found = sorted(handle.keys())
        handle.close()
        raise InvalidInputError(
            f"HDF5 file {path} lacks datasets {missing}",
            expected=f"datasets {list(DATASETS)}",
            found=f"datasets {found}",
            fix="pass a per-FoV export of the authors' layout (img, ifl, gt_ct, gt_inst)",
        )
    return handle


def _check_maps(path: Path, he: np.ndarray, fine: np.ndarray, inst: np.ndarray) -> None:
    if not (he.shape[:2] == fine.shape == inst.shape):
        raise InvalidInputError(
            f"{path}: img, gt_ct and gt_inst differ in size",
            expected="one (H, W) grid",
            found=f"img {he.shape[:2]}, gt_ct {fine.shape}, gt_inst {inst.shape}",
            fix="re-export the file",
        )
    lo, hi = (int(fine.min()), int(fine.max())) if fine.size else (0, 0)
    if lo < 0 or hi > MAX_FINE_ID:
        raise InvalidInputError(
            f"{path}: gt_ct holds ids outside 0..{MAX_FINE_ID}",
            expected=f"0 (background) or 1..{MAX_FINE_ID} (sorted cluster names)",
            found=f"ids in [{lo}, {hi}]",
            fix="check the file is the authors' granular (29-class) export",
        )
    if inst.size and int(inst.min()) < 0:
        raise InvalidInputError(
            f"{path}: gt_inst holds negative ids",
            expected="ids >= 0",
            found=f"minimum {int(inst.min())}",
            fix="re-export the instance map",
        )


def read_phenobench_hdf5(path: Path, *, max_pixels: int = DEFAULT_MAX_PIXELS) -> PhenoBenchFov:
    """Read one FoV's H&E, ``gt_ct`` and ``gt_inst`` (the ``ifl`` stack is read by :func:`marker_means`).

    The H&E's declared H x W is checked against ``max_pixels`` before any pixel is read.

    Raises:
        MissingDependencyError: h5py is not installed.
        MissingInputError: the file is absent.
        CorruptInputError: the file cannot be opened or decoded.
        InvalidInputError: a dataset is missing, has the wrong shape or dtype, or ids out of range.
        ResourceLimitError: the H&E declares more than ``max_pixels`` pixels.

    """
    path = Path(path)
    with _open(path) as data:
        if "img" in data:
            check_pixels(path, "H&E 'img' of", tuple(data["img"].shape)[-2:], max_pixels)
        try:
            he, fine, inst = _he(data, path), _plane(data, "gt_ct", path), _plane(data, "gt_inst", path)
            channels = int(data["ifl"].shape[0]) if data["ifl"].ndim == 3 else 0
        except OSError as err:
            raise CorruptInputError(
                f"cannot decode HDF5 file {path}",
                expected="readable datasets",
                found=f"{type(err).__name__}: {err}",
                fix="re-download or re-export the file",
            ) from err
    _check_maps(path, he, fine, inst)
    return PhenoBenchFov(path, he, fine.astype(np.uint8), inst.astype(np.int64), channels)


def marker_means(path: Path, instances: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Mean of every ``ifl`` channel over each instance: (len(labels), C) float32, one channel at a time.

    Args:
        path: the HDF5 file.
        instances: its (H, W) instance map.
        labels: the sorted non-zero instance ids to average over (each must occur in ``instances``).

    """
    fg = instances > 0
    index = np.searchsorted(labels, instances[fg])
    area = np.bincount(index, minlength=len(labels)).astype(np.float64)
    with _open(Path(path)) as data:
        ifl = data["ifl"]
        if ifl.ndim != 3 or tuple(ifl.shape[1:]) != instances.shape:
            raise InvalidInputError(
                f"{path}: 'ifl' does not match the masks",
                expected=f"(C, {instances.shape[0]}, {instances.shape[1]})",
                found=f"shape {ifl.shape}",
                fix="re-export the file",
            )
        out = np.empty((len(labels), ifl.shape[0]), dtype=np.float32)
        for channel in range(ifl.shape[0]):
            plane = np.asarray(ifl[channel], dtype=np.float64)
            sums = np.bincount(index, weights=plane[fg], minlength=len(labels))
            out[:, channel] = sums / np.maximum(area, 1)
    return out


def ifl_channels(path: Path) -> int:
    """Number of channels of the file's ``ifl`` stack (0 when it is not a (C, H, W) stack)."""
    with _open(Path(path)) as data:
        return int(data["ifl"].shape[0]) if data["ifl"].ndim == 3 else 0


def channel_names(path: Path | None, hdf_file: Path, channels: int) -> list[str]:
    """Names of the ``ifl`` channels: one per line in ``path`` when it exists, else ``ifl_00``, ``ifl_01``...

    Raises:
        InvalidInputError: the file lists another number of names than the stack has channels.

    """
    if path is None or not Path(path).is_file():
        return [f"ifl_{c:02d}" for c in range(channels)]
    names = [line.strip() for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
    if len(names) != channels or len(set(names)) != len(names):
        raise InvalidInputError(
            f"channel names {path} do not fit the 'ifl' stack of {hdf_file}",
            expected=f"{channels} distinct names, one per line",
            found=f"{len(names)} names ({len(set(names))} distinct)",
            fix="list one name per ifl channel, in channel order",
        )
    return names
