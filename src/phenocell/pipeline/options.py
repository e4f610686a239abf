"""Options of convert / qc / export, declared once; the CLI derives its flags from these fields.

Every option is validated in ``__post_init__``, so a bad value fails before any input is read.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from phenocell.constants import DEFAULT_MAX_PIXELS, CellTableColumns, PatientColumns
from phenocell.errors import InvalidOptionError, check_choice
from phenocell.schema import PNG_LEVEL
from phenocell.splits import BASE_BY, BaseBy

#: Tiling layouts: ``grid`` (square tiles of --tile-size every --stride px, the last row/column shifted back
#: to the edge) or ``phenobench`` (the authors' non-overlapping linspace crops, centre-padded to 224 px).
Tiling = Literal["grid", "phenobench"]
TILINGS: tuple[str, ...] = get_args(Tiling)
#: The pixel grid tiles are cut on (without ``--target-mpp``): ``mask`` (the authors': an H&E finer than the
#: masks is area-averaged onto the mask's µm/px, as their tiles lie on the 0.377442 µm/px mask grid) or
#: ``he`` (the H&E's own pixels, labels resampled to them by nearest neighbour).
PixelGrid = Literal["mask", "he"]
PIXEL_GRIDS: tuple[str, ...] = get_args(PixelGrid)
#: Raw export formats: ``auto`` reads the authors' per-FoV HDF5 files when RAW holds ``*.hdf``, else CODEX;
#: ``lizard`` / ``pannuke`` / ``arctique`` read those public releases with their dataset profile.
Source = Literal["auto", "codex", "phenobench-hdf5", "lizard", "pannuke", "arctique"]
SOURCES: tuple[str, ...] = get_args(Source)
#: How the authors' HDF5 labels become tiles: ``pixel`` (their chain: every pixel keeps its own ``gt_ct``
#: class; dirt is background in both maps) or ``majority`` (each instance painted with its majority ``gt_ct``;
#: dirt and unclassified instances ignored (255); ``gt_ct`` outside instances dropped).
GtCtLabels = Literal["pixel", "majority"]
GT_CT_LABELS: tuple[str, ...] = get_args(GtCtLabels)
#: ``--min-cell-area`` (µm²) when not given: a QC rule for raw CODEX segmentations, where tiny segments are
#: artefacts; the authors' HDF5 files are converted without a size filter, as their chain does.
CODEX_MIN_CELL_AREA_UM2 = 10.0
HDF5_MIN_CELL_AREA_UM2 = 0.0


def _positive(name: str, flag: str, value: float | None, *, allow_zero: bool = False) -> None:
    """Raise for a negative (or, unless allowed, zero) numeric option; ``None`` means 'not set'."""
    if value is None or value > 0 or (value == 0 and allow_zero):
        return
    bound = ">= 0" if allow_zero else "> 0"
    raise InvalidOptionError(
        f"invalid {name}" + (" (negative)" if value < 0 else ""),
        expected=bound,
        found=str(value),
        fix=f"pass {flag} with a value {bound}",
    )


@dataclass
class ExecutionOptions:
    """Where FoVs are processed: a local process pool or a Dask cluster. Never changes the output."""

    workers: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        _positive("worker count", "--workers", self.workers)
        if self.scheduler is not None and not self.scheduler.strip():
            raise InvalidOptionError(
                "empty Dask scheduler address",
                expected="an address like tcp://host:8786",
                found=repr(self.scheduler),
                fix="pass --scheduler with the address the scheduler printed, or leave it out",
            )

    @property
    def local_workers(self) -> int:
        """Processes of the local pool: ``workers``, or every core when unset."""
        return self.workers or os.cpu_count() or 1


@dataclass
class ConvertOptions:
    """Options of :func:`phenocell.pipeline.convert.convert` (the flags of ``phenocell-convert``)."""

    tile_size: int = 256
    stride: int | None = None
    min_cell_area_um2: float | None = None  # None: the source's own (see min_area_um2)
    class_map: Path | None = None
    exclude: Path | None = None
    columns: CellTableColumns = field(default_factory=CellTableColumns)
    seed: int = 0
    base_by: BaseBy = "patient"
    patient_table: Path | None = None  # default: RAW_DIR/patients.csv
    patients_sheet: str | None = None
    patient_columns: PatientColumns = field(default_factory=PatientColumns)
    region_patients: Path | None = None
    splits_from: Path | None = None
    tiling: Tiling = "phenobench"
    pixel_grid: PixelGrid = "mask"
    target_mpp: float | None = None
    max_centroid_distance: float = 5.0
    mask_mpp: float | None = None
    he_mpp: float | None = None
    source: Source = "auto"
    gt_ct_labels: GtCtLabels = "pixel"
    max_pixels: int = DEFAULT_MAX_PIXELS
    png_level: int = PNG_LEVEL
    allow_unlabelled_fovs: bool = False
    overwrite: bool = False
    progress: bool = True
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)

    def __post_init__(self) -> None:
        _positive("tile size", "--tile-size", self.tile_size)
        _positive("stride", "--stride", self.stride)
        _positive("minimum cell area", "--min-cell-area", self.min_cell_area_um2, allow_zero=True)
        _positive("mask pixel size", "--mask-mpp", self.mask_mpp)
        _positive("H&E pixel size", "--he-mpp", self.he_mpp)
        _positive("pixel limit", "--max-pixels", self.max_pixels)
        check_choice("base_by", self.base_by, BASE_BY)
        check_choice("tiling", self.tiling, TILINGS)
        check_choice("pixel_grid", self.pixel_grid, PIXEL_GRIDS)
        _positive("target pixel size", "--target-mpp", self.target_mpp)
        _positive("centroid distance limit", "--max-centroid-distance", self.max_centroid_distance)
        check_choice("source", self.source, SOURCES)
        check_choice("png_level", self.png_level, range(10))
        check_choice("gt_ct_labels", self.gt_ct_labels, GT_CT_LABELS)

    def min_area_um2(self, *, hdf5: bool) -> float:
        """``--min-cell-area`` as given, else 10 µm² for a CODEX export and 0 for the authors' HDF5."""
        if self.min_cell_area_um2 is not None:
            return self.min_cell_area_um2
        return HDF5_MIN_CELL_AREA_UM2 if hdf5 else CODEX_MIN_CELL_AREA_UM2

    def record(self, *, hdf5: bool = False) -> dict[str, Any]:
        """JSON-able options for the manifest and card (paths as given, the minimum area resolved)."""
        out = asdict(self)
        out["min_cell_area_um2"] = self.min_area_um2(hdf5=hdf5)
        out["columns"] = asdict(self.columns)
        out["patient_columns"] = asdict(self.patient_columns)
        for key in ("class_map", "exclude", "patient_table", "region_patients", "splits_from"):
            out[key] = None if out[key] is None else str(out[key])
        # how it ran, not what it made; max_pixels is a safety limit that never changes what is written
        for key in ("progress", "overwrite", "execution", "max_pixels"):
            out.pop(key)
        if out["png_level"] == PNG_LEVEL:  # recorded when chosen: default manifests stay as they were
            out.pop("png_level")
        return out
