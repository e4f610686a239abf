"""``convert``: a raw CODEX export directory → a PhenoCell dataset directory.

Raw layout: see :mod:`phenocell.constants`. Output layout::

    OUT/
      README.md            dataset card (YAML configs: default with 9 splits, base / tumor_type / tumor_stage)
      data/<fov>-<sha>.parquet   one shard per FoV, named by its content hash
      splits.json          FoV → split per family, with seed and rules
      manifest.json        version, options, input and shard sha256, row counts
      qc/                  per-FoV QC statistics and excluded FoVs with reasons
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from phenocell import __version__
from phenocell.constants import CELL_TABLE_FILE, HDF5_SUFFIXES
from phenocell.errors import InvalidInputError, InvalidOptionError
from phenocell.panoptic.class_merges import ClassMap, load_class_map
from phenocell.panoptic.labelling import FovCells, label_cells
from phenocell.panoptic.regions import RegionFiles, check_geometry, find_region_files, open_segmentation
from phenocell.panoptic.tile_layouts import resample_he
from phenocell.panoptic.tiling import TileSpec, iter_tiles
from phenocell.paths import check_out_vs_raw
from phenocell.pipeline.datasets import RELEASES, convert_release
from phenocell.pipeline.guards import canonical_cluster_names, check_region_names, unlabelled_fovs
from phenocell.pipeline.metadata import (
    build_splits,
    cell_table_columns,
    external_inputs,
    mapped_fov_patients,
    patient_table_path,
    read_patients,
)
from phenocell.pipeline.options import ConvertOptions
from phenocell.pipeline.outputs import (
    input_hashes,
    kept_regions,
    shard_entries,
    write_metadata_files,
    write_normalisations,
)
from phenocell.pipeline.parallel import run_fovs, warm_up
from phenocell.pipeline.tile_parts import check_tiling, split_tile_families
from phenocell.readers.cell_table import CellTable, read_cell_table
from phenocell.readers.images import open_he
from phenocell.readers.pairs import read_exclusions, write_exclusions
from phenocell.records import FovSummary, LazyImage, NormalisationLog, Patient
from phenocell.schema import mask_to_record
from phenocell.splits.authors import AuthorsSplits, read_authors_splits
from phenocell.storage.writer import atomic_directory, sha256_file, write_named_shard


@dataclass
class Inputs:
    """The validated raw inputs, read before any output is written."""

    table: CellTable
    patients: dict[str, Patient]
    class_map: ClassMap
    regions: dict[str, RegionFiles]
    fov_patient: dict[str, str]
    excluded: dict[str, str]
    fov_index: dict[str, int]
    authors: AuthorsSplits | None = None  # the authors' split files (--splits-from)
    hdf5: bool = False  # the authors' per-FoV HDF5 files (their defaults, departures recorded)
    normalised: NormalisationLog = field(default_factory=NormalisationLog)  # values read other than written


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


def read_inputs(raw_dir: Path, options: ConvertOptions) -> Inputs:
    """Read and cross-check every raw input (tables, class names, file presence) before converting."""
    raw_dir = Path(raw_dir)
    if options.source in RELEASES:
        raise InvalidOptionError(
            f"--source {options.source} is read by phenocell-convert only",
            expected="a CODEX or per-FoV HDF5 export for qc / export",
            found=f"--source {options.source}",
            fix=f"run phenocell-convert RAW --source {options.source}, then use the converted dataset",
        )
    from phenocell.pipeline.phenobench import read_hdf5_inputs  # the authors' per-FoV HDF5 (--source)

    if (hdf5 := read_hdf5_inputs(raw_dir, options)) is not None:
        return hdf5
    if options.gt_ct_labels != "pixel":
        raise InvalidOptionError(
            "--gt-ct-labels applies to the authors' HDF5 files only",
            expected="a folder of per-FoV .hdf files (--source phenobench-hdf5)",
            found=f"a CODEX export in {raw_dir} with --gt-ct-labels {options.gt_ct_labels}",
            fix="drop --gt-ct-labels: a CODEX export labels whole cells from its cell table",
        )
    log = NormalisationLog()
    table = read_cell_table(raw_dir / CELL_TABLE_FILE, columns=cell_table_columns(options), log=log)
    patients = read_patients(raw_dir, options, log)
    class_map = load_class_map(options.class_map)
    canonical_cluster_names(table, class_map, raw_dir / CELL_TABLE_FILE, log)
    all_regions = table.regions()
    check_region_names(all_regions, raw_dir / CELL_TABLE_FILE)
    excluded = read_exclusions(options.exclude) if options.exclude else {}
    authors = read_authors_splits(options.splits_from) if options.splits_from else None
    if authors:
        check_tiling(authors, options.tiling)
        excluded.update(authors.exclusions([r for r in all_regions if r not in excluded]))
    excluded |= unlabelled_fovs(raw_dir, all_regions, excluded, allow=options.allow_unlabelled_fovs)
    regions = kept_regions(all_regions, excluded, unit="regions")
    if options.region_patients:
        fov_patient = mapped_fov_patients(options.region_patients, options, regions, log)
    else:
        fov_patient = _fov_patients(table, regions)
    unknown = sorted({p for p in fov_patient.values() if p not in patients})
    if unknown:
        raise InvalidInputError(
            "patients missing from the patient table",
            expected=f"every patient of the cell table in {patient_table_path(raw_dir, options)}",
            found=f"no row for patients {unknown}",
            fix="add their tumor type and stage to the patient table",
        )
    files = {r: find_region_files(raw_dir, r) for r in regions}
    return Inputs(
        table,
        patients,
        class_map,
        files,
        fov_patient,
        excluded,
        {r: i for i, r in enumerate(all_regions, start=1)},
        authors,
        normalised=log,
    )


@dataclass
class OpenFov:
    """One FoV opened for reading: its H&E, label image, labelled cells, and outline statistics."""

    he: LazyImage
    mask: LazyImage
    cells: FovCells
    outlines: dict[str, int]  # contested_pixels, repaired_polygons (0 for label TIFFs)
    semantic: LazyImage | None = None  # per-pixel classes on the mask grid; None: painted from the cells


def open_fov(inputs: Inputs, fov: str, options: ConvertOptions) -> OpenFov:
    """Open a FoV's H&E and segmentation, check they align, and label its cells (QC rules applied)."""
    files = inputs.regions[fov]
    if files.mask.suffix in HDF5_SUFFIXES:
        from phenocell.pipeline.phenobench import open_hdf5_fov

        return open_hdf5_fov(inputs, fov, options)
    he = open_he(files.he, mpp=options.he_mpp, max_pixels=options.max_pixels)
    mask, outlines = open_segmentation(files, he, options.mask_mpp, max_pixels=options.max_pixels)
    check_geometry(fov, mask, he)
    cells = label_cells(
        mask,
        inputs.table.for_region(fov),
        inputs.table,
        inputs.class_map,
        region=fov,
        fov_index=inputs.fov_index[fov],
        min_area_px=options.min_area_um2(hdf5=False) / mask.mpp**2,
        max_centroid_distance=options.max_centroid_distance,
    )
    return OpenFov(he, mask, cells, outlines)


