"""``phenocell benchmark``: a thin click layer over :mod:`phenocell.benchmark.run` and ``report``."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import click

from phenocell.benchmark.config import HEADS
from phenocell.cli_errors import friendly_errors
from phenocell.cli_options import apply, option_from


@click.group()
def benchmark() -> None:
    """Benchmark: run an encoder/head/family (or baseline/hovernext), compare runs, list encoders."""


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
    from phenocell.benchmark.hovernext import HUB_ID
    from phenocell.benchmark.reference import SUPERVISED

    click.echo(f"{SUPERVISED:26s} {'convnextv2 + U-Net, end to end':32s} timm {HUB_ID} (supervised baseline)")


#: TrainConfig fields with a CLI option (all of them but two fixed constants of the protocol).
NOT_ON_CLI = ("label_smoothing", "background")
_PER_DATASET = " Default: the authors' config for the dataset (or baseline/hovernext)."

_HELP = {
    "steps": "Optimisation steps." + _PER_DATASET,
    "batch_size": "Tiles per step." + _PER_DATASET,
    "warmup": "LinearLR warm-up steps." + _PER_DATASET,
    "t_max": "CosineAnnealingLR period T_max in steps (PanNuke's config: 10000 of 20000)." + _PER_DATASET,
    "eta_min": "CosineAnnealingLR floor." + _PER_DATASET,
    "encoder_training": "frozen: the paper; trainable: the released UNETR code (encoder at the head's lr, "
    "no token cache)." + _PER_DATASET,
    "image_scale": "tile_max: each tile / its own maximum (the authors' LMDBDataset); unit: / 255.",
    "grad_clip": "Gradient-norm clipping (0: off).",
    "precision": "auto: fp16 autocast + GradScaler on CUDA, fp32 on CPU.",
    "class_weighting": "ema_softmax: the authors' EMA inverse frequencies through a softmax.",
    "sampling": "class_pixels: the authors' per-tile class-pixel-share weights.",
    "augment": "reference: flips, affine, elastic, HED jitter (kornia); the token cache then serves "
    "validation and test only.",
    "early_stop": "Stop after this many steps without a better validation score (0: never)." + _PER_DATASET,
    "selection": "Validation metric that picks the checkpoint.",
    "linear_input": "final_norm: forward_features patch tokens (the authors'); last_block: before the norm.",
    "unetr_taps": "last4: the last four blocks (the authors'); spread: depth/4 x {1..4}.",
    "unetr_decoder": "cellvit: the authors' CellViT-style decoder; compact: our narrower one.",
    "train_fraction": "Nested seeded subset of the train split: 1, 0.5, 0.2, 0.1 or 0.05.",
    "device": "auto (CUDA when present), cpu, cuda or cuda:N.",
    "workers": "DataLoader processes decoding tiles (0: decode in this process); default min(4, usable "
    "cores): the authors' 4 where the machine has them.",
    "tile_store": "auto|none|DIR: decode each shard once into raw memory-mapped arrays for fast random "
    "reads (auto: $PHENOCELL_CACHE/tiles or ~/.cache/phenocell/tiles, when the disk has room).",
}


def _train_options() -> list[Any]:
    from phenocell.benchmark.config import TrainConfig

    return [
        option_from(TrainConfig, f.name, "--" + f.name.replace("_", "-"), help=_HELP.get(f.name))
        for f in fields(TrainConfig)
        if f.name not in NOT_ON_CLI
    ]


def _optional_path(flag: str, help_text: str) -> Any:
    """A ``--flag PATH`` option that defaults to None."""
    return click.option(flag, type=click.Path(path_type=Path), default=None, help=help_text)


def _run_options(func: Any) -> Any:
    return apply(
        func,
        [
            click.option("--data", required=True, help="Dataset directory or Hub repo id."),
            click.option(
                "--family",
                required=True,
                help="Split family: a config of the dataset card (PhenoCell: base, tumor_type, tumor_stage, "
                "dii_clr, msi, base_Npct; Lizard: rotation1..3, holdout_<source>; PanNuke: standard, "
                "rotation1..3; Arctique: base).",
            ),
            click.option(
                "--encoder", required=True, help="Registry key, see `phenocell benchmark encoders`."
            ),
            click.option(
                "--head",
                type=click.Choice(list(HEADS)),
                default="linear",
                show_default=True,
                help="linear probe, UNETR (--unetr-decoder) or constant: the constant-capacity decoder "
                "(1x1 conv to 256, x2 bilinear/3x3 conv/ReLU blocks, ~2.6 M parameters for any encoder).",
            ),
            _optional_path("--out", "Run directory (default runs/<...>)."),
            _optional_path("--weights", "Local safetensors checkpoint."),
            _optional_path("--cache-dir", "On-disk token cache directory."),
            click.option(
                "--small",
                is_flag=True,
                help="Test-size encoder with random weights (CI): the tiny architecture of the same family.",
            ),
            click.option(
                "--trust-remote-code",
                is_flag=True,
                help="Allow encoders that load code from their Hub repo (pathology/titan).",
            ),
            click.option("--quiet", is_flag=True, help="No progress bar (the run's lines still print)."),
            *_train_options(),
        ],
    )


@benchmark.command("run")
@_run_options
@friendly_errors
def benchmark_run(
    data: str,
    family: str,
    encoder: str,
    head: str,
    out: Path | None,
    weights: Path | None,
    cache_dir: Path | None,
    trust_remote_code: bool,
    small: bool,
    quiet: bool,
    **kw: Any,
) -> None:
    """Train a head on a frozen encoder and evaluate it (writes results.json, report.md, figures).

    Shows a bar over the training steps (loss, steps/s, last validation score), a line per validation and
    per final evaluation, and where the results go.
    """
    from phenocell.benchmark.config import TrainConfig
    from phenocell.benchmark.run import run_benchmark

    config = TrainConfig(**kw)
    out = out or Path("runs") / f"{encoder.replace('/', '-')}-{head}-{family}"
    run_benchmark(
        data,
        family=family,
        encoder=encoder,
        head=head,
        out=out,
        config=config,
        weights=weights,
        cache_dir=cache_dir,
        trust_remote_code=trust_remote_code,
        small=small,
        log=click.echo,
        progress=not quiet,
    )


@benchmark.command("compare")
@click.argument("runs", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "--metric",
    type=click.Choice(["cell_macro_f1", "cell_macro_f1_unique", "pixel_macro_f1", "dice_macro"]),
    default="cell_macro_f1",
    show_default=True,
)
@click.option(
    "--out", type=click.Path(path_type=Path), default=None, help="Also write the table here (markdown)."
)
@friendly_errors
def benchmark_compare(runs: tuple[Path, ...], metric: str, out: Path | None) -> None:
    """Print the domain-shift table of RUNS, or one column per dataset when RUNS span several datasets."""
    from phenocell.benchmark.report import compare

    table = compare(list(runs), metric)
    click.echo(table)
    if out is not None:
        Path(out).write_text(table)
