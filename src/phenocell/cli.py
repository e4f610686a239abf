"""Command-line interface: a thin click layer over the Python API."""

from __future__ import annotations

import importlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from phenocell.benchmark.cli import benchmark
from phenocell.cli_cells import cells
from phenocell.cli_errors import DEBUG, friendly_errors
from phenocell.cli_interop import export_lmdb_cmd, import_lmdb_cmd
from phenocell.cli_options import apply, field_info, option_from
from phenocell.cli_raw_options import convert_options, execution_options, read_options, source_options_from
from phenocell.converters.options import RunOptions
from phenocell.errors import InvalidOptionError
from phenocell.synthetic.options import SynthOptions


def _size(value: str) -> tuple[int, int]:
    height, _, width = value.lower().partition("x")
    try:
        return int(height), int(width or height)
    except ValueError:
        raise InvalidOptionError(
            "invalid --mask-size",
            expected="HxW in pixels, e.g. 512x640",
            found=repr(value),
            fix="pass --mask-size 512x640",
        ) from None


@click.group()
@click.version_option(package_name="phenocell")
@DEBUG
def main(debug: bool) -> None:
    """PhenoCell: CODEX exports → panoptic H&E cell-phenotyping dataset, and its benchmark."""


def _start_workers(options: RunOptions, module: str, source: str) -> None:
    """Start the local worker server first: it imports ``module`` and the source's while this process does."""
    from phenocell.converters import FORMATS
    from phenocell.converters.workers import warm_up

    warm_up(options.execution, module, f"phenocell.converters.{FORMATS[source]}")


def _run_units(
    target: str,
    raw_dir: Path,
    out: Path,
    kw: dict[str, Any],
    said: Callable[[Any], str],
    normalised: str = "manifest.json",
) -> None:
    """Read RAW_DIR as its source and run ``target`` (``module:function``) on it: convert, qc, export geojson.

    The local worker pool starts first (it imports the module while this process does); the function is
    called as ``function(raw_dir, out, source=, options=)``; then the line ``said`` makes of its result, and
    the input values read other than as written (``out/normalised``).
    """
    module, function = target.split(":")
    source, options = source_options_from(raw_dir, kw)
    _start_workers(options, module, source)
    run = getattr(importlib.import_module(module), function)
    click.echo(said(run(raw_dir, out, source=source, options=options)))
    _echo_normalised(Path(out) / normalised)


@friendly_errors
def _run_convert(raw_dir: Path, out: Path, **kw: Any) -> None:
    _run_units(
        "phenocell.converters.driver:convert",
        raw_dir,
        out,
        kw,
        lambda _: f"wrote {out}",
        normalised="qc/normalisations.json",
    )


def _echo_normalised(path: Path) -> None:
    """One line per kind of input value read other than as written (none for a release conversion).

    ``path`` is a dataset's ``qc/normalisations.json`` or the ``manifest.json`` of a QC page / GeoJSON export.
    """
    if path.is_file():
        doc = json.loads(path.read_text(encoding="utf-8"))
        for entry in doc.get("normalised", []) if isinstance(doc, dict) else doc:
            click.echo(f"normalised: {entry['message']}")


@main.command("convert")
@convert_options
def convert_cmd(raw_dir: Path, out: Path, **kw: Any) -> None:
    """Convert RAW_DIR, read as one of the --source formats (detected by default), to a dataset."""
    _run_convert(raw_dir, out, **kw)


@click.command("phenocell-convert")
@convert_options
def convert_main(raw_dir: Path, out: Path, **kw: Any) -> None:
    """Convert RAW_DIR, read as one of the --source formats (detected by default), to a dataset."""
    _run_convert(raw_dir, out, **kw)


def _mask_size_option() -> Callable[[Any], Any]:
    height, width = field_info(SynthOptions, "mask_shape")[1]
    return click.option(
        "--mask-size",
        "mask_shape",
        default=f"{height}x{width}",
        show_default=True,
        help="Mask size HxW in pixels.",
    )


def _synth_size_options(func: Callable[..., Any]) -> Callable[..., Any]:
    return apply(
        func,
        [
            option_from(SynthOptions, "fovs", "--fovs"),
            option_from(SynthOptions, "patients", "--patients"),
            option_from(SynthOptions, "seed", "--seed"),
        ],
    )


@main.command()
@click.argument("raw_dir", type=click.Path(path_type=Path))
@_synth_size_options
@_mask_size_option()
@option_from(SynthOptions, "scale", "--scale", help="H&E pixels per mask pixel (per axis).")
@option_from(SynthOptions, "segmentation", "--segmentation", help="Label TIFFs (masks/) or GeoJSON outlines.")
@option_from(
    SynthOptions,
    "patient_format",
    "--patient-format",
    help="patients.csv, or patients.xlsx with the release's columns (Patient, Group, Histology, p_TNM, ...).",
)
@click.option("--p-tnm", "p_tnm", default=None, help="Comma-separated p_TNM stage groups for the patients.")
@option_from(SynthOptions, "consecutive_labels", "--consecutive-labels", help="Mask label ids 1..n.")
@option_from(SynthOptions, "layout", "--format", help="CODEX export, or the authors' per-FoV HDF5 files.")
@click.option("--overwrite", is_flag=True)
@friendly_errors
def synth(raw_dir: Path, mask_shape: str, overwrite: bool, **kw: Any) -> None:
    """Write a seeded synthetic raw export (CODEX, or the authors' per-FoV HDF5) to RAW_DIR."""
    from phenocell.synthetic import synthesize

    p_tnm = kw.pop("p_tnm")
    kw["p_tnm"] = tuple(v.strip() for v in p_tnm.split(",")) if p_tnm else None
    options = SynthOptions(mask_shape=_size(mask_shape), **kw)
    synthesize(raw_dir, options=options, overwrite=overwrite)
    click.echo(f"wrote synthetic raw export to {raw_dir}")


