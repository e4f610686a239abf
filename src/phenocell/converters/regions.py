"""Per-region raw files (label mask, H&E) and their geometric consistency."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phenocell.constants import HE_DIR, IMAGE_SUFFIXES, MASK_DIR
from phenocell.converters.images import LazyImage
from phenocell.errors import InvalidInputError, MissingInputError

#: Allowed difference between the H&E size and the mask size scaled by the pixel-size ratio.
SHAPE_TOLERANCE_PX = 2
SHAPE_TOLERANCE_FRACTION = 0.01


@dataclass(frozen=True)
class RegionFiles:
    """The files of one region."""

    region: str
    mask: Path
    he: Path


def _find(folder: Path, region: str, what: str) -> Path:
    for suffix in IMAGE_SUFFIXES:
        candidate = folder / f"{region}{suffix}"
        if candidate.is_file():
            return candidate
    raise MissingInputError(
        f"region {region} has no {what}",
        expected=f"{folder}/{region}.tif (or .tiff)",
        found="no such file" if folder.is_dir() else f"no folder {folder}",
        fix=f"add the {what}, or exclude the region with --exclude FILE (a CSV 'fov,reason')",
    )


def find_region_files(raw_dir: Path, region: str) -> RegionFiles:
    """Locate the label mask and the H&E of ``region`` under ``raw_dir``."""
    return RegionFiles(
        region, _find(raw_dir / MASK_DIR, region, "label mask"), _find(raw_dir / HE_DIR, region, "H&E image")
    )


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
