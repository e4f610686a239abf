"""The demo's benchmark steps on the tumor_stage family with test/vit-tiny: a dense and an object-level run.

A linear head trained a few steps, then the same encoder's per-cell embeddings classified by logistic
regression (cells as objects).

Both read one token cache: the dense run fills it (training reads it too: no augmentation), the embedding
pools the cached tokens, so the encoder runs once per tile.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.metric_names import CELL_F1, PIXEL_F1
from phenocell.benchmark.run import run_benchmark

#: A few CPU steps, no augmentation (training reads the token cache), decoding in this process.
SMOKE = TrainConfig(steps=40, batch_size=8, lr=1e-3, warmup=5, val_every=20, augment="none", workers=0)
FAMILY, ENCODER = "tumor_stage", "test/vit-tiny"


def smoke(data: Path, runs: Path, cache_dir: Path | None = None) -> dict[str, Any]:
    """Run the smoke benchmark and print its test metrics."""
    results = run_benchmark(
        data,
        family=FAMILY,
        encoder=ENCODER,
        head="linear",
        out=runs / "smoke-vit-tiny-linear-tumor_stage",
        config=SMOKE,
        cache_dir=cache_dir,
        log=lambda _: None,
    )
    test = results["metrics"]["test"]
    click.echo(
        f"  test {CELL_F1} {test[CELL_F1]:.4f}  {PIXEL_F1} {test[PIXEL_F1]:.4f}  "
        f"(majority class {results['majority_class_pixel_macro_f1']:.4f}); report in {runs}"
    )
    return results


def cells_smoke(data: Path, runs: Path, cache_dir: Path | None, dense: dict[str, Any]) -> dict[str, Any]:
    """Embed every cell with the smoke's encoder (its token cache), classify with logreg, print both F1s."""
    from phenocell.benchmark.cells.embed import embed_cells
    from phenocell.benchmark.cells.report import run_classify

    h5ad = runs / "cells-vit-tiny-tumor_stage.h5ad"
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    embed_cells(data, encoder=ENCODER, family=FAMILY, out=h5ad, cache_dir=cache_dir, log=lambda _: None)
    with threadpool_limits(limits=1):  # a few thousand 96-dim cells: BLAS threads only contend on 2 cores
        doc = run_classify(h5ad, out=runs / "cells-vit-tiny-logreg-tumor_stage")
    test, chance = doc["metrics"]["test"], doc["chance_cell_macro_f1"]
    click.echo(
        f"  cells as objects (logreg on per-cell tokens, {sum(doc['cells'].values())} cells): test "
        f"{CELL_F1} {test[CELL_F1]:.4f}  vs dense linear head "
        f"{dense['metrics']['test'][CELL_F1]:.4f}  (chance {chance['stratified']:.4f}); {h5ad}"
    )
    return doc
