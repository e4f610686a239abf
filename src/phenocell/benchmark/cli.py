"""``phenocell benchmark``: a thin click layer over :mod:`phenocell.benchmark.run` and ``report``."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path
from typing import Any

import click
from click.core import ParameterSource

from phenocell.benchmark.metric_names import CELL_F1, METRICS
from phenocell.cli_errors import friendly_errors
from phenocell.cli_options import apply, option_from


@click.group()
def benchmark() -> None:
    """Benchmark: run an encoder/head/family (or baseline/hovernext), compare runs, list encoders, heads."""


@benchmark.command("heads")
def benchmark_heads() -> None:
    """List the registered heads: the features each reads, and what it departs from."""
    from phenocell.benchmark.heads import HEADS

    for key in HEADS:
        spec = HEADS.get(key)
        click.echo(f"{key:14s} reads {spec.features:6s} {spec.summary}")


@benchmark.command("encoders")
def benchmark_encoders() -> None:
    """List the registered encoders with their Hub ids and licences."""
    from phenocell.benchmark.encoders import ENCODERS

    for key in ENCODERS:
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
    "t_max": "Cosine period T_max (PanNuke's config: 10000 of 20000 steps); with --lr-schedule "
    "cosine_restarts the restart period (vitoria: 10 epochs)." + _PER_DATASET,
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
    "train_fraction": "Nested seeded subset of the train split: 1, 0.5, 0.2, 0.1 or 0.05.",
    "device": "auto (CUDA when present), cpu, cuda or cuda:N.",
    "workers": "DataLoader processes decoding tiles (0: decode in this process); default min(4, usable "
    "cores): the authors' 4 where the machine has them.",
    "protocol": "Preset of head, loss, optimiser, schedule, augmentation, validation, selection and seed "
    "count: phenobench (the authors' code, per-dataset config) or vitoria (Vitoria et al.: constant "
    "decoder, CE + Dice, NAdam, cosine restarts every 10 epochs, 50 epochs, Dice, 10 seeds). Options given "
    "with it are recorded as departures from it.",
    "seeds": "Number of seeds to run from --seed on (mean ± std in report.md); default: the protocol's.",
    "loss": "ce: the authors' class-weighted CE; ce_dice: CE + soft Dice (Vitoria et al.).",
    "optimizer": "adamw (the authors') or nadam (Vitoria et al.).",
    "lr_schedule": "warmup_cosine: LinearLR then one cosine over --t-max; cosine_restarts: restart every "
    "--t-max.",
    "unit": "steps, or epochs (ceil(train tiles / batch) steps each): counts --steps, --val-every, "
    "--warmup, --early-stop and --t-max.",
    "tile_store": "auto|none|DIR: decode each shard once into raw memory-mapped arrays for fast random "
    "reads (auto: $PHENOCELL_CACHE/tiles or ~/.cache/phenocell/tiles, when the disk has room).",
}


class SeedList(click.ParamType):
    """``42`` or a comma-separated list ``1,2,3`` → a tuple of ints."""

    name = "SEED[,SEED...]"

    def convert(self, value: Any, param: Any, ctx: Any) -> tuple[int, ...]:
        """Parse one seed or a comma-separated list."""
        if isinstance(value, tuple):
            return value
        try:
            return tuple(int(v) for v in str(value).split(","))
        except ValueError:
            self.fail(f"{value!r} is not a seed or a comma-separated list of seeds (e.g. 1,2,3)", param, ctx)


def _train_options() -> list[Any]:
    from phenocell.benchmark.config import TrainConfig

    seed = click.option(
        "--seed",
        type=SeedList(),
        default=TrainConfig.__dataclass_fields__["seed"].default,
        show_default=True,
        help="Seed, or a list 1,2,3 of seeds to run (one run each, then mean ± std); see --seeds.",
    )
    return [
        option_from(TrainConfig, f.name, "--" + f.name.replace("_", "-"), help=_HELP.get(f.name))
        if f.name != "seed"
        else seed
        for f in fields(TrainConfig)
        if f.name not in NOT_ON_CLI
    ]


def _given(ctx: click.Context, names: Any) -> list[str]:
    """The options the user set (command line or environment), as opposed to defaults."""
    defaults = (ParameterSource.DEFAULT, ParameterSource.DEFAULT_MAP, None)
    return [n for n in names if ctx.get_parameter_source(n) not in defaults]


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
                default=None,
                help="Registry key, see `phenocell benchmark heads`. Default: the protocol's (phenobench: "
                "linear, vitoria: constant).",
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
            click.option("--quiet", is_flag=True, help="No progress bars (the run's lines still print)."),
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
    head: str | None,
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
    from phenocell.benchmark.presets import preset
    from phenocell.benchmark.seed_runs import run_seeds
    from phenocell.benchmark.seeds import seed_list

    protocol, seeds = kw.pop("protocol"), kw.pop("seed")
    given = {k: kw[k] for k in _given(click.get_current_context(), kw)}
    if len(seeds) > 1:  # a seed list sets the seed count (the preset's, or --seeds, must agree)
        given.setdefault("seeds", len(seeds))
    config = TrainConfig.preset(protocol, seed=seeds[0], **given)
    head = head or preset(protocol).head
    out = out or Path("runs") / f"{encoder.replace('/', '-')}-{head}-{family}"
    run_seeds(
        data,
        seeds=seed_list(list(seeds), config.seeds),
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
    type=click.Choice(list(METRICS)),
    default=CELL_F1,
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
