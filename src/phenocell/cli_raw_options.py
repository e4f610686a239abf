"""Click option groups of the commands that read an input (convert, qc, export geojson).

Every option is derived from a field of a source's options dataclass (:mod:`phenocell.converters.options`)
with :func:`phenocell.cli_options.option_from`. :func:`source_options_from` turns a command's keyword
arguments into the options of the source the input is read as, and refuses a flag given on the command line
that this source does not read.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from phenocell.cli_errors import DEBUG
from phenocell.cli_options import apply, option_from
from phenocell.constants import CellTableColumns, PatientColumns
from phenocell.converters import SOURCES, detect, options_type
from phenocell.converters.options import (
    FORMAT_OPTIONS,
    CodexOptions,
    ExecutionOptions,
    FovOptions,
    Hdf5Options,
    RunOptions,
    TileOptions,
)
from phenocell.errors import InvalidOptionError


def read_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Options that say how to read a raw export (shared by convert, qc and export)."""
    return apply(
        func,
        [
            option_from(
                FovOptions,
                "min_cell_area_um2",
                "--min-cell-area",
                help="Cells smaller than this (µm²) are set to ignore (255) [default: 10 for a CODEX export, "
                "0 for the authors' HDF5, as their chain; a value > 0 there is recorded as a departure].",
            ),
            option_from(
                FovOptions,
                "class_map",
                "--class-map",
                help="CSV cluster_name,class_name that adds to / overrides the default merges.",
            ),
            option_from(
                FovOptions,
                "mask_mpp",
                "--mask-mpp",
                help="Mask pixel size (µm/px) if not in the TIFF tags.",
            ),
            option_from(
                FovOptions, "he_mpp", "--he-mpp", help="H&E pixel size (µm/px) if not in the TIFF tags."
            ),
            option_from(
                CodexOptions,
                "max_centroid_distance",
                "--max-centroid-distance",
                help="Largest median distance (mask px) between table and label centroids of an id join.",
            ),
            option_from(
                FovOptions,
                "patient_table",
                "--patients",
                help="Patient table, CSV or .xlsx (default: RAW_DIR/patients.csv).",
            ),
            option_from(FovOptions, "patients_sheet", "--patients-sheet", help="Worksheet of an .xlsx."),
            _patients_column("patient", "--patient-id-column", help="Patient id column of the patients."),
            _patients_column("tumor_type", "--tumor-type-column", help="Tumor type / histology column."),
            _patients_column("stage", "--stage-column", help="UICC stage group column (p_TNM, never pT)."),
            _patients_column("group", "--group-column", help="Group column (CLR / DII or 1 / 2)."),
            _patients_column("msi", "--msi-column", help="MSI status column (MSI_PCR / MSI_IHC style)."),
            option_from(
                FovOptions,
                "region_patients",
                "--region-patients",
                help="CSV/.xlsx mapping regions (--region-column) to patients (--patient-column).",
            ),
            click.option(
                "--source",
                "source",
                type=click.Choice(list(SOURCES)),
                default="auto",
                show_default=True,
                help="Input format (auto: the first that recognises RAW_DIR, else a CODEX export); "
                "lizard / pannuke / arctique / authors-lmdb are read by convert only.",
            ),
            option_from(
                Hdf5Options,
                "gt_ct_labels",
                "--gt-ct-labels",
                help="Authors' HDF5 only. pixel: each pixel keeps its gt_ct class, dirt is 0 in both maps "
                "(their chain); majority: each cell takes its majority class; dirt, unclassified cells 255.",
            ),
            option_from(
                FovOptions,
                "max_pixels",
                "--max-pixels",
                help="Largest image (H x W pixels) accepted, checked from the headers before reading.",
            ),
            option_from(
                CodexOptions,
                "allow_unlabelled_fovs",
                "--allow-unlabelled-fovs",
                help="Skip (and report) regions whose segmentation has no cell-table rows.",
            ),
            *source_flags(),
        ],
    )


def source_flags() -> list[Callable[[Any], Any]]:
    """The flags of options only one source reads, as its options dataclass declares them (``cli_flags``).

    A source whose options dataclass adds fields lists them there as ``(field, flag, help)``; the flags then
    exist on convert, qc and export, and :func:`source_options_from` refuses them for every other source.
    No format module is imported.
    """
    flags = []
    for kind in dict.fromkeys(FORMAT_OPTIONS.values()):
        flags += [option_from(kind, f, flag, help=text) for f, flag, text in vars(kind).get("cli_flags", ())]
    return flags