@main.command()
@click.option("--workdir", type=click.Path(path_type=Path), default=Path("phenocell-demo"), show_default=True)
@_synth_size_options
@_mask_size_option()
@click.option("--no-benchmark", is_flag=True, help="Skip the benchmark smoke step (no torch needed).")
@friendly_errors
def demo(workdir: Path, no_benchmark: bool, mask_shape: str, **kw: Any) -> None:
    """Synthesize a raw export, convert it, load it with datasets, print a summary, run a benchmark smoke."""
    from phenocell.demo import run_demo

    run_demo(workdir, benchmark=not no_benchmark, mask_shape=_size(mask_shape), **kw)


def _overwrite_option(help_text: str) -> Callable[[Any], Any]:
    return option_from(RunOptions, "overwrite", "--overwrite", help=help_text)


def _unit_run_options(overwrite_help: str) -> Callable[[Any], Any]:
    """The options of a command that reads RAW_DIR unit by unit as convert does (qc, export geojson)."""

    def decorate(func: Callable[..., Any]) -> Callable[..., Any]:
        return read_options(execution_options(_overwrite_option(overwrite_help)(func)))

    return decorate


@main.command()
@click.argument("raw_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), default=Path("qc"), show_default=True)
@click.option(
    "--exclude", type=click.Path(path_type=Path), default=None, help="Existing exclusion list (fov,reason)."
)
@_unit_run_options("Replace an existing QC folder (only one PhenoCell wrote).")
@friendly_errors
def qc(raw_dir: Path, out: Path, **kw: Any) -> None:
    """Render a QC page (H&E with class-coloured outlines, per-FoV statistics) for RAW_DIR."""
    _run_units("phenocell.converters.review:render_qc", raw_dir, out, kw, lambda page: f"wrote {page}")


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--repo-id", required=True, help="ORG/NAME of the dataset repo.")
@click.option("--private", is_flag=True, help="Create the repo private.")
@click.option("--revision", default=None, help="Branch to upload to (created if missing).")
@click.option("--dry-run", is_flag=True, help="Verify and list what would be uploaded, with sizes.")
@friendly_errors
def publish(dataset_dir: Path, repo_id: str, private: bool, revision: str | None, dry_run: bool) -> None:
    """Verify DATASET_DIR against its manifest and upload it to the Hugging Face Hub."""
    from phenocell.cards.publish import publish as publish_dataset

    plan = publish_dataset(dataset_dir, repo_id, private=private, revision=revision, dry_run=dry_run)
    for item in plan:
        click.echo(f"{item.size:>12,d}  {item.path}")
    total = sum(item.size for item in plan)
    verb = "would upload" if dry_run else "uploaded"
    click.echo(
        f"{verb} {len(plan)} files, {total / 1e6:.1f} MB, to datasets/{repo_id}"
        + (f"@{revision}" if revision else "")
    )


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--html", is_flag=True, help="Also write README.html, a browser preview of the card.")
@friendly_errors
def card(dataset_dir: Path, html: bool) -> None:
    """Re-render DATASET_DIR's README.md and figures from its files (byte-identical if unchanged).

    The data files and splits.json are verified first (a problem there renders nothing); a broken README.md
    alone is what this repairs, and the run lists its problems and says it re-rendered it.
    """
    from phenocell.cards.render import card_html, write_card
    from phenocell.cards.verify import dataset_problems, verify_dataset

    verify_dataset(dataset_dir, readme=False, action="rendered")  # the card is rebuilt from these files
    broken = dataset_problems(dataset_dir)  # now only README.md's own problems, which rendering repairs
    for problem in broken:
        click.echo(f"README.md: {problem}")
    path = write_card(dataset_dir)
    click.echo(
        f"re-rendered {path} from the verified data files and splits.json" if broken else f"wrote {path}"
    )
    if html:
        click.echo(f"wrote {card_html(dataset_dir)}")


@main.command()
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@friendly_errors
def verify(dataset_dir: Path) -> None:
    """Check DATASET_DIR: README YAML vs splits.json, shard sha256 and rows vs manifest, split leakage."""
    from phenocell.cards.verify import verify_dataset

    verify_dataset(dataset_dir, action="changed")
    click.echo(f"verified {dataset_dir}: manifest, shards, splits and README.md agree")


@main.group()
def export() -> None:
    """Export cells or datasets to other tools' formats (QuPath GeoJSON, the authors' LMDB)."""


@export.command("geojson")
@click.argument("raw_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Folder for <fov>.geojson files.")
@_unit_run_options("Replace an existing GeoJSON folder (only one PhenoCell wrote).")
@friendly_errors
def export_geojson_cmd(raw_dir: Path, out: Path, **kw: Any) -> None:
    """Write per-FoV cell outlines with their classes (H&E pixels) as GeoJSON that QuPath opens."""
    _run_units(
        "phenocell.converters.geojson:export_geojson",
        raw_dir,
        out,
        kw,
        lambda files: f"wrote {len(files)} GeoJSON files to {out}",
    )


export.add_command(export_lmdb_cmd)
main.add_command(import_lmdb_cmd)
main.add_command(benchmark)
main.add_command(cells)


if __name__ == "__main__":  # pragma: no cover
    main()
