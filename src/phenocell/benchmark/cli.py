"""``phenocell benchmark``: a thin click layer over :mod:`phenocell.benchmark.run` and ``report``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from phenocell.cli_errors import friendly_errors
from phenocell.splits import ALL_FAMILIES


@click.group()
def benchmark() -> None:
    """Frozen-encoder benchmark: run one encoder/head/family, compare runs, list encoders."""


@benchmark.command("encoders")
def benchmark_encoders() -> None:
    """List the registered encoders with their Hub ids and licences."""
    from phenocell.benchmark.encoders import ENCODERS

    for key in ENCODERS.keys():  # noqa: SIM118 - Registry is not a dict
        cfg = ENCODERS.get(key)
        click.echo(
            f"{key:26s} {cfg.arch:32s} patch {cfg.patch_size:2d}  dim {cfg.embed_dim:5d}  "
            f"hub {cfg.hub_id or '-':28s} licence {cfg.license}"
        )


@benchmark.command("run")
@click.option("--data", required=True, help="Dataset directory or Hub repo id.")
@click.option("--family", type=click.Choice(list(ALL_FAMILIES)), required=True, help="Split family (config).")
@click.option("--encoder", required=True, help="Registry key, see `phenocell benchmark encoders`.")
@click.option("--head", type=click.Choice(["linear", "unetr"]), default="linear", show_default=True)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Run directory (default runs/<...>)."
)
@click.option(
    "--weights", type=click.Path(path_type=Path), default=None, help="Local safetensors checkpoint."
)
@click.option("--cache-dir", type=click.Path(path_type=Path), default=None, help="Token cache directory.")
@click.option("--steps", type=int, default=10_000, show_default=True)
@click.option("--batch-size", type=int, default=64, show_default=True)
@click.option("--lr", type=float, default=3e-5, show_default=True)
@click.option("--weight-decay", type=float, default=0.03, show_default=True)
@click.option("--warmup", type=int, default=1_000, show_default=True)
@click.option("--val-every", type=int, default=200, show_default=True)
@click.option("--patience", type=int, default=10, show_default=True, help="Evaluations without improvement.")
@click.option(
    "--class-weighting", type=click.Choice(["inverse", "none"]), default="inverse", show_default=True
)
@click.option("--sampling", type=click.Choice(["class", "uniform"]), default="class", show_default=True)
@click.option("--augment", type=click.Choice(["flips", "none"]), default="flips", show_default=True)
@click.option(
    "--train-fraction", type=click.Choice(["1", "0.5", "0.2", "0.1", "0.05"]), default="1", show_default=True
)
@click.option("--seed", type=int, default=0, show_default=True)
@friendly_errors
def benchmark_run(
    data: str,
    family: str,
    encoder: str,
    head: str,
    out: Path | None,
    weights: Path | None,
    cache_dir: Path | None,
    train_fraction: str,
    **kw: Any,
) -> None:
    """Train a head on a frozen encoder and evaluate it (writes results.json, report.md, figures)."""
    from phenocell.benchmark.run import run_benchmark
    from phenocell.benchmark.train import TrainConfig

    config = TrainConfig(train_fraction=float(train_fraction), **kw)
    out = out or Path("runs") / f"{encoder.replace('/', '-')}-{head}-{family}"
    results = run_benchmark(
        data,
        family=family,
        encoder=encoder,
        head=head,
        out=out,
        config=config,
        weights=weights,
        cache_dir=cache_dir,
        log=click.echo,
    )
    for split in ("validation", "test"):
        m = results["metrics"][split]
        click.echo(
            f"{split:10s} pixel_macro_f1 {m['pixel_macro_f1']:.4f}  cell_macro_f1 {m['cell_macro_f1']:.4f}"
        )
    click.echo(f"wrote {out}")


@benchmark.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--metric", type=click.Choice(["pixel_macro_f1", "cell_macro_f1"]), default="pixel_macro_f1")
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Also write the table here (markdown)."
)
@friendly_errors
def benchmark_compare(runs: tuple[Path, ...], metric: str, out: Path | None) -> None:
    """Print the domain-shift table (F1 per family, drop from base, per class) of RUNS."""
    from phenocell.benchmark.report import compare

    table = compare(list(runs), metric)
    click.echo(table)
    if out is not None:
        Path(out).write_text(table)
