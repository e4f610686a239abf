"""``phenocell cells classify``: a shallow scikit-learn classifier on per-cell embeddings.

Trained on the family's train cells, its hyper-parameters picked on validation from a small fixed grid
(:data:`GRIDS`; the first best wins ties) by the authors' metric, then scored on test. Only labelled cells
take part (``class_id`` >= 1; ignored cells are -1). Scores, each cell counted once:

- ``cell_macro_f1``: the authors' macro F1, averaged over the classes present in ground truth ∪ prediction
  (background excluded), as ``benchmark run`` reports for tile fragments;
- ``cell_macro_f1_unique``: macro F1 over all the dataset's classes (absent ones count 0), as ``benchmark
  run``'s each-cell-once score;
- ``pixel_macro_f1`` does not exist for objects (``None``).

The grid (features standardised on train for ``logreg`` and ``knn``):

- ``logreg``: ``LogisticRegression(C in {0.01, 0.1, 1, 10}, class_weight="balanced", max_iter=2000)``;
- ``knn``: ``KNeighborsClassifier(n_neighbors in {5, 15, 45}, weights="distance")``;
- ``rf``: ``RandomForestClassifier(n_estimators=200, min_samples_leaf in {1, 3, 10},
  class_weight="balanced_subsample")``.

Chance levels beside them: scikit-learn's ``DummyClassifier`` predicting the most frequent train class, and
drawing classes at the train frequencies (seeded).
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from phenocell.benchmark.cells.config import SPLIT_NAMES, ClassifyConfig
from phenocell.benchmark.metric_names import CELL_F1, CELL_F1_UNIQUE, PIXEL_F1
from phenocell.benchmark.metrics import macro_f1, per_class_f1, present_macro_f1, sample_confusion
from phenocell.errors import InvalidInputError, require_package

GRIDS: dict[str, list[dict[str, Any]]] = {
    "logreg": [{"C": c} for c in (0.01, 0.1, 1.0, 10.0)],
    "knn": [{"n_neighbors": k} for k in (5, 15, 45)],
    "rf": [{"min_samples_leaf": n} for n in (1, 3, 10)],
}


def make_classifier(name: str, params: dict[str, Any], seed: int) -> Any:
    """An unfitted scikit-learn estimator of the grid point ``params``."""
    require_package("sklearn", "cells", "`phenocell cells classify`")
    from sklearn.ensemble import RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    if name == "logreg":
        model = LogisticRegression(class_weight="balanced", max_iter=2000, random_state=seed, **params)
        return make_pipeline(StandardScaler(), model)
    if name == "knn":
        return make_pipeline(StandardScaler(), KNeighborsClassifier(weights="distance", **params))
    return RandomForestClassifier(
        n_estimators=200, class_weight="balanced_subsample", random_state=seed, n_jobs=-1, **params
    )


def scores(truth: np.ndarray, pred: np.ndarray, names: list[str]) -> dict[str, Any]:
    """The benchmark's cell metrics of one split (module docstring), per-class F1 and the confusion."""
    cm = sample_confusion(np.stack([truth, pred], axis=1), len(names))
    present, per_class = present_macro_f1(cm)
    return {
        CELL_F1: present,
        CELL_F1_UNIQUE: macro_f1(cm),
        PIXEL_F1: None,
        "cells": len(truth),
        "cell_classes_scored": sorted(per_class),
        "cell_per_class_f1": {name: per_class.get(c) for c, name in enumerate(names) if c > 0},
        "cell_unique_per_class_f1": dict(zip(names[1:], per_class_f1(cm).tolist(), strict=True)),
        "pixel_per_class_f1": {},
        "cell_confusion": cm.tolist(),
    }


def labelled_splits(x: np.ndarray, obs: Any) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """(features, class ids) of the labelled cells of each split; every split must have some."""
    labels = obs["class_id"].to_numpy().astype(np.int64)
    split = obs["split"].astype(str).to_numpy()
    out = {}
    for name in SPLIT_NAMES:
        keep = (split == name) & (labels >= 1)
        if not keep.any():
            raise InvalidInputError(
                f"no labelled {name} cells to classify",
                expected="labelled cells (class_id >= 1) in train, validation and test",
                found=f"{int((split == name).sum())} {name} cells, none labelled",
                fix="run `phenocell cells embed` with --splits train,validation,test",
            )
        out[name] = (x[keep], labels[keep])
    return out


def select(name: str, data: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str], seed: int) -> Any:
    """Fit every grid point on train, keep the best on validation's ``cell_macro_f1``; returns the search."""
    (x_train, y_train), (x_val, y_val) = data["train"], data["validation"]
    tried, best, chosen = [], (-1.0, None), {}
    for params in GRIDS[name]:
        model = make_classifier(name, params, seed).fit(x_train, y_train)
        score = scores(y_val, model.predict(x_val), names)[CELL_F1]
        tried.append({"params": params, "validation_cell_macro_f1": score})
        if score > best[0]:  # strictly better: the first of equal scores stays
            best, chosen = (score, model), params
    return best[1], {"grid": tried, "chosen": chosen}


def chance(data: dict[str, tuple[np.ndarray, np.ndarray]], names: list[str], seed: int) -> dict[str, float]:
    """Test ``cell_macro_f1`` of the most-frequent and stratified-random dummy classifiers."""
    from sklearn.dummy import DummyClassifier

    (x_train, y_train), (x_test, y_test) = data["train"], data["test"]
    out = {}
    for strategy in ("most_frequent", "stratified"):
        dummy = DummyClassifier(strategy=strategy, random_state=seed).fit(x_train, y_train)
        out[strategy] = scores(y_test, dummy.predict(x_test), names)[CELL_F1]
    return out


def classify_cells(x: np.ndarray, obs: Any, names: list[str], config: ClassifyConfig) -> dict[str, Any]:
    """Select, fit and score ``config.classifier``; returns the metrics part of ``results.json``."""
    started = time.perf_counter()
    data = labelled_splits(x, obs)
    model, search = select(config.classifier, data, names, config.seed)
    metrics = {s: scores(data[s][1], model.predict(data[s][0]), names) for s in ("validation", "test")}
    return {
        "metrics": metrics,
        "selection": search,
        "chance_cell_macro_f1": chance(data, names, config.seed),
        "cells": {s: len(data[s][1]) for s in SPLIT_NAMES},
        "seconds": time.perf_counter() - started,
    }