def _patients_column(field: str, flag: str, **kwargs: Any) -> Callable[[Any], Any]:
    return option_from(PatientColumns, field, flag, dest=f"ptcol_{field}", **kwargs)


def read_options_from(kw: dict[str, Any]) -> dict[str, Any]:
    """Turn the ``ptcol_*`` keyword arguments of :func:`read_options` into ``patient_columns``."""
    names = {k.removeprefix("ptcol_"): kw.pop(k) for k in list(kw) if k.startswith("ptcol_")}
    if str(names.get("msi")).lower() == "none":
        names["msi"] = None
    return {**kw, "patient_columns": PatientColumns(**names)}


def execution_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """Where FoVs run: local processes or a Dask cluster (convert, qc and export)."""
    return apply(
        func,
        [
            option_from(
                ExecutionOptions,
                "workers",
                "--workers",
                help=f"Local worker processes, one FoV each [default: all cores, {os.cpu_count()} here].",
            ),
            option_from(
                ExecutionOptions,
                "scheduler",
                "--scheduler",
                help="Dask scheduler address (tcp://host:8786): run FoVs on that cluster instead "
                "(needs phenocell[dask]; --out on storage every worker shares).",
            ),
        ],
    )


def execution_from(kw: dict[str, Any]) -> ExecutionOptions:
    """Pop the :func:`execution_options` keyword arguments into :class:`ExecutionOptions`."""
    return ExecutionOptions(workers=kw.pop("workers"), scheduler=kw.pop("scheduler"))


def _column(field: str, flag: str, **kwargs: Any) -> Callable[[Any], Any]:
    return option_from(CellTableColumns, field, flag, dest=f"{field}_column", **kwargs)


def convert_options(func: Callable[..., Any]) -> Callable[..., Any]:
    """The options of ``phenocell convert`` / ``phenocell-convert``, derived from every source's options."""
    return read_options(
        apply(
            execution_options(func),
            [
                click.argument("raw_dir", type=click.Path(path_type=Path)),
                click.option(
                    "--out",
                    type=click.Path(path_type=Path),
                    default=Path("phenocell"),
                    show_default=True,
                    help="Dataset directory to create.",
                ),
                option_from(TileOptions, "tile_size", "--tile-size", help="Tile size in H&E pixels."),
                option_from(TileOptions, "stride", "--stride", help="Tile stride (default: tile size)."),
                option_from(FovOptions, "exclude", "--exclude", help="CSV fov,reason of FoVs to leave out."),
                option_from(FovOptions, "seed", "--seed", help="Seed of the random splits."),
                option_from(
                    FovOptions,
                    "base_by",
                    "--base-by",
                    help="Unit of the Base split (region: the authors' procedure over sorted region numbers; "
                    "their exact split only with --splits-from).",
                ),
                option_from(
                    FovOptions,
                    "splits_from",
                    "--splits-from",
                    help="Folder of the authors' split CSVs to use instead of drawing splits.",
                ),
                option_from(
                    TileOptions,
                    "tiling",
                    "--tiling",
                    help="phenobench: the authors' linspace crops padded to 224 (7 x 9 per 1440 x 1920 FoV); "
                    "grid: --tile-size tiles every --stride px.",
                ),
                option_from(
                    CodexOptions,
                    "pixel_grid",
                    "--pixel-grid",
                    help="mask: an H&E finer than the masks is area-averaged onto the mask grid "
                    "(the authors'); he: tiles on the H&E's own pixels. --target-mpp overrides both.",
                ),
                option_from(
                    FovOptions,
                    "target_mpp",
                    "--target-mpp",
                    help="Resample H&E (area) and masks (nearest) to this pixel size (µm/px) before tiling.",
                ),
                option_from(
                    TileOptions,
                    "png_level",
                    "--png-level",
                    help="zlib level of the PNG tiles, 0-9 (1: about 2x faster to encode, ~7 % more bytes).",
                ),
                _column("region", "--region-column"),
                _column(
                    "label",
                    "--label-column",
                    help="Mask label id column; 'none' joins cells by centroid lookup.",
                ),
                _column("cluster", "--cluster-column"),
                _column("patient", "--patient-column"),
                _column("x", "--x-column"),
                _column("y", "--y-column"),
                option_from(
                    RunOptions, "overwrite", "--overwrite", help="Replace an existing output directory."
                ),
                click.option("--quiet", is_flag=True, help="No progress bar."),
                DEBUG,
            ],
        )
    )


