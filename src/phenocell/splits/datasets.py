"""Split families of the released nucleus datasets, over images (each image is its own unit).

- Lizard: ``rotation1..3`` over Lizard's own folds (``info.csv`` ``Split``), and ``center_glas`` (the
  PhenoBench authors' Center-Split: test = every ``glas_*`` image; the other sources 80/20 by image into
  train / validation, seed 42).
- PanNuke: ``rotation1..3`` over its three folds; ``rotation1`` is the standard train F1 / val F2 / test F3.
- Arctique: ``base``: test = the release's ``test`` images; its ``train`` images 80/20 into train /
  validation (seeded). A flat release without train/test is cut 70/15/15.

Rotation ``r`` (1-based) trains on fold ``r``, validates on fold ``r+1`` and tests on fold ``r+2`` (cyclic).
"""

from __future__ import annotations

import numpy as np

from phenocell.errors import InvalidInputError
from phenocell.records import Patient, SampleRef
from phenocell.splits.families import _partition
from phenocell.splits.rules import SPLITS, Splits
from phenocell.splits.validate import validate_splits

CENTER_SEED = 42
CENTER_TEST_SOURCE = "glas"


def _as_splits(
    families: dict[str, dict[str, list[str]]], rules: dict[str, str], refs: dict[str, SampleRef], seed: int
) -> Splits:
    splits = Splits(
        seed=seed, base_by="patient", families=families, fov_patient={n: n for n in sorted(refs)}, rules=rules
    )
    validate_splits(splits, {n: Patient(n, "", 0, r.group) for n, r in refs.items()})
    return splits


def _rotations(refs: dict[str, SampleRef], folds: list[str]) -> tuple[dict, dict]:
    if len(folds) != 3:
        raise InvalidInputError(
            "fold rotations need three folds",
            expected="folds 1, 2 and 3",
            found=f"folds {folds}",
            fix="convert all three folds of the release",
        )
    families, rules = {}, {}
    for r in range(3):
        order = [folds[(r + k) % 3] for k in range(3)]
        families[f"rotation{r + 1}"] = {
            split: sorted(n for n, ref in refs.items() if ref.subset == fold)
            for split, fold in zip(SPLITS, order, strict=True)
        }
        names = [f"fold {f}" if f.isdigit() else f for f in order]  # Lizard's folds are "1".."3"
        rules[f"rotation{r + 1}"] = f"train = {names[0]}, validation = {names[1]}, test = {names[2]}"
    return families, rules


def lizard_splits(refs: dict[str, SampleRef]) -> Splits:
    """Lizard's fold rotations and the GlaS Center-Split (deterministic: seed 42 whatever ``--seed``)."""
    folds = sorted({r.subset for r in refs.values()})
    families, rules = _rotations(refs, folds)
    test = sorted(n for n, r in refs.items() if r.group == CENTER_TEST_SOURCE)
    pool = sorted(n for n, r in refs.items() if r.group != CENTER_TEST_SOURCE)
    train, val = _partition(pool, (0.8, 0.2), np.random.default_rng(CENTER_SEED))
    families["center_glas"] = {"train": train, "validation": val, "test": test}
    rules["center_glas"] = (
        f"test = every {CENTER_TEST_SOURCE}_* image; the other sources 80/20 by image "
        f"into train / validation (seed {CENTER_SEED})"
    )
    return _as_splits(families, rules, refs, CENTER_SEED)


def pannuke_splits(refs: dict[str, SampleRef]) -> Splits:
    """PanNuke's three fold rotations."""
    folds = sorted({r.subset for r in refs.values()})
    families, rules = _rotations(refs, folds)
    return _as_splits(families, rules, refs, 0)


def arctique_splits(refs: dict[str, SampleRef], *, seed: int = 0) -> Splits:
    """Arctique's train / test with a seeded validation carve-out from train."""
    rng = np.random.default_rng(seed)
    subsets = {r.subset for r in refs.values()}
    if subsets == {"all"}:
        parts = _partition(sorted(refs), (0.70, 0.15, 0.15), rng)
        rule = f"random 70/15/15 over images (seed {seed}); the release has no train/test folders"
    else:
        train, val = _partition(sorted(n for n, r in refs.items() if r.subset == "train"), (0.8, 0.2), rng)
        parts = [train, val, sorted(n for n, r in refs.items() if r.subset == "test")]
        rule = (
            f"test = the release's test images; its train images 80/20 into train / validation (seed {seed})"
        )
    families = {"base": dict(zip(SPLITS, parts, strict=True))}
    return _as_splits(families, {"base": rule}, refs, seed)