def _convert_fov(
    inputs: Inputs, fov: str, options: ConvertOptions, out: Path
) -> tuple[FovSummary, dict[str, float]]:
    opened = open_fov(inputs, fov, options)
    he, mask, cells = opened.he, opened.mask, opened.cells
    patient = inputs.patients[inputs.fov_patient[fov]]
    meta = {
        "fov": fov,
        "patient": patient.patient,
        "group": patient.group,
        "tumor_type": patient.tumor_type,
        "stage": patient.stage,
    }
    spec = TileSpec(options.tile_size, options.stride)
    if options.target_mpp:
        he = resample_he(he, options.target_mpp)
    elif options.pixel_grid == "mask" and he.mpp < mask.mpp:  # the authors' grid: area-average the H&E
        he = resample_he(he, mask.mpp)
    tiles = iter_tiles(
        he,
        mask,
        cells,
        spec,
        meta,
        layout=options.tiling,
        semantic_map=opened.semantic,
        png_level=options.png_level,
    )
    shard, digest, rows = write_named_shard(out, fov, tiles)
    counts: dict[int, int] = {}
    for cid in cells.class_ids.tolist():
        key = mask_to_record(cid)
        counts[key] = counts.get(key, 0) + 1
    return FovSummary(fov, shard, digest, rows, dict(sorted(counts.items()))), {
        **cells.qc,
        **opened.outlines,
    }


