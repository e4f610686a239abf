"""``phenocell demo``: synthetic export → convert → load with ``datasets`` → summary → benchmark smoke."""

from __future__ import annotations

import shutil
from collections import Counter
from pathlib import Path

import click

from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.schema import class_name
from phenocell.splits import FAMILIES, SPLITS
from phenocell.synthetic import SynthOptions, synthesize


def summarize(data_dir: Path) -> dict[str, dict[str, int]]:
    """Load every family config with ``datasets`` and count tiles per split and cells per class."""
    from datasets import load_dataset

    sizes: dict[str, dict[str, int]] = {}
    classes: Counter[str] = Counter()
    for family in FAMILIES:
        parts = load_dataset(str(data_dir), family)
        sizes[family] = {split: parts[split].num_rows for split in SPLITS}
        if family == "base":
            for split in SPLITS:
                seen: dict[int, int] = {}
                for cells in parts[split].select_columns(["cells"])["cells"]:
                    seen.update({c["cell_id"]: c["label"] for c in cells})
                classes.update(class_name(k) for k in seen.values())
    click.echo("\nsplit sizes (tiles):")
    for family, parts_sizes in sizes.items():
        click.echo(f"  {family:12s} " + "  ".join(f"{s}={n}" for s, n in parts_sizes.items()))
    click.echo("\ncells per class (each cell once, all base splits):")
    for name, count in classes.most_common():
        click.echo(f"  {name:24s} {count:7d}")
    return sizes


def run_demo(
    workdir: Path,
    *,
    fovs: int = SynthOptions.fovs,
    patients: int = SynthOptions.patients,
    seed: int = SynthOptions.seed,
    mask_shape: tuple[int, int] = SynthOptions.mask_shape,
    benchmark: bool = True,
) -> Path:
    """Run the whole pipeline on a synthetic export under ``workdir``; returns the dataset directory."""
    workdir = Path(workdir)
    raw, data = workdir / "raw", workdir / "phenocell"
    shutil.rmtree(raw, ignore_errors=True)
    shutil.rmtree(workdir / "tokens", ignore_errors=True)
    click.echo(f"1/4 synthesizing a raw CODEX export ({fovs} FoVs, {patients} patients) in {raw}")
    options = SynthOptions(fovs=fovs, patients=patients, seed=seed, mask_shape=mask_shape)
    synthesize(raw, options=options)
    click.echo(f"2/4 converting to {data}")
    convert(raw, data, options=CodexOptions(seed=seed, overwrite=True))
    click.echo("3/4 loading with datasets.load_dataset")
    summarize(data)
    if benchmark:
        click.echo("\n4/4 benchmark smoke (test/vit-tiny: linear head a few steps, then cells as objects)")
        from phenocell.benchmark.smoke import cells_smoke, smoke

        dense = smoke(data, workdir / "runs", cache_dir=workdir / "tokens")
        cells_smoke(data, workdir / "runs", workdir / "tokens", dense)
    return data
