"""The authors' per-FoV HDF5 export as a raw source of ``convert`` / ``qc`` / ``export`` (``--source``).

Raw layout (``--source phenobench-hdf5``, chosen automatically when RAW holds ``*.hdf`` files)::

    RAW/
      reg001_A.hdf ...        one file per FoV: img (3,H,W), ifl (C,H,W), gt_ct (1,H,W), gt_inst (1,H,W)
      patients.csv            the patient table, as for a CODEX export (or --patients FILE)
      fov_patients.csv        region → patient (columns as --region-column / --patient-column); or
                              --region-patients FILE, or the public cell table (two columns read)
      channel_names.txt       optional: the ifl channel names, one per line (else ifl_00, ifl_01, ...)

The FoVs then go through the same pipeline as a CODEX export: same tiling (``--tiling``), splits
(``--base-by``, ``--splits-from``), patient options, card and manifest.
H&E and masks share one grid, whose pixel size is ``--mask-mpp`` (or ``--he-mpp``), default 0.377442 µm.

By default the labels are the authors' (Bio-Image-Datasets ``SchuerchDataset`` → ``tiles_to_lmdb``):
``gt_ct`` mapped pixel by pixel, dirt 0 in both maps, no minimum cell area. Every option that makes the
tiles differ from theirs is listed in the manifest's ``options.departures`` and in the card.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from phenocell.constants import (
    CELL_TABLE_FILE,
    CHANNEL_NAMES_FILE,
    DEFAULT_MASK_MPP,
    FOV_PATIENT_FILE,
    HDF5_SUFFIXES,
)
from phenocell.errors import InvalidInputError, MissingInputError
from phenocell.panoptic.authors_labels import cells_from_maps, fine_lookup, pixel_maps
from phenocell.panoptic.class_merges import load_class_map
from phenocell.panoptic.regions import RegionFiles
from phenocell.pipeline.convert import Inputs, OpenFov
from phenocell.pipeline.metadata import mapped_fov_patients, patient_table_path, read_patients
from phenocell.pipeline.options import ConvertOptions
from phenocell.pipeline.outputs import kept_regions
from phenocell.pipeline.tile_parts import check_tiling
from phenocell.readers.cell_table import CellTable
from phenocell.readers.pairs import read_exclusions
from phenocell.readers.phenobench_hdf5 import channel_names, ifl_channels, marker_means, read_phenobench_hdf5
from phenocell.records import LazyImage, NormalisationLog
from phenocell.schema import IGNORE_INDEX
from phenocell.splits.authors import read_authors_splits


def hdf5_files(raw_dir: Path) -> dict[str, Path]:
    """``{region: file}`` of the HDF5 files directly in ``raw_dir`` (region = file name without suffix)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        return {}
    return {p.stem: p for p in sorted(raw_dir.iterdir()) if p.suffix in HDF5_SUFFIXES and p.is_file()}


def is_hdf5_source(raw_dir: Path, source: str) -> bool:
    """Whether ``raw_dir`` is read as the authors' HDF5 export (``auto``: it holds ``*.hdf`` files)."""
    return source == "phenobench-hdf5" or (source == "auto" and bool(hdf5_files(raw_dir)))


def _mapping_file(raw_dir: Path, options: ConvertOptions) -> Path:
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


def read_hdf5_inputs(raw_dir: Path, options: ConvertOptions) -> Inputs | None:
    """Read and cross-check an HDF5 export's inputs; ``None`` when ``raw_dir`` is not read as one."""
    raw_dir = Path(raw_dir)
    if not is_hdf5_source(raw_dir, options.source):
        return None
    files = hdf5_files(raw_dir)
    class_map = load_class_map(options.class_map)
    fine_lookup(class_map)  # every granular name must map before any file is read
    excluded = read_exclusions(options.exclude) if options.exclude else {}
    authors = read_authors_splits(options.splits_from) if options.splits_from else None
    if authors:
        check_tiling(authors, options.tiling)
        excluded.update(authors.exclusions([r for r in files if r not in excluded]))
    regions = _regions(raw_dir, files, excluded)
    log = NormalisationLog()
    fov_patient = mapped_fov_patients(_mapping_file(raw_dir, options), options, regions, log)
    patients = read_patients(raw_dir, options, log)
    unknown = sorted(set(fov_patient.values()) - set(patients))
    if unknown:
        raise InvalidInputError(
            "patients missing from the patient table",
            expected=f"every patient of the FoVs in {patient_table_path(raw_dir, options)}",
            found=f"no row for patients {unknown[:5]}",
            fix="add their tumor type and stage to the patient table, or exclude their FoVs",
        )
    first = files[regions[0]]
    markers = channel_names(raw_dir / CHANNEL_NAMES_FILE, first, ifl_channels(first))
    cols = options.columns
    frame = pd.DataFrame({cols.region: list(fov_patient), "patient": list(fov_patient.values())})
    return Inputs(
        CellTable(frame, cols, markers),
        patients,
        class_map,
        {r: RegionFiles(r, files[r], files[r]) for r in regions},
        fov_patient,
        excluded,
        {r: i for i, r in enumerate(files, start=1)},
        authors,
        hdf5=True,
        normalised=log,
    )


