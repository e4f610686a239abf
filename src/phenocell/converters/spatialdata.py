"""``--source spatialdata``: a SpatialData store (``STORE.zarr``, the scverse format) → PhenoCell.

The store is read by :mod:`phenocell.readers.spatialdata` (its layout, the choice of table, labels, H&E and
coordinate system, and the geometry). What this source adds::

    STORE.zarr/
      labels/<fov>     one FoV per labels element the table annotates (or only --labels-element)
      tables/<name>    obs[--cell-type-column] (default "cell_type", the scverse name) each cell's type;
                       obs[--patient-column] (default "patients") its patient, unless --region-patients maps
                       FoVs (labels element names) to patients; X the marker intensities (var names)
      patients.csv     the patient table, as for a CODEX export (or --patients FILE)

Cell types (``--cell-type-names``): ``clusters`` go through the class merges (CODEX cluster names,
``--class-map``), ``classes`` are the 14 PhenoCell class names (``ignore`` = 255), case and spacing folded;
``auto`` reads ``classes`` when every value is one. A label without a row or a type is ignored (255).

Coordinates are read as µm unless ``--mask-mpp`` (``--he-mpp``) gives the labels' (H&E's) µm/px. Labels that
map onto the H&E by a scale alone keep their grid (tiles follow ``--pixel-grid`` as for CODEX); any other
placement resamples them onto the H&E grid. No minimum cell area unless ``--min-cell-area``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from phenocell.converters import recognisers
from phenocell.converters.base import PanopticFov
from phenocell.converters.fov_sources import FovSourceBase, check_patients, select_fovs
from phenocell.converters.options import SpatialDataOptions
from phenocell.converters.outputs import kept_regions
from phenocell.converters.patients import mapped_fov_patients, patient_table_path, read_patients
from phenocell.errors import InvalidInputError
from phenocell.panoptic.class_merges import ClassMap, load_class_map
from phenocell.panoptic.labelling import UNMATCHED, FovCells, scan_labels
from phenocell.readers.spatialdata import (
    Placement,
    TableKeys,
    align,
    labels_elements,
    obs_column,
    pick_table,
    place,
    read_store,
)
from phenocell.records import LazyImage, NormalisationLog
from phenocell.schema import CLASS_NAMES, IGNORE_INDEX, IGNORE_NAME

#: PhenoCell's own class names read as themselves (``--cell-type-names classes``).
IDENTITY_MAP = ClassMap(
    ids={name: i for i, name in enumerate(CLASS_NAMES) if i > 0} | {IGNORE_NAME: IGNORE_INDEX},
    sources=("the 14 PhenoCell class names (identity)",),
)


def cell_type_map(values: Any, options: SpatialDataOptions) -> ClassMap:
    """The class map the cell types go through: the class merges, or PhenoCell's names (identity)."""
    mode = options.cell_type_names
    if mode == "auto":
        known = {" ".join(n.lower().split()) for n in IDENTITY_MAP.ids}
        names = {" ".join(str(v).lower().split()) for v in values}
        mode = "classes" if names <= known else "clusters"
    return IDENTITY_MAP if mode == "classes" else load_class_map(options.class_map)


@dataclass
class FovRows:
    """One FoV's table rows: label ids, cell-type names (``unmatched`` where missing), class ids, markers."""

    ids: np.ndarray
    names: np.ndarray
    classes: np.ndarray
    markers: Any  # (rows, markers): numpy or scipy.sparse


def _instance_ids(table: Any, keys: TableKeys) -> np.ndarray:
    """The table's label ids (``instance_key``) as int64; other values are a typed error."""
    values = obs_column(table, keys, keys.instance_key, "instance id", "--table").to_numpy()
    if values.dtype.kind not in "ui" and not (
        values.dtype.kind == "f" and np.all(values == np.round(values))
    ):
        raise InvalidInputError(
            f"table {keys.name!r}: instance ids {keys.instance_key!r} are not integers",
            expected="the label id of each row's cell in its labels element",
            found=f"dtype {values.dtype}",
            fix="store the labels' ids in the instance_key column",
        )
    return values.astype(np.int64)


