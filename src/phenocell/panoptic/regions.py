"""Per-region raw files (label mask, H&E) and their geometric consistency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from phenocell.constants import (
    DEFAULT_MASK_MPP,
    DEFAULT_MAX_PIXELS,
    HE_DIR,
    IMAGE_SUFFIXES,
    MASK_DIR,
    POLYGON_DIR,
    POLYGON_SUFFIXES,
)
from phenocell.errors import InvalidInputError, MissingInputError
from phenocell.paths import check_inside, check_region_name
from phenocell.readers.images import open_label_mask
from phenocell.readers.polygons import read_polygons
from phenocell.records import LazyImage

#: Allowed difference between the H&E size and the mask size scaled by the pixel-size ratio.
SHAPE_TOLERANCE_PX = 2
SHAPE_TOLERANCE_FRACTION = 0.01


@dataclass(frozen=True)
class RegionFiles:
    """The files of one region: its segmentation (label TIFF or GeoJSON outlines) and its H&E."""

    region: str
    mask: Path
    he: Path


def _find(folders: Sequence[tuple[Path, tuple[str, ...]]], region: str, what: str) -> Path:
    for folder, suffixes in folders:
        for suffix in suffixes:
            candidate = folder / f"{region}{suffix}"
            if candidate.is_file():
                return candidate
    raise MissingInputError(
        f"region {region} has no {what}",
        expected=" or ".join(f"{folder}/{region}{suffixes[0]}" for folder, suffixes in folders),
        found="no such file",
        fix=f"add the {what}, or exclude the region with --exclude FILE (a CSV 'fov,reason')",
    )


def find_region_files(raw_dir: Path, region: str) -> RegionFiles:
    """Locate the segmentation (label TIFF, else GeoJSON outlines) and the H&E of ``region``.

    ``region`` must be a plain identifier, and the files found must lie inside ``raw_dir``.
    """
    check_region_name(region)
    masks = [(raw_dir / MASK_DIR, IMAGE_SUFFIXES), (raw_dir / POLYGON_DIR, POLYGON_SUFFIXES)]
    he = _find([(raw_dir / HE_DIR, IMAGE_SUFFIXES)], region, "H&E image")
    mask = _find(masks, region, "label mask")
    for path in (mask, he):
        check_inside(path, raw_dir, what="input file", follow_links=False)
    return RegionFiles(region, mask, he)


def open_segmentation(
    files: RegionFiles, he: LazyImage, mask_mpp: float | None, *, max_pixels: int = DEFAULT_MAX_PIXELS
) -> tuple[LazyImage, dict[str, int]]:
    """The region's label image and its outline statistics (``contested_pixels``, ``repaired_polygons``).

    Both statistics are 0 for label TIFFs. Outlines without a declared grid are rasterised on the grid of
    ``mask_mpp`` (default: the public release's pixel size) that covers the H&E.
    """
    if files.mask.suffix not in POLYGON_SUFFIXES:
        mask = open_label_mask(files.mask, mpp=mask_mpp, max_pixels=max_pixels)
        return mask, {"contested_pixels": 0, "repaired_polygons": 0}
    mpp = mask_mpp or DEFAULT_MASK_MPP
    shape_hw = (round(he.shape[0] * he.mpp / mpp), round(he.shape[1] * he.mpp / mpp))
    return read_polygons(files.mask, mpp=mpp, shape_hw=shape_hw, max_pixels=max_pixels)


def check_geometry(region: str, mask: LazyImage, he: LazyImage) -> None:
    """Check the H&E covers the mask: size = mask size x mask_mpp / he_mpp, within tolerance."""
    scale = mask.mpp / he.mpp
    expected = [round(n * scale) for n in mask.shape[:2]]
    found = list(he.shape[:2])
    for want, got in zip(expected, found, strict=True):
        if abs(want - got) > max(SHAPE_TOLERANCE_PX, SHAPE_TOLERANCE_FRACTION * want):
            raise InvalidInputError(
                f"region {region}: H&E and mask do not cover the same area",
                expected=f"H&E of {expected[0]}x{expected[1]} px (mask {mask.shape[0]}x{mask.shape[1]} at "
                f"{mask.mpp:.6g} µm/px, H&E at {he.mpp:.6g} µm/px, scale {scale:.4g})",
                found=f"H&E of {found[0]}x{found[1]} px",
                fix="check the registration / pixel sizes (--mask-mpp, --he-mpp) or exclude the region",
            )
