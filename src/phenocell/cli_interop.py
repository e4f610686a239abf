"""CLI commands that interoperate with the authors' release: ``phenocell export lmdb`` and ``import-lmdb``."""

from __future__ import annotations

from pathlib import Path

import click

from phenocell.cli_errors import friendly_errors


@click.command("lmdb")
@click.argument("dataset_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Release folder to create.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output folder.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def export_lmdb_cmd(dataset_dir: Path, out: Path, overwrite: bool, quiet: bool) -> None:
    """Write DATASET_DIR in the authors' LMDB layout (lmdb/, label_dict.json, split CSVs) for their code."""
    from phenocell.pipeline.lmdb_export import export_lmdb

    _, count = export_lmdb(dataset_dir, out, overwrite=overwrite, progress=not quiet)
    click.echo(f"wrote {count} tiles to {out}")


@click.command("import-lmdb")
@click.argument("lmdb_dir", type=click.Path(path_type=Path))
@click.option("--out", type=click.Path(path_type=Path), required=True, help="Dataset directory to create.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output directory.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
@friendly_errors
def import_lmdb_cmd(lmdb_dir: Path, out: Path, overwrite: bool, quiet: bool) -> None:
    """Convert the authors' LMDB release LMDB_DIR into a PhenoCell dataset (pickles: allow-list only)."""
    from phenocell.pipeline.lmdb_import import import_lmdb

    click.echo(f"wrote {import_lmdb(lmdb_dir, out, overwrite=overwrite, progress=not quiet)}")