def table_rows(table: Any, keys: TableKeys, fovs: list[str], options: SpatialDataOptions) -> tuple:
    """Each FoV's rows, and the class map their cell types went through (``(rows, class_map)``)."""
    regions = obs_column(table, keys, keys.region_key, "region", "--table").astype(str).to_numpy()
    types = obs_column(table, keys, options.cell_type_key, "cell-type", "--cell-type-column")
    ids, named = _instance_ids(table, keys), types.notna().to_numpy()
    names = np.where(named, types.astype(str).to_numpy(dtype=object), UNMATCHED)
    class_map = cell_type_map(np.unique(names[named]), options)
    where = f" (table {keys.name!r}, column {options.cell_type_key!r})"
    lookup = {
        n: class_map.class_id(class_map.canonical(n, context=where), context=where) for n in set(names[named])
    }
    classes = np.array([lookup.get(n, IGNORE_INDEX) for n in names], dtype=np.uint8)
    markers = table.X if options.markers and table.n_vars else np.zeros((len(ids), 0), dtype=np.float32)
    out = {}
    for fov in fovs:
        at = np.flatnonzero(regions == fov)
        repeated = np.unique(ids[at])[np.unique(ids[at], return_counts=True)[1] > 1]
        if repeated.size:
            raise InvalidInputError(
                f"table {keys.name!r}: several rows claim one label of {fov!r}",
                expected=f"one row per label in column {keys.instance_key!r}",
                found=f"labels {repeated[:5].tolist()} repeated",
                fix="keep one row per cell",
            )
        out[fov] = FovRows(ids[at], names[at], classes[at], markers[at])
    return out, class_map


def label_fov(mask: LazyImage, rows: FovRows, *, fov_index: int, min_area_px: float) -> FovCells:
    """Join the FoV's rows to its labels by id (labels without a row, or without a type, get 255)."""
    stats = scan_labels(mask)
    n = len(stats.labels)
    pos = np.minimum(np.searchsorted(stats.labels, rows.ids), max(n - 1, 0))
    found = (stats.labels[pos] == rows.ids) if n else np.zeros(len(rows.ids), dtype=bool)
    names = np.full(n, UNMATCHED, dtype=object)
    classes = np.full(n, IGNORE_INDEX, dtype=np.uint8)
    markers = np.full((n, rows.markers.shape[1]), np.nan, dtype=np.float32)
    names[pos[found]], classes[pos[found]] = rows.names[found], rows.classes[found]
    picked = rows.markers[np.flatnonzero(found)]
    markers[pos[found]] = picked.toarray() if hasattr(picked, "toarray") else np.asarray(picked)
    small = stats.area < min_area_px
    qc: dict[str, float] = {
        "table_rows": len(rows.ids),
        "rows_without_mask_label": int((~found).sum()),
        "rows_sharing_a_label": 0,
        "labels": n,
        "unmatched_labels": int((names == UNMATCHED).sum()),
        "dirt_or_ignored": int(((classes == IGNORE_INDEX) & (names != UNMATCHED)).sum()),
        "below_min_area": int((small & (classes != IGNORE_INDEX)).sum()),
    }
    classes[small] = IGNORE_INDEX
    cell_ids = (np.int64(fov_index) << np.int64(32)) | stats.labels.astype(np.int64)
    return FovCells(stats.labels, cell_ids, classes, names, stats.area, stats.cy, stats.cx, markers, qc)


