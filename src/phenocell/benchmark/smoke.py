"""A few-step benchmark run for the demo: test/vit-tiny with a linear head on the tumor_stage family."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.run import run_benchmark

#: A few CPU steps: flips only (the reference's elastic warp is slow on CPU), decoding in this process.
SMOKE = TrainConfig(steps=40, batch_size=8, lr=1e-3, warmup=5, val_every=20, augment="flips", workers=0)


def smoke(data: Path, runs: Path) -> dict[str, Any]:
    """Run the smoke benchmark and print its test metrics."""
    results = run_benchmark(
        data,
        family="tumor_stage",
        encoder="test/vit-tiny",
        head="linear",
        out=runs / "smoke-vit-tiny-linear-tumor_stage",
        config=SMOKE,
        log=lambda _: None,
    )
    test = results["metrics"]["test"]
    click.echo(
        f"  test cell_macro_f1 {test['cell_macro_f1']:.4f}  pixel_macro_f1 {test['pixel_macro_f1']:.4f}  "
        f"(majority class {results['majority_class_pixel_macro_f1']:.4f}); report in {runs}"
    )
    return results
