"""CLI commands that interoperate with the authors' release: ``phenocell export lmdb`` and ``import-lmdb``."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import click

from phenocell.cli_errors import friendly_errors
from phenocell.cli_options import apply
from phenocell.cli_raw_options import execution_from, execution_options


def _output_options(out_help: str, overwrite_help: str) -> Callable[[Any], Any]:
    """The ``--out`` (required), ``--overwrite`` and ``--quiet`` options both commands take, in that order."""

    def decorate(func: Any) -> Any:
        return apply(
            func,
            [
                click.option("--out", type=click.Path(path_type=Path), required=True, help=out_help),
                click.option("--overwrite", is_flag=True, help=overwrite_help),
                click.option("--quiet", is_flag=True, help="No progress bar."),
            ],
        )

    return decorate


@click.command("lmdb")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@_output_options("Release folder to create.", "Replace an existing output folder.")
@friendly_errors
def export_lmdb_cmd(dataset_dir: Path, out: Path, overwrite: bool, quiet: bool) -> None:
    """Write DATASET_DIR in the authors' LMDB layout (lmdb/, label_dict.json, split CSVs) for their code."""
    from phenocell.cards.verify import verify_dataset
    from phenocell.loaders.lmdb_export import export_lmdb

    verify_dataset(dataset_dir, readme=False, action="exported")  # shards against the manifest, as publish
    _, count = export_lmdb(dataset_dir, out, overwrite=overwrite, progress=not quiet)
    click.echo(f"wrote {count} tiles to {out}")


@click.command("import-lmdb")
@click.argument("lmdb_dir", type=click.Path(path_type=Path))
@_output_options("Dataset directory to create.", "Replace an existing output directory.")
@execution_options
@friendly_errors
def import_lmdb_cmd(lmdb_dir: Path, out: Path, overwrite: bool, quiet: bool, **kw: Any) -> None:
    """Convert the authors' LMDB release LMDB_DIR into a PhenoCell dataset (pickles: allow-list only).

    The same as ``convert LMDB_DIR --source authors-lmdb``.
    """
    from phenocell.converters import FORMATS
    from phenocell.converters.options import RunOptions
    from phenocell.converters.workers import warm_up

    options = RunOptions(overwrite=overwrite, progress=not quiet, execution=execution_from(kw))
    # the local workers' server starts importing the driver and the source, while this process does
    warm_up(
        options.execution, "phenocell.converters.driver", f"phenocell.converters.{FORMATS['authors-lmdb']}"
    )
    from phenocell.converters.driver import convert

    click.echo(f"wrote {convert(lmdb_dir, out, source='authors-lmdb', options=options)}")
