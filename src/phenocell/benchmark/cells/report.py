"""``cells classify`` run directories: results.json and report.md in ``benchmark run``'s shape, plus pictures.

``results.json`` carries ``mode: "cells"`` and the keys ``benchmark compare`` reads (``encoder``, ``head``
= the classifier, ``family``, ``dataset``, ``metrics.test.cell_macro_f1`` ...), so object-level and dense
runs of the same encoder share one comparison table. Pictures: a PCA of the test cells' embeddings coloured
by class (``embedding_pca.png``) and the row-normalised test confusion (``confusion_cell.png``).
"""

from __future__ import annotations

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from phenocell import __version__
from phenocell.benchmark.cells.classify import GRIDS, classify_cells
from phenocell.benchmark.cells.config import ClassifyConfig
from phenocell.benchmark.cells.table import read_cells
from phenocell.benchmark.metric_names import CELL_F1, CELL_F1_UNIQUE, PIXEL_F1, header
from phenocell.benchmark.report import _plot_confusion
from phenocell.profiles import DEFAULT_PROFILE, get_profile

MODE = "cells"
PCA_POINTS = 20_000  # at most this many test cells are drawn (seeded subsample)


def pca_2d(x: np.ndarray) -> np.ndarray:
    """(n, 2) coordinates on the first two principal components of the standardised features."""
    z = (x - x.mean(axis=0)) / np.maximum(x.std(axis=0), 1e-8)
    _, _, vt = np.linalg.svd(z, full_matrices=False)
    return z @ vt[:2].T if vt.shape[0] >= 2 else np.pad(z @ vt.T, ((0, 0), (0, 2 - vt.shape[0])))


def plot_pca(x: np.ndarray, labels: np.ndarray, dataset: str, path: Path, title: str, seed: int) -> None:
    """Scatter of the test cells on two principal components, one colour per class (profile colours)."""
    profile = get_profile(dataset)
    if len(x) > PCA_POINTS:
        keep = np.random.default_rng(seed).choice(len(x), PCA_POINTS, replace=False)
        x, labels = x[keep], labels[keep]
    xy = pca_2d(x.astype(np.float64))
    fig, ax = plt.subplots(figsize=(7, 6))
    for c in np.unique(labels):
        pick = labels == c
        colour = np.array(profile.class_colors[int(c)]) / 255.0
        ax.scatter(xy[pick, 0], xy[pick, 1], s=4, color=colour, label=profile.class_names[int(c)], alpha=0.7)
    ax.set_xlabel("PC 1")
    ax.set_ylabel("PC 2")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=6, markerscale=3, loc="best")
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def run_classify(
    h5ad: Path, *, out: Path | None = None, config: ClassifyConfig | None = None, embedding: str | None = None
) -> dict[str, Any]:
    """Classify the cells of ``h5ad`` (``cells embed``'s output) and write the run directory ``out``.

    ``out`` defaults to ``runs/cells-<encoder>-<classifier>-<family>``; the document returned (and written
    as results.json) names it under ``out``.
    """
    cfg = config or ClassifyConfig()
    adata, x, meta = read_cells(Path(h5ad), embedding)
    names = list(meta.get("class_names") or get_profile(meta.get("dataset")).class_names)
    result = classify_cells(x, adata.obs, names, cfg)
    doc = {
        "phenocell_version": __version__,
        "mode": MODE,
        "dataset": meta.get("dataset", DEFAULT_PROFILE),
        "class_names": names,
        "family": meta.get("family", "base"),
        "encoder": meta.get("encoder", "?"),
        "head": cfg.classifier,
        "data": str(h5ad),
        "embedding": embedding or meta.get("embedding"),
        "pooling": meta.get("pooling"),
        "features": meta.get("features"),
        "weights_id": meta.get("weights_id"),
        "seed": cfg.seed,
        "cells": result["cells"],
        "metrics": result["metrics"],
        "selection": result["selection"],
        "chance_cell_macro_f1": result["chance_cell_macro_f1"],
        "protocol": {
            "options": asdict(cfg),
            "grid": GRIDS[cfg.classifier],
            "departures": {},
            "data": meta.get("data_protocol"),  # tiling, µm/px, scaling: benchmark run's block
        },
        "timings": {"classify_seconds": result["seconds"]},
    }
    enc = str(doc["encoder"]).replace("/", "-")
    doc["out"] = str(out or Path("runs") / f"cells-{enc}-{cfg.classifier}-{doc['family']}")
    write_cells_run(Path(doc["out"]), doc, x, adata.obs)
    return doc


def write_cells_run(out: Path, doc: dict[str, Any], x: np.ndarray, obs: Any) -> None:
    """results.json, the two pictures and report.md."""
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(doc, indent=2) + "\n")
    test = (obs["split"].astype(str).to_numpy() == "test") & (obs["class_id"].to_numpy() >= 1)
    title = f"{doc['encoder']} ({doc['pooling']}) / {doc['dataset']} {doc['family']}: test cells"
    plot_pca(
        x[test],
        obs["class_id"].to_numpy()[test],
        doc["dataset"],
        out / "embedding_pca.png",
        title,
        doc["seed"],
    )
    cm = np.asarray(doc["metrics"]["test"]["cell_confusion"])
    _plot_confusion(
        cm,
        out / "confusion_cell.png",
        f"test cell confusion, {doc['head']} (row-normalised)",
        doc["class_names"],
    )
    (out / "report.md").write_text(report_markdown(doc))


def _f(value: float | None) -> str:
    return "—" if value is None else f"{value:.4f}"


def report_markdown(doc: dict[str, Any]) -> str:
    """report.md of a cells run: the same headline table as ``benchmark run``'s, per class, the grid."""
    m, chance = doc["metrics"], doc["chance_cell_macro_f1"]
    lines = [
        f"# {doc['encoder']} / {doc['head']} (cells) / {doc['dataset']} {doc['family']}",
        "",
        f"phenocell {doc['phenocell_version']}, seed {doc['seed']}, weights `{doc['weights_id']}`, "
        f"embedding `{doc['embedding']}` ({doc['pooling']} pooling of `{doc['features']}`), "
        f"labelled cells {doc['cells']}, chosen on validation: {doc['selection']['chosen']}.",
        "",
        "Object-level: each cell counted once; `cell_macro_f1` averages the classes present in ground truth "
        "or prediction (the authors' rule), `cell_macro_f1_unique` all classes; no pixel score.",
        "",
        *header((CELL_F1, CELL_F1_UNIQUE, PIXEL_F1)),
    ]
    lines += [
        f"| {s} | {_f(m[s][CELL_F1])} | {_f(m[s][CELL_F1_UNIQUE])} | — |" for s in ("validation", "test")
    ]
    lines += [
        "",
        f"Chance (test cell_macro_f1): most frequent class {chance['most_frequent']:.4f}, "
        f"stratified random {chance['stratified']:.4f}.",
        "",
        "| class | cell F1 (present classes) | cell F1 (all classes) |",
        "|---|---:|---:|",
    ]
    test = m["test"]
    lines += [
        f"| {c} | {_f(test['cell_per_class_f1'][c])} | {_f(test['cell_unique_per_class_f1'][c])} |"
        for c in doc["class_names"][1:]
    ]
    lines += ["", "| grid point | validation cell_macro_f1 |", "|---|---:|"]
    lines += [f"| {t['params']} | {t['validation_cell_macro_f1']:.4f} |" for t in doc["selection"]["grid"]]
    lines += ["", "![embedding](embedding_pca.png)", "![cells](confusion_cell.png)", ""]
    return "\n".join(lines)
