"""``--source codex``: a raw CODEX export → PhenoCell (what ``auto`` falls back to).

Raw layout (names in :mod:`phenocell.constants`)::

    RAW/
      CRC_clusters_neighborhoods_markers.csv   per-cell table: region, label id and/or centroid, ClusterName,
                                               patient, size, marker intensities
      masks/<region>.tif                       label image per region (0 = background); or
      polygons/<region>.geojson                cell outlines per region
      he/<region>.tif                          registered H&E per region (possibly at another µm/px)
      patients.csv                             patient table (or --patients FILE, CSV / .xlsx)

Each region is one unit (FoV): its cells are joined to the mask labels (by id, or by centroid), merged
into the 14 classes, and cut into tiles on the mask grid (``--pixel-grid``) or ``--target-mpp``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from phenocell.constants import CELL_TABLE_FILE
from phenocell.converters import recognisers
from phenocell.converters.base import PanopticFov
from phenocell.converters.codex_checks import canonical_cluster_names, check_region_names, unlabelled_fovs
from phenocell.converters.fov_sources import FovSourceBase, check_patients, select_fovs
from phenocell.converters.options import CodexOptions
from phenocell.converters.outputs import kept_regions
from phenocell.converters.patients import (
    cell_table_columns,
    mapped_fov_patients,
    patient_table_path,
    read_patients,
)
from phenocell.errors import InvalidInputError
from phenocell.panoptic.class_merges import load_class_map
from phenocell.panoptic.labelling import label_cells
from phenocell.panoptic.regions import RegionFiles, check_geometry, find_region_files, open_segmentation
from phenocell.readers.cell_table import CellTable, read_cell_table
from phenocell.readers.images import open_he
from phenocell.records import NormalisationLog


def _fov_patients(table: CellTable, regions: list[str]) -> dict[str, str]:
    cols = table.columns
    pairs = table.frame[[cols.region, cols.patient]].astype(str).drop_duplicates()
    many = pairs[cols.region][pairs[cols.region].duplicated()].unique().tolist()
    if many:
        raise InvalidInputError(
            "regions with several patients in the cell table",
            expected="one patient per region",
            found=f"regions {many[:5]}",
            fix=f"check the {cols.patient!r} column",
        )
    lookup = dict(zip(pairs[cols.region], pairs[cols.patient], strict=True))
    return {r: lookup[r] for r in regions}


@dataclass
class CodexSource(FovSourceBase):
    """A CODEX export opened: its cell table, patients, class merges and the files of every kept region."""

    name: ClassVar[str] = "codex"
    options_type: ClassVar[type] = CodexOptions

    options: CodexOptions
    table: CellTable
    regions: dict[str, RegionFiles]

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """A folder holding the cell table."""
        return recognisers.codex(path)

    @classmethod
    def open(cls, path: Path, options: CodexOptions) -> CodexSource:
        """Read and cross-check the tables, class names and file presence before converting."""
        raw = Path(path)
        log = NormalisationLog()
        table = read_cell_table(raw / CELL_TABLE_FILE, columns=cell_table_columns(options), log=log)
        patients = read_patients(raw, options, log)
        class_map = load_class_map(options.class_map)
        canonical_cluster_names(table, class_map, raw / CELL_TABLE_FILE, log)
        all_regions = table.regions()
        check_region_names(all_regions, raw / CELL_TABLE_FILE)
        excluded, authors = select_fovs(options, all_regions)
        excluded |= unlabelled_fovs(raw, all_regions, excluded, allow=options.allow_unlabelled_fovs)
        regions = kept_regions(all_regions, excluded, unit="regions")
        if options.region_patients:
            fov_patient = mapped_fov_patients(options.region_patients, options, regions, log)
        else:
            fov_patient = _fov_patients(table, regions)
        check_patients(fov_patient, patients, patient_table_path(raw, options))
        return cls(
            raw=raw,
            options=options,
            patients=patients,
            class_map=class_map,
            fov_patient=fov_patient,
            excluded=excluded,
            fov_index={r: i for i, r in enumerate(all_regions, start=1)},
            markers=table.markers,
            authors=authors,
            normalised=log,
            table=table,
            regions={r: find_region_files(raw, r) for r in regions},
        )

    def for_unit(self, unit: str) -> CodexSource:
        """Only this region's cell-table rows, files and patient."""
        table = dataclasses.replace(self.table, frame=self.table.for_region(unit))
        patient = {unit: self.fov_patient[unit]}
        return dataclasses.replace(self, table=table, regions={unit: self.regions[unit]}, fov_patient=patient)

    def pixel_grid(self) -> str:
        """``--pixel-grid``."""
        return self.options.pixel_grid

    def open_fov(self, unit: str) -> PanopticFov:
        """Open a FoV's H&E and segmentation, check they align, and label its cells (QC rules applied)."""
        options = self.options
        files = self.regions[unit]
        he = open_he(files.he, mpp=options.he_mpp, max_pixels=options.max_pixels)
        mask, outlines = open_segmentation(files, he, options.mask_mpp, max_pixels=options.max_pixels)
        check_geometry(unit, mask, he)
        cells = label_cells(
            mask,
            self.table.for_region(unit),
            self.table,
            self.class_map,
            region=unit,
            fov_index=self.fov_index[unit],
            min_area_px=options.min_area_um2 / mask.mpp**2,
            max_centroid_distance=options.max_centroid_distance,
        )
        return PanopticFov(he, mask, cells, outlines)


SOURCE = CodexSource