def fov_patients(table: Any, keys: TableKeys, fovs: list[str], options: SpatialDataOptions, log: Any) -> dict:
    """FoV → patient: ``--region-patients FILE``, else the table's patient column (one patient per FoV)."""
    if options.region_patients:
        return mapped_fov_patients(Path(options.region_patients), options, fovs, log)
    column = options.columns.patient or "patients"
    patients = obs_column(table, keys, column, "patient", "--patient-column (or --region-patients FILE)")
    regions = table.obs[keys.region_key].astype(str).to_numpy()
    pairs = {(r, str(p)) for r, p in zip(regions, patients.to_numpy(), strict=True) if r in fovs}
    per_fov: dict[str, list[str]] = {f: sorted(p for r, p in pairs if r == f) for f in fovs}
    bad = {f: p for f, p in per_fov.items() if len(p) != 1}
    if bad:
        raise InvalidInputError(
            f"table {keys.name!r}: FoVs without exactly one patient in column {column!r}",
            expected="one patient per labels element (and at least one row)",
            found=", ".join(f"{f}: {p or 'no rows'}" for f, p in list(bad.items())[:5]),
            fix="fix the patient column, map FoVs with --region-patients FILE, or leave them out (--exclude)",
        )
    return {f: p[0] for f, p in per_fov.items()}


@dataclass
class SpatialDataSource(FovSourceBase):
    """A SpatialData store opened: its table's rows per FoV, patients, and where each FoV's elements lie."""

    name: ClassVar[str] = "spatialdata"
    options_type: ClassVar[type] = SpatialDataOptions

    options: SpatialDataOptions
    placements: dict[str, Placement]
    rows: dict[str, FovRows]

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """A zarr folder whose root carries spatialdata's attributes."""
        return recognisers.spatialdata(path)

    @classmethod
    def open(cls, path: Path, options: SpatialDataOptions) -> SpatialDataSource:
        """Read the table, patients and transformations; check every choice of element before converting."""
        raw = Path(path)
        sdata = read_store(raw)
        keys = pick_table(sdata, raw, options.table)
        table = sdata.tables[keys.name]
        fovs = labels_elements(keys, options.labels_element)
        excluded, authors = select_fovs(options, fovs)
        kept = kept_regions(fovs, excluded, unit="FoVs")
        rows, class_map = table_rows(table, keys, kept, options)
        log = NormalisationLog()
        fov_patient = fov_patients(table, keys, kept, options, log)
        patients = read_patients(raw, options, log)
        check_patients(fov_patient, patients, patient_table_path(raw, options))
        return cls(
            raw=raw,
            options=options,
            patients=patients,
            class_map=class_map,
            fov_patient=fov_patient,
            excluded=excluded,
            fov_index={f: i for i, f in enumerate(keys.labels, start=1)},
            markers=[str(v) for v in table.var_names] if options.markers else [],
            authors=authors,
            normalised=log,
            placements={
                f: place(sdata, f, system=options.coordinate_system, image=options.image_element)
                for f in kept
            },
            rows=rows,
        )

    def for_unit(self, unit: str) -> SpatialDataSource:
        """Only this FoV's rows, placement and patient."""
        placements, rows = {unit: self.placements[unit]}, {unit: self.rows[unit]}
        return replace(self, placements=placements, rows=rows, fov_patient={unit: self.fov_patient[unit]})

    def pixel_grid(self) -> str:
        """``--pixel-grid``."""
        return self.options.pixel_grid

    def open_fov(self, unit: str) -> PanopticFov:
        """The FoV's H&E and labels over their common extent, and its cells labelled from the table."""
        sdata = read_store(self.raw, selection=("images", "labels"))
        options = self.options
        he, mask = align(
            sdata,
            self.raw,
            self.placements[unit],
            mask_mpp=options.mask_mpp,
            he_mpp=options.he_mpp,
            max_pixels=options.max_pixels,
        )
        min_area_px = self.options.min_area_um2 / mask.mpp**2
        cells = label_fov(mask, self.rows[unit], fov_index=self.fov_index[unit], min_area_px=min_area_px)
        return PanopticFov(he, mask, cells, {"contested_pixels": 0, "repaired_polygons": 0})


SOURCE = SpatialDataSource