def _field_of(param: str) -> str:
    """The options field a CLI parameter sets (several parameters build one nested field).

    A column flag names its own column of ``columns`` (``columns.cluster``): the sources read different ones.
    """
    if param.endswith("_column"):
        return f"columns.{param.removesuffix('_column')}"
    if param.startswith("ptcol_"):
        return "patient_columns"
    return {"workers": "execution", "scheduler": "execution", "quiet": "progress"}.get(param, param)


def _columns_type(kind: type) -> type | None:
    """The dataclass of the source's ``columns`` (the columns it reads), or ``None`` when it reads none."""
    columns = getattr(kind(), "columns", None)
    return None if columns is None else type(columns)


def _reads(kind: type) -> set[str]:
    """What the source reads: its options' fields, and ``columns.<name>`` for each column it reads."""
    columns = _columns_type(kind)
    nested = {f"columns.{f.name}" for f in dataclasses.fields(columns)} if columns else set()
    return {f.name for f in dataclasses.fields(kind)} | nested


def _values(kw: dict[str, Any], columns_type: type | None) -> dict[str, Any]:
    """Every options field the keyword arguments set, nested fields built (``columns``: ``columns_type``)."""
    kw = dict(kw)
    given = {k.removesuffix("_column"): kw.pop(k) for k in list(kw) if k.endswith("_column")}
    if given and columns_type is not None:
        if isinstance(given.get("label"), str) and given["label"].lower() == "none":
            given["label"] = None  # join cells by centroid
        names = {f.name for f in dataclasses.fields(columns_type)}
        kw["columns"] = columns_type(**{k: v for k, v in given.items() if k in names})
    if "quiet" in kw:
        kw["progress"] = not kw.pop("quiet")
    kw["execution"] = execution_from(kw)
    return read_options_from(kw)


def _given_flags() -> dict[str, str]:
    """``{parameter: flag}`` of the options given on the command line (or the environment)."""
    ctx = click.get_current_context()
    given = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)
    return {
        p.name: p.opts[0] for p in ctx.command.params if p.name and ctx.get_parameter_source(p.name) in given
    }


def source_options_from(raw_dir: Path, kw: dict[str, Any]) -> tuple[str, Any]:
    """The format ``raw_dir`` is read as (``--source``, or detected) and its options from ``kw``.

    Raises:
        InvalidOptionError: a flag given on the command line sets an option this source does not read.

    """
    kw.pop("debug", None)  # read by the error handler from the click context
    name = detect(Path(raw_dir), kw.pop("source"))
    kind = options_type(name)  # the format's module is imported later, after the local workers start
    reads = _reads(kind)
    not_options = {"raw_dir", "out", "debug", "source"}
    given = _given_flags()
    refused = sorted(f for p, f in given.items() if p not in not_options and _field_of(p) not in reads)
    if refused:
        raise InvalidOptionError(
            f"options that --source {name} does not read",
            expected=f"only the options of {kind.__name__} (its fields: {', '.join(sorted(reads))})",
            found=", ".join(refused),
            fix=f"drop them, or pass the --source they belong to (RAW_DIR is read as {name})",
        )
    values = _values(kw, _columns_type(kind))
    options = kind(**{k: v for k, v in values.items() if k in reads})
    _warn_grid_only(options, given)
    return name, options


def _warn_grid_only(options: Any, given: dict[str, str]) -> None:
    """Say on stderr that --tile-size / --stride, when given, do nothing without ``--tiling grid``."""
    unused = [given[p] for p in ("tile_size", "stride") if p in given]
    tiling = getattr(options, "tiling", "grid")
    if unused and tiling != "grid":
        click.echo(
            f"warning: {' and '.join(unused)} {'is' if len(unused) == 1 else 'are'} ignored with --tiling "
            f"{tiling} (the authors' crops padded to 224 px); pass --tiling grid to cut tiles of that size",
            err=True,
        )
