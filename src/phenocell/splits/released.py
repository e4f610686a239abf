"""Split families of the released nucleus datasets, over images (each image is its own unit).

- Lizard: ``rotation1..3`` over Lizard's own folds (``info.csv`` ``Split``), and the PhenoBench authors'
  source holdouts ``holdout_<source>`` for each of the five sources (consep, crag, dpath, glas, pannuke;
  ``domain_shift_lizard.ipynb``): test = every image of that source, the other images split as
  ``sklearn.model_selection.train_test_split(images, test_size=0.2, random_state=42)`` splits them, its
  "test" part being our validation. An image's source is its name's prefix before the first ``_``
  (``glas_12`` → ``glas``), as the authors take it, not ``info.csv``'s ``Source`` column. The images enter
  ``train_test_split`` in sorted name order; the authors' split CSV's row order is not public, so only
  ``--splits-from`` with their files reproduces their validation sets.
- PanNuke: ``standard`` is the authors' split (Bio-Image-Datasets ``scripts/pannuke_split.py``, commit
  86c88b3): train fold 3, validation fold 1, test fold 2; ``rotation1..3`` over the three folds are extras.
- Arctique: ``base``: test = the release's ``test`` images; its ``train`` images 80/20 into train /
  validation (seeded). A flat release without train/test is cut 70/15/15.

Rotation ``r`` (1-based) trains on fold ``r``, validates on fold ``r+1`` and tests on fold ``r+2`` (cyclic).
"""

from __future__ import annotations

import math

import numpy as np

from phenocell.errors import InvalidInputError
from phenocell.records import Patient, SampleRef
from phenocell.splits.families import _partition
from phenocell.splits.rules import SPLITS, Splits
from phenocell.splits.validate import validate_splits

HOLDOUT_SEED = 42
HOLDOUT_VALIDATION = 0.2
LIZARD_SOURCES = ("consep", "crag", "dpath", "glas", "pannuke")
#: PanNuke's standard split as the authors drew it: train, validation, test folds.
PANNUKE_STANDARD = ("fold3", "fold1", "fold2")


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


def train_test_split(
    items: list[str], *, test_size: float = HOLDOUT_VALIDATION, random_state: int = HOLDOUT_SEED
) -> tuple[list[str], list[str]]:
    """``items`` cut as ``sklearn.model_selection.train_test_split`` cuts them (shuffled, no stratification).

    sklearn's rule: ``ceil(test_size * n)`` items go to the second part, taken from the first positions of
    ``np.random.RandomState(random_state).permutation(n)``; the next ``n - n_test`` positions are the first
    part. Both parts come back in that permuted order.
    """
    n_test = math.ceil(test_size * len(items))
    order = np.random.RandomState(random_state).permutation(len(items)).tolist()
    return [items[i] for i in order[n_test:]], [items[i] for i in order[:n_test]]


def lizard_source(name: str) -> str:
    """The source of a Lizard image as the authors take it: its name's prefix before the first ``_``."""
    return name.split("_", 1)[0].lower()


def lizard_holdouts(names: list[str]) -> tuple[dict[str, dict[str, list[str]]], dict[str, str]]:
    """``holdout_<source>`` for each source with images: test = that source, the rest 80/20 (module doc)."""
    families, rules = {}, {}
    for source in LIZARD_SOURCES:
        test = sorted(n for n in names if lizard_source(n) == source)
        rest = sorted(n for n in names if lizard_source(n) != source)
        if not test or len(rest) < 2:
            continue
        train, val = train_test_split(rest)
        families[f"holdout_{source}"] = {"train": sorted(train), "validation": sorted(val), "test": test}
        rules[f"holdout_{source}"] = (
            f"test = every {source}_* image (the name's prefix before the first _); the other images, in "
            f"sorted name order, through sklearn train_test_split(test_size={HOLDOUT_VALIDATION}, "
            f"random_state={HOLDOUT_SEED}): its test part is validation"
        )
    return families, rules


def lizard_splits(refs: dict[str, SampleRef]) -> Splits:
    """Lizard's fold rotations and the authors' source holdouts (deterministic whatever ``--seed``)."""
    folds = sorted({r.subset for r in refs.values()})
    families, rules = _rotations(refs, folds)
    holdouts, holdout_rules = lizard_holdouts(sorted(refs))
    return _as_splits(families | holdouts, rules | holdout_rules, refs, HOLDOUT_SEED)


def pannuke_splits(refs: dict[str, SampleRef]) -> Splits:
    """PanNuke's standard split (the authors': train F3, validation F1, test F2) and three fold rotations."""
    folds = sorted({r.subset for r in refs.values()})
    rotations, rotation_rules = _rotations(refs, folds)
    standard = {
        split: sorted(n for n, r in refs.items() if r.subset == fold)
        for split, fold in zip(SPLITS, PANNUKE_STANDARD, strict=True)
    }
    families = {"standard": standard} | rotations
    rules = {
        "standard": "the authors' split (Bio-Image-Datasets scripts/pannuke_split.py): train = fold 3, "
        "validation = fold 1, test = fold 2"
    } | rotation_rules
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