def open_hdf5_fov(inputs: Inputs, fov: str, options: ConvertOptions) -> OpenFov:
    """Open one FoV's HDF5 file: H&E and instance map on one grid, cells labelled from ``gt_ct``.

    With ``--gt-ct-labels pixel`` (default) the tiles' semantic mask is ``gt_ct`` merged pixel by pixel and
    the dirt pixels leave the instance map (:func:`phenocell.panoptic.authors_labels.pixel_maps`); cells under
    ``--min-cell-area`` are then ignored (255) in it, as their records are.
    """
    path = inputs.regions[fov].mask
    data = read_phenobench_hdf5(path, max_pixels=options.max_pixels)
    if data.channels != len(inputs.table.markers):
        raise InvalidInputError(
            f"{path}: 'ifl' has {data.channels} channels, not {len(inputs.table.markers)} like the first FoV",
            expected=f"{len(inputs.table.markers)} channels in every file",
            found=f"{data.channels}",
            fix="re-export the file, or exclude it with --exclude",
        )
    mpp = options.mask_mpp or options.he_mpp or DEFAULT_MASK_MPP
    instances, semantic = data.instances, None
    if options.gt_ct_labels == "pixel":
        instances, semantic = pixel_maps(data.instances, data.fine, inputs.class_map)
    labels = np.unique(instances[instances > 0])
    min_area_px = options.min_area_um2(hdf5=True) / mpp**2
    cells = cells_from_maps(
        instances,
        data.fine,
        inputs.class_map,
        path=path,
        mpp=mpp,
        fov_index=inputs.fov_index[fov],
        min_area_px=min_area_px,
        markers=marker_means(path, instances, labels) if data.channels else None,
    )
    if semantic is not None and (small := cells.labels[cells.area < min_area_px]).size:
        semantic[np.isin(instances, small)] = IGNORE_INDEX
    return OpenFov(
        LazyImage(path, data.he, mpp),
        LazyImage(path, instances, mpp),
        cells,
        {"contested_pixels": 0, "repaired_polygons": 0},
        None if semantic is None else LazyImage(path, semantic, mpp),
    )


def authors_departures(options: ConvertOptions) -> dict[str, dict[str, Any]]:
    """The options with which an HDF5 conversion's tiles differ from the authors' (empty: none).

    ``{option: {value, reference, effect}}``: ours, their chain's, and what it changes; the form of the
    benchmark's own ``protocol.departures`` in ``results.json``, so the two can be reported side by side.
    """
    area = options.min_area_um2(hdf5=True)
    labels, class_map = options.gt_ct_labels, options.class_map
    checks = [
        (area > 0, "min_cell_area_um2", area, 0.0, f"cells under {area} µm² ignored (255; 0 in export lmdb)"),
        (labels != "pixel", "gt_ct_labels", labels, "pixel", "one class per cell; dirt, gt_ct-0 cells 255"),
        (options.tiling != "phenobench", "tiling", options.tiling, "phenobench", "not their 224 px crops"),
        (bool(options.target_mpp), "target_mpp", options.target_mpp, None, "H&E resampled; theirs is not"),
        (bool(class_map), "class_map", str(class_map), None, "a user merge table instead of theirs"),
    ]
    return {o: {"value": v, "reference": r, "effect": e} for hit, o, v, r, e in checks if hit}


def conversion_record(options: ConvertOptions, *, hdf5: bool) -> dict[str, Any]:
    """The manifest's ``options``: every option, and for the authors' HDF5 its ``departures`` from them."""
    record = options.record(hdf5=hdf5)
    if hdf5:
        record["departures"] = authors_departures(options)
    return record
