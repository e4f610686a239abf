"""Options of the synthetic raw export (``phenocell synth``), declared once and validated on creation."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, get_args

from phenocell.constants import DEFAULT_MASK_MPP
from phenocell.errors import InvalidOptionError, check_choice

Segmentation = Literal["tiff", "polygons"]
PatientFormat = Literal["csv", "xlsx"]
#: ``codex``: a CODEX export (tables, TIFFs); ``phenobench-hdf5``: the authors' per-FoV HDF5 files.
Layout = Literal["codex", "phenobench-hdf5"]


@dataclass(frozen=True)
class SynthOptions:
    """Size and seed of a synthetic export."""

    fovs: int = 12
    patients: int = 8
    seed: int = 0
    mask_shape: tuple[int, int] = (512, 640)
    scale: int = 2
    mask_mpp: float = DEFAULT_MASK_MPP
    segmentation: Segmentation = "tiff"  # "tiff": masks/<region>.tif; "polygons": polygons/<region>.geojson
    #: "csv": patients.csv with our columns; "xlsx": patients.xlsx with the release's spreadsheet columns
    patient_format: PatientFormat = "csv"
    #: p_TNM stage groups given to patients in turn (e.g. ("IIA", "IIIB", "IV")); None: stage IIIB / IVA
    p_tnm: tuple[str, ...] | None = None
    #: label ids 1..n in the masks (as the CODEX segmenter writes); False: sparse ids (multiples of 3)
    consecutive_labels: bool = False
    layout: Layout = "codex"  # phenobench-hdf5: one grid (mask_shape at mask_mpp), no scale or segmentation

    def __post_init__(self) -> None:
        if self.patients < 4 or self.fovs < self.patients:
            raise InvalidOptionError(
                "too few FoVs or patients for three split families",
                expected="patients >= 4 and fovs >= patients",
                found=f"fovs={self.fovs}, patients={self.patients}",
                fix="e.g. --fovs 12 --patients 8",
            )
        check_choice("segmentation", self.segmentation, get_args(Segmentation))
        check_choice("patient_format", self.patient_format, get_args(PatientFormat))
        bad = [v for v in self.p_tnm or () if v.rstrip("ABC") not in ("I", "II", "III", "IV")]
        if bad:
            raise InvalidOptionError(
                "invalid p_TNM stage groups",
                expected="Roman stage groups I-IV with an optional A/B/C, e.g. IIA,IIIB,IV",
                found=", ".join(bad),
                fix="e.g. --p-tnm IIA,IIIB,IIIC,IV,IVA",
            )
        check_choice("layout", self.layout, get_args(Layout))
        if min(self.mask_shape) <= 0 or self.scale <= 0:
            raise InvalidOptionError(
                "invalid synthetic FoV size",
                expected="positive mask size and scale",
                found=f"mask {self.mask_shape}, scale {self.scale}",
                fix="e.g. --mask-size 512x640 --scale 2",
            )
