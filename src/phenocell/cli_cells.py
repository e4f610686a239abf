"""``phenocell cells``: per-cell embeddings (AnnData) and shallow classifiers on them; a thin click layer.

Options derive from :class:`~phenocell.benchmark.cells.config.EmbedConfig` and ``ClassifyConfig``.
"""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from phenocell.benchmark.cells.config import ClassifyConfig, EmbedConfig
from phenocell.benchmark.metric_names import CELL_F1, CELL_F1_UNIQUE
from phenocell.cli_errors import friendly_errors
from phenocell.cli_options import apply, option_from

_EMBED_HELP = {
    "pooling": "mean: patch tokens weighted by the cell's pixels in each patch; center: the token under "
    "the centroid.",
    "splits": "Comma-separated splits of the family to embed.",
    "batch_size": "Tiles per encoder batch.",
    "workers": "DataLoader processes decoding tiles (0: in this process).",
    "device": "auto (CUDA when present), cpu, cuda or cuda:N.",
}


def _path(flag: str, help_text: str, **kw: Any) -> Any:
    return click.option(flag, type=click.Path(path_type=Path), help=help_text, **kw)


def _embed_options(func: Any) -> Any:
    return apply(
        func,
        [
            click.option("--data", required=True, help="Dataset directory or Hub repo id."),
            click.option("--encoder", required=True, help="Registry key (`phenocell benchmark encoders`)."),
            click.option(
                "--family", default=None, help="Split family (default: the dataset's first, e.g. base)."
            ),
            _path("--out", "The .h5ad file to write.", required=True),
            _path(
                "--cache-dir",
                "Token cache directory: read where it holds a FoV, filled where not.",
                default=None,
            ),
            _path("--weights", "Local safetensors checkpoint.", default=None),
            click.option("--small", is_flag=True, help="Test-size encoder with random weights (CI)."),
            click.option("--trust-remote-code", is_flag=True, help="Allow pathology/titan's Hub code."),
            click.option("--quiet", is_flag=True, help="No progress bars (the split lines still print)."),
            *(
                option_from(
                    EmbedConfig, f.name, "--" + f.name.replace("_", "-"), help=_EMBED_HELP.get(f.name)
                )
                for f in fields(EmbedConfig)
            ),
        ],
    )


@click.group()
def cells() -> None:
    """Cells as objects: per-cell embeddings of any encoder (AnnData .h5ad) and shallow classifiers."""


@cells.command("embed")
@_embed_options
@friendly_errors
def cells_embed(data: str, encoder: str, family: str | None, out: Path, quiet: bool, **kw: Any) -> None:
    """Embed every cell of the chosen splits with ENCODER; write an AnnData (.h5ad) for scanpy."""
    from phenocell.benchmark.cells.embed import embed_cells

    sources = {k: kw.pop(k) for k in ("cache_dir", "weights", "small", "trust_remote_code")}
    uns = embed_cells(
        data,
        encoder=encoder,
        family=family,
        out=out,
        config=EmbedConfig(**kw),
        log=click.echo,
        progress=not quiet,
        **sources,
    )
    counts = ", ".join(f"{s} {n}" for s, n in uns["cells"].items())
    click.echo(f"wrote {out}: {sum(uns['cells'].values())} cells ({counts}) in {uns['seconds']:.1f} s")


@cells.command("classify")
@click.argument("h5ad", type=click.Path(path_type=Path))
@option_from(
    ClassifyConfig, "classifier", "--classifier", help="scikit-learn model; its grid is in the README."
)
@_path("--out", "Run directory (default runs/cells-<encoder>-<classifier>-<family>).", default=None)
@click.option("--embedding", default=None, help="obsm key (default: the one `cells embed` wrote).")
@option_from(ClassifyConfig, "seed", "--seed", help="Seed of the classifier and the chance baselines.")
@friendly_errors
def cells_classify(h5ad: Path, out: Path | None, embedding: str | None, **kw: Any) -> None:
    """Train a shallow classifier on H5AD's train cells, select on validation, score test."""
    from phenocell.benchmark.cells.report import run_classify

    doc = run_classify(h5ad, out=out, config=ClassifyConfig(**kw), embedding=embedding)
    for split in ("validation", "test"):
        m = doc["metrics"][split]
        click.echo(f"{split:10s} {CELL_F1} {m[CELL_F1]:.4f}  all-classes {m[CELL_F1_UNIQUE]:.4f}")
    chance = doc["chance_cell_macro_f1"]
    click.echo(
        f"chance (test cell_macro_f1): most frequent {chance['most_frequent']:.4f}, "
        f"stratified {chance['stratified']:.4f}; wrote {doc['out']}"
    )
