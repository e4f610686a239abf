"""``--source phenobench-hdf5``: the authors' per-FoV HDF5 export → PhenoCell (convert, qc, export).

Raw layout (``--source phenobench-hdf5``, chosen automatically when RAW holds ``*.hdf`` files)::

    RAW/
      reg001_A.hdf ...        one file per FoV: img (3,H,W), ifl (C,H,W), gt_ct (1,H,W), gt_inst (1,H,W)
      patients.csv            the patient table, as for a CODEX export (or --patients FILE)
      fov_patients.csv        region → patient (columns as --region-column / --patient-column); or
                              --region-patients FILE, or the public cell table (two columns read)
      channel_names.txt       optional: the ifl channel names, one per line (else ifl_00, ifl_01, ...)

Each file is one unit (FoV), tiled, split and described as a CODEX export's FoVs are
(:mod:`phenocell.converters.fov_sources`): ``--tiling``, ``--base-by``, ``--splits-from``, patient options.
H&E and masks share one grid, whose pixel size is ``--mask-mpp`` (or ``--he-mpp``), default 0.377442 µm.

By default the labels are the authors' (Bio-Image-Datasets ``SchuerchDataset`` → ``tiles_to_lmdb``):
``gt_ct`` mapped pixel by pixel, dirt 0 in both maps, no minimum cell area. Every option that makes the
tiles differ from theirs is listed in the manifest's ``options.departures`` and in the card.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from phenocell.constants import (
    CELL_TABLE_FILE,
    CHANNEL_NAMES_FILE,
    DEFAULT_MASK_MPP,
    FOV_PATIENT_FILE,
)
from phenocell.converters import recognisers
from phenocell.converters.base import PanopticFov
from phenocell.converters.fov_sources import FovSourceBase, check_patients, select_fovs
from phenocell.converters.options import Hdf5Options
from phenocell.converters.outputs import kept_regions
from phenocell.converters.patients import mapped_fov_patients, patient_table_path, read_patients
from phenocell.converters.recognisers import hdf5_files
from phenocell.errors import InvalidInputError, MissingInputError
from phenocell.panoptic.authors_labels import cells_from_maps, fine_lookup, pixel_maps
from phenocell.panoptic.class_merges import load_class_map
from phenocell.readers.phenobench_hdf5 import channel_names, ifl_channels, marker_means, read_phenobench_hdf5
from phenocell.records import LazyImage, NormalisationLog
from phenocell.schema import IGNORE_INDEX


def _mapping_file(raw_dir: Path, options: Hdf5Options) -> Path:
    """The FoV → patient mapping: ``--region-patients``, else ``fov_patients.csv``, else the cell table."""
    if options.region_patients:
        return Path(options.region_patients)
    for name in (FOV_PATIENT_FILE, CELL_TABLE_FILE):
        if (raw_dir / name).is_file():
            return raw_dir / name
    cols = options.columns
    raise MissingInputError(
        f"no FoV → patient table in {raw_dir}",
        expected=f"{raw_dir / FOV_PATIENT_FILE} (columns {cols.region!r},{cols.patient!r}) or the cell table "
        f"{raw_dir / CELL_TABLE_FILE}",
        found="neither file",
        fix=f"add {FOV_PATIENT_FILE} with one row per FoV, or pass --region-patients FILE",
    )


def _regions(raw_dir: Path, files: dict[str, Path], excluded: dict[str, str]) -> list[str]:
    if not files:
        raise MissingInputError(
            f"no HDF5 files in {raw_dir}",
            expected=f"per-FoV files {raw_dir}/<region>.hdf",
            found="none",
            fix="pass the folder of the authors' .hdf files, or --source codex for a CODEX export",
        )
    return kept_regions(list(files), excluded, unit="FoVs")


@dataclass
class Hdf5Source(FovSourceBase):
    """The authors' HDF5 export opened: patients, class merges and the file of every kept FoV."""

    name: ClassVar[str] = "phenobench-hdf5"
    options_type: ClassVar[type] = Hdf5Options

    options: Hdf5Options
    files: dict[str, Path]

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """A folder holding ``*.hdf`` files."""
        return recognisers.phenobench_hdf5(path)

    @classmethod
    def open(cls, path: Path, options: Hdf5Options) -> Hdf5Source:
        """Read and cross-check the FoV list, patients, class names and channel names."""
        raw = Path(path)
        files = hdf5_files(raw)
        class_map = load_class_map(options.class_map)
        fine_lookup(class_map)  # every granular name must map before any file is read
        excluded, authors = select_fovs(options, list(files))
        regions = _regions(raw, files, excluded)
        log = NormalisationLog()
        fov_patient = mapped_fov_patients(_mapping_file(raw, options), options, regions, log)
        patients = read_patients(raw, options, log)
        check_patients(fov_patient, patients, patient_table_path(raw, options))
        first = files[regions[0]]
        return cls(
            raw=raw,
            options=options,
            patients=patients,
            class_map=class_map,
            fov_patient=fov_patient,
            excluded=excluded,
            fov_index={r: i for i, r in enumerate(files, start=1)},
            markers=channel_names(raw / CHANNEL_NAMES_FILE, first, ifl_channels(first)),
            authors=authors,
            normalised=log,
            files={r: files[r] for r in regions},
        )

    def for_unit(self, unit: str) -> Hdf5Source:
        """Only this FoV's file and patient."""
        return replace(self, files={unit: self.files[unit]}, fov_patient={unit: self.fov_patient[unit]})

    def open_fov(self, unit: str) -> PanopticFov:
        """Open one FoV's HDF5 file: H&E and instance map on one grid, cells labelled from ``gt_ct``.

        With ``--gt-ct-labels pixel`` (default) the tiles' semantic mask is ``gt_ct`` merged pixel by pixel
        and the dirt pixels leave the instance map (:func:`phenocell.panoptic.authors_labels.pixel_maps`);
        cells under ``--min-cell-area`` are then ignored (255) in it, as their records are.
        """
        options, path = self.options, self.files[unit]
        data = read_phenobench_hdf5(path, max_pixels=options.max_pixels)
        if data.channels != len(self.markers):
            raise InvalidInputError(
                f"{path}: 'ifl' has {data.channels} channels, not {len(self.markers)} like the first FoV",
                expected=f"{len(self.markers)} channels in every file",
                found=f"{data.channels}",
                fix="re-export the file, or exclude it with --exclude",
            )
        mpp = options.mask_mpp or options.he_mpp or DEFAULT_MASK_MPP
        instances, semantic = data.instances, None
        if options.gt_ct_labels == "pixel":
            instances, semantic = pixel_maps(data.instances, data.fine, self.class_map)
        labels = np.unique(instances[instances > 0])
        min_area_px = options.min_area_um2 / mpp**2
        cells = cells_from_maps(
            instances,
            data.fine,
            self.class_map,
            path=path,
            mpp=mpp,
            fov_index=self.fov_index[unit],
            min_area_px=min_area_px,
            markers=marker_means(path, instances, labels) if data.channels else None,
        )
        if semantic is not None and (small := cells.labels[cells.area < min_area_px]).size:
            semantic[np.isin(instances, small)] = IGNORE_INDEX
        return PanopticFov(
            LazyImage(path, data.he, mpp),
            LazyImage(path, instances, mpp),
            cells,
            {"contested_pixels": 0, "repaired_polygons": 0},
            None if semantic is None else LazyImage(path, semantic, mpp),
        )

    def options_record(self) -> dict[str, Any]:
        """Every option, and how the tiles depart from the authors' (:func:`authors_departures`)."""
        return super().options_record() | {"departures": authors_departures(self.options)}


def authors_departures(options: Hdf5Options) -> dict[str, dict[str, Any]]:
    """The options with which an HDF5 conversion's tiles differ from the authors' (empty: none).

    ``{option: {value, reference, effect}}``: ours, their chain's, and what it changes; the form of the
    benchmark's own ``protocol.departures`` in ``results.json``, so the two can be reported side by side.
    """
    area = options.min_area_um2
    labels, class_map = options.gt_ct_labels, options.class_map
    checks = [
        (area > 0, "min_cell_area_um2", area, 0.0, f"cells under {area} µm² ignored (255; 0 in export lmdb)"),
        (labels != "pixel", "gt_ct_labels", labels, "pixel", "one class per cell; dirt, gt_ct-0 cells 255"),
        (options.tiling != "phenobench", "tiling", options.tiling, "phenobench", "not their 224 px crops"),
        (bool(options.target_mpp), "target_mpp", options.target_mpp, None, "H&E resampled; theirs is not"),
        (bool(class_map), "class_map", str(class_map), None, "a user merge table instead of theirs"),
    ]
    return {o: {"value": v, "reference": r, "effect": e} for hit, o, v, r, e in checks if hit}


SOURCE = Hdf5Source
