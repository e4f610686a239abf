"""Options of the sources, declared once; the CLI derives its flags from these fields.

Each source takes the dataclass that holds only what it uses (``Source.options_type``):

- :class:`RunOptions`: how a run goes (``--overwrite``, progress bar, ``--workers`` / ``--scheduler``); every
  source, and never part of what is written;
- :class:`TileOptions`: + tiling, tile size, stride, PNG level (Lizard, PanNuke; :class:`ArctiqueOptions`
  adds a seed);
- :class:`FovOptions`: + class merges, exclusions, patients, split files, pixel sizes (shared by the FoV
  sources), and the region → patient columns (``columns``); :class:`CodexOptions` widens ``columns`` to the
  whole cell table's (label id, cluster, centroids: only a CODEX export has that table) and adds, as
  :class:`Hdf5Options` and :class:`SpatialDataOptions` do, what only it reads; :class:`PixelGridOptions`
  adds ``--pixel-grid`` for the sources with two pixel grids (CODEX, SpatialData).

Every option is validated in ``__post_init__``, so a bad value fails before any input is read. This module
imports no format module (nor ``datasets`` or pandas): the CLI builds its flags from it, and picks the
options of the input's format (:data:`FORMAT_OPTIONS`), before the format's module is imported.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar, Literal, get_args

from phenocell.constants import DEFAULT_MAX_PIXELS, CellTableColumns, PatientColumns, RegionPatientColumns
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
#: How the authors' HDF5 labels become tiles: ``pixel`` (their chain: every pixel keeps its own ``gt_ct``
#: class; dirt is background in both maps) or ``majority`` (each instance painted with its majority ``gt_ct``;
#: dirt and unclassified instances ignored (255); ``gt_ct`` outside instances dropped).
GtCtLabels = Literal["pixel", "majority"]
GT_CT_LABELS: tuple[str, ...] = get_args(GtCtLabels)
#: How a SpatialData table's cell-type column is read: ``clusters`` (through the class map), ``classes``
#: (PhenoCell's names), ``auto`` (``classes`` when every value is one).
CellTypeNames = Literal["auto", "clusters", "classes"]
CELL_TYPE_NAMES: tuple[str, ...] = get_args(CellTypeNames)
#: ``--min-cell-area`` (µm²) when not given: a QC rule for raw CODEX segmentations, where tiny segments are
#: artefacts; the authors' HDF5 files are converted without a size filter, as their chain does.
CODEX_MIN_CELL_AREA_UM2 = 10.0
HDF5_MIN_CELL_AREA_UM2 = 0.0
#: Options that say how a run goes, never what it writes (left out of the manifest's record).
RUN_FIELDS = ("overwrite", "progress", "execution", "max_pixels")
#: Path options, recorded as given.
PATH_FIELDS = ("class_map", "exclude", "patient_table", "region_patients", "splits_from")


def positive(name: str, flag: str, value: float | None, *, allow_zero: bool = False) -> None:
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
    """Where units are processed: a local process pool or a Dask cluster. Never changes the output."""

    workers: int | None = None
    scheduler: str | None = None

    def __post_init__(self) -> None:
        positive("worker count", "--workers", self.workers)
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
class RunOptions:
    """How a run goes: what every source takes (the authors' LMDB release takes nothing else)."""

    overwrite: bool = False
    progress: bool = True
    execution: ExecutionOptions = field(default_factory=ExecutionOptions)

    def record(self, source: str) -> dict[str, Any]:
        """JSON-able options for the manifest and card: ``source`` first, paths as given, no run fields."""
        out: dict[str, Any] = {"source": source}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name in RUN_FIELDS or (f.name == "png_level" and value == PNG_LEVEL):
                continue  # png_level is recorded when chosen: default manifests stay as they were
            if f.name in PATH_FIELDS:
                value = None if value is None else str(value)
            out[f.name] = asdict(value) if hasattr(value, "__dataclass_fields__") else value
        return out


@dataclass
class TileOptions(RunOptions):
    """How images are cut into tiles and encoded (what every tiled source reads)."""

    tile_size: int = 256
    stride: int | None = None
    tiling: Tiling = "phenobench"
    png_level: int = PNG_LEVEL

    def __post_init__(self) -> None:
        positive("tile size", "--tile-size", self.tile_size)
        positive("stride", "--stride", self.stride)
        check_choice("tiling", self.tiling, TILINGS)
        check_choice("png_level", self.png_level, range(10))

    def record(self, source: str) -> dict[str, Any]:
        """As :meth:`RunOptions.record`, with the tile size and stride only where ``--tiling grid`` used them.

        Other tilings ignore them (the authors' crops are 224 px), so the manifest and card do not name a
        tile size the tiles do not have.
        """
        out = super().record(source)
        if self.tiling != "grid":
            del out["tile_size"], out["stride"]
        return out


@dataclass
class FovOptions(TileOptions):
    """What every FoV source reads: merges, exclusions, patients, splits, pixels.

    ``columns`` names the region and patient columns of a region → patient table (``--region-patients``, the
    authors' ``fov_patients.csv``; SpatialData: the table's patient column); :class:`CodexOptions` declares it
    again, in the same place, as the cell table's columns.
    """

    seed: int = 0
    min_cell_area_um2: float | None = None  # None: the source's own (see min_area_um2)
    class_map: Path | None = None
    exclude: Path | None = None
    columns: RegionPatientColumns | CellTableColumns = field(default_factory=RegionPatientColumns)
    base_by: BaseBy = "patient"
    patient_table: Path | None = None  # default: RAW_DIR/patients.csv
    patients_sheet: str | None = None
    patient_columns: PatientColumns = field(default_factory=PatientColumns)
    region_patients: Path | None = None
    splits_from: Path | None = None
    target_mpp: float | None = None
    mask_mpp: float | None = None
    he_mpp: float | None = None
    max_pixels: int = DEFAULT_MAX_PIXELS

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("minimum cell area", "--min-cell-area", self.min_cell_area_um2, allow_zero=True)
        positive("mask pixel size", "--mask-mpp", self.mask_mpp)
        positive("H&E pixel size", "--he-mpp", self.he_mpp)
        positive("pixel limit", "--max-pixels", self.max_pixels)
        check_choice("base_by", self.base_by, BASE_BY)
        positive("target pixel size", "--target-mpp", self.target_mpp)

    #: ``--min-cell-area`` when not given (µm²); each FoV source states its own.
    default_min_area_um2 = CODEX_MIN_CELL_AREA_UM2

    @property
    def min_area_um2(self) -> float:
        """``--min-cell-area`` as given, else the source's default."""
        return self.default_min_area_um2 if self.min_cell_area_um2 is None else self.min_cell_area_um2

    def record(self, source: str) -> dict[str, Any]:
        """The manifest's options, with the minimum cell area resolved."""
        return super().record(source) | {"min_cell_area_um2": self.min_area_um2}


@dataclass
class PixelGridOptions(FovOptions):
    """``--pixel-grid``: read by the sources whose masks and H&E may differ in µm/px (CODEX, SpatialData)."""

    pixel_grid: PixelGrid = "mask"

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("pixel_grid", self.pixel_grid, PIXEL_GRIDS)


@dataclass
class CodexOptions(PixelGridOptions):
    """Options of a raw CODEX export (``--source codex``): its cell table's columns, how cells join masks."""

    columns: CellTableColumns = field(default_factory=CellTableColumns)
    max_centroid_distance: float = 5.0
    allow_unlabelled_fovs: bool = False

    def __post_init__(self) -> None:
        super().__post_init__()
        positive("centroid distance limit", "--max-centroid-distance", self.max_centroid_distance)


@dataclass
class Hdf5Options(FovOptions):
    """Options of the authors' per-FoV HDF5 files (``--source phenobench-hdf5``)."""

    gt_ct_labels: GtCtLabels = "pixel"
    default_min_area_um2 = HDF5_MIN_CELL_AREA_UM2

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("gt_ct_labels", self.gt_ct_labels, GT_CT_LABELS)


@dataclass
class ArctiqueOptions(TileOptions):
    """Options of the Arctique release (``--source arctique``): tiling, and the seed of its validation cut."""

    seed: int = 0


@dataclass
class SpatialDataOptions(PixelGridOptions):
    """Options of a SpatialData store (``--source spatialdata``)."""

    #: The flags of the options only this source reads, ``(field, flag, help)``: the CLI adds them.
    cli_flags: ClassVar[tuple[tuple[str, str, str], ...]] = (
        ("cell_type_key", "--cell-type-column", "SpatialData: the table's cell-type column (obs)."),
        (
            "cell_type_names",
            "--cell-type-names",
            "SpatialData: clusters (CODEX names, through the class merges), classes (the 14 class names), "
            "or auto (classes when every value is one).",
        ),
        ("table", "--table", "SpatialData: the table annotating the labels, when several do."),
        ("labels_element", "--labels-element", "SpatialData: convert only this labels element (FoV)."),
        ("image_element", "--image-element", "SpatialData: the H&E image element, when several fit."),
        ("coordinate_system", "--coordinate-system", "SpatialData: the coordinate system, when several fit."),
        ("markers", "--markers/--no-markers", "SpatialData: keep the table's X as marker intensities."),
    )

    cell_type_key: str = "cell_type"
    cell_type_names: CellTypeNames = "auto"
    table: str | None = None
    labels_element: str | None = None
    image_element: str | None = None
    coordinate_system: str | None = None
    markers: bool = True
    default_min_area_um2 = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choice("cell_type_names", self.cell_type_names, CELL_TYPE_NAMES)


#: Format name (:data:`phenocell.converters.FORMATS`) → its options dataclass, the ``options_type`` of its
#: Source (a test keeps the three equal); the CLI reads it so that no format module is imported before a run.
FORMAT_OPTIONS: dict[str, type[RunOptions]] = {
    "phenobench-hdf5": Hdf5Options,
    "authors-lmdb": RunOptions,
    "lizard": TileOptions,
    "pannuke": TileOptions,
    "arctique": ArctiqueOptions,
    "spatialdata": SpatialDataOptions,
    "codex": CodexOptions,
}