def convert(raw_dir: Path, out: Path, *, options: ConvertOptions | None = None) -> Path:
    """Convert a raw CODEX export into a PhenoCell dataset directory (atomically).

    Args:
        raw_dir: the raw export (layout in :mod:`phenocell.constants`).
        out: the dataset directory to create.
        options: conversion options.

    Returns:
        ``out``.

    Raises:
        PhenoCellError: any bad input or option, ``out`` overlapping ``raw_dir`` (refused before any work),
            or another run writing ``out``; nothing is left at ``out`` then.

    """
    options = options or ConvertOptions()
    check_out_vs_raw(Path(raw_dir), Path(out))
    if options.source in RELEASES:
        return convert_release(raw_dir, out, source=options.source, options=options)
    warm_up(options.execution, __name__)  # local workers start while the inputs are read
    with atomic_directory(Path(out), overwrite=options.overwrite) as tmp:
        inputs = read_inputs(Path(raw_dir).absolute(), options)
        splits = build_splits(inputs.fov_patient, inputs.patients, inputs.authors, inputs.fov_index, options)
        (tmp / "data").mkdir()
        (tmp / "qc").mkdir()
        fovs, qc = {}, {}
        bar = tqdm(total=len(inputs.regions), desc="FoVs", unit="fov", disable=not options.progress)
        total_cells = 0
        # absolute paths: a Dask worker may run in another directory (or on another machine, shared storage)
        task = functools.partial(_convert_fov, options=options, out=tmp.absolute())
        for fov, (summary, stats) in run_fovs(task, inputs, options.execution):  # in finishing order
            fovs[fov], qc[fov] = summary, stats
            total_cells += int(qc[fov]["labels"])
            bar.update()
            bar.set_postfix(cells=total_cells, tiles=sum(f.tiles for f in fovs.values()))
        bar.close()
        fovs = dict(sorted(fovs.items()))
        _write_metadata(tmp, Path(raw_dir), inputs, splits, fovs, qc, options)
    return Path(out)


def _write_metadata(
    tmp: Path,
    raw_dir: Path,
    inputs: Inputs,
    splits: Any,
    fovs: dict[str, FovSummary],
    qc: dict[str, dict[str, float]],
    options: ConvertOptions,
) -> None:
    from phenocell.pipeline.phenobench import conversion_record  # as open_fov: no import circle

    manifest = {
        "phenocell_version": __version__,
        "options": conversion_record(options, hdf5=inputs.hdf5),
        "inputs": input_hashes(raw_dir),
        "external_inputs": {str(p): sha256_file(p) for p in external_inputs(raw_dir, options)},
        "shards": shard_entries(split_tile_families(tmp, fovs, splits.tiles)),
        "markers": inputs.table.markers,
        "class_map": inputs.class_map.merged_names(),
    }
    write_metadata_files(tmp, splits, manifest, qc)
    write_exclusions(tmp / "qc" / "excluded.csv", inputs.excluded)
    write_normalisations(tmp, inputs.normalised)
    from phenocell.cards import write_card  # here: FoV workers import this module, and never need the card

    write_card(tmp)
