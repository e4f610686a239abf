"""Split families over FoVs, drawn over patients (or regions) with a seed, and their validation.

- ``base``: random 70/15/15 over patients; ``by="region"`` follows the authors' Base procedure instead
  (region numbers permuted with ``np.random.seed(42)``, ``int()`` sizes; a patient may straddle splits). It
  does not reproduce their assignment: they permuted the numbers in directory-listing order, we permute them
  sorted; only ``--splits-from`` with their split CSV gives their split.
- ``tumor_type``: train+validation (80/20 over patients) from adenocarcinoma, test = mucinous.
- ``tumor_stage``: train+validation (80/20 over patients) from UICC stage III, test = stage IV; patients of
  stage I / II are outside this family (they stay in the others).
- extras when the patient table supports them: ``dii_clr`` (train DII, test CLR) and ``msi`` (MSS → MSI).

Splits read from the authors' files (:mod:`phenocell.splits.authors`) are checked the same way
(:mod:`phenocell.splits.validate`), but their patient overlaps and rule breaks are reported
(``Splits.findings``) instead of raised.
"""

from __future__ import annotations

import numpy as np

from phenocell.errors import InvalidInputError, check_choice
from phenocell.records import Patient
from phenocell.splits.rules import (
    AUTHORS_SEED,
    BASE_BY,
    PARTIAL_FAMILIES,
    SHIFT_RULES,
    SPLITS,
    BaseBy,
    Splits,
    region_of,
)
from phenocell.splits.validate import validate_splits


def _partition(units: list[str], fractions: tuple[float, ...], rng: np.random.Generator) -> list[list[str]]:
    """Shuffle ``units`` and cut them by ``fractions``; every part gets at least one unit when possible."""
    order = [units[i] for i in rng.permutation(len(units))]
    minimum = 1 if len(order) >= len(fractions) else 0
    tail = [max(minimum, round(f * len(order))) for f in fractions[1:]]
    counts = [len(order) - sum(tail), *tail]
    cuts = np.cumsum(counts)[:-1].tolist()
    parts = [order[a:b] for a, b in zip([0, *cuts], [*cuts, len(order)], strict=True)]
    return [sorted(p) for p in parts]


def _fovs_of(units: list[str], unit_of: dict[str, str]) -> list[str]:
    chosen = set(units)
    return sorted(fov for fov, unit in unit_of.items() if unit in chosen)


def authors_region_split(fovs: list[str], *, seed: int = AUTHORS_SEED) -> list[list[str]]:
    """The authors' Base split: region numbers permuted with the legacy ``np.random.seed(seed)``.

    Their notebook groups FoV files by region number (``reg002_A`` → ``002``), permutes the list of numbers
    with ``np.random.permutation`` after ``np.random.seed(42)`` and takes ``int(0.7 n)`` train and
    ``int(0.15 n)`` validation numbers, the rest test (67 numbers → 46 / 10 / 11). The numbers are taken
    in sorted order; theirs came from a directory listing whose order is not known, so the assignment
    differs from theirs (their notebook has reg001 and reg005 in test; sorted numbers put reg001 in train).

    Returns:
        The train, validation and test region numbers.

    """
    units = sorted({region_of(f) for f in fovs})
    n_train, n_val = int(len(units) * 0.7), int(len(units) * 0.15)
    order = np.random.RandomState(seed).permutation(np.array(units, dtype=str)).tolist()
    parts = [order[:n_train], order[n_train : n_train + n_val], order[n_train + n_val :]]
    return [sorted(p) for p in parts]


def _shift_family(
    family: str, present: list[str], patients: dict[str, Patient], seed: int
) -> tuple[list[list[str]], list[str]] | None:
    """Train / validation / test patients of one domain shift and the patients it leaves out (or None)."""
    rule = SHIFT_RULES[family]
    sides = [rule.side(patients[p]) for p in present]
    test = [p for p, side in zip(present, sides, strict=True) if side]
    pool = [p for p, side in zip(present, sides, strict=True) if side is False]
    outside = [p for p, side in zip(present, sides, strict=True) if side is None]
    if family not in PARTIAL_FAMILIES and (outside or len(pool) < 2 or not test):
        return None  # extra shifts only where every patient has the attribute and both sides exist
    train, val = _partition(pool, (0.8, 0.2), np.random.default_rng([seed, len(family)]))
    return [train, val, test], outside


def make_splits(
    fov_patient: dict[str, str], patients: dict[str, Patient], *, seed: int = 0, base_by: BaseBy = "patient"
) -> Splits:
    """Draw the split families (the three core ones, plus DII→CLR / MSI where supported) and validate them.

    ``base_by="region"`` follows the authors' Base procedure (:func:`authors_region_split`, seed 42 whatever
    ``seed`` is; not their assignment, see there); its patient overlaps are reported in ``findings``.

    Raises:
        InvalidOptionError: ``base_by`` is not ``patient`` or ``region``.
        InvalidInputError: a family has an empty split (e.g. no stage-4 patient).

    """
    check_choice("base_by", base_by, BASE_BY)
    if base_by == "region":
        unit_of = {f: region_of(f) for f in fov_patient}
        base = authors_region_split(list(fov_patient))
    else:
        unit_of = fov_patient
        base = _partition(sorted(set(unit_of.values())), (0.70, 0.15, 0.15), np.random.default_rng(seed))
    families = {"base": dict(zip(SPLITS, (_fovs_of(p, unit_of) for p in base), strict=True))}
    present = sorted(set(fov_patient.values()))
    outside: dict[str, list[str]] = {}
    for family in SHIFT_RULES:
        drawn = _shift_family(family, present, patients, seed)
        if drawn is None:
            continue
        families[family] = {s: _fovs_of(u, fov_patient) for s, u in zip(SPLITS, drawn[0], strict=True)}
        if drawn[1]:
            outside[family] = drawn[1]
    splits = Splits(
        seed=seed,
        base_by=base_by,
        families=families,
        fov_patient=dict(sorted(fov_patient.items())),
        outside=outside,
    )
    validate_splits(splits, patients)
    return splits


def nested_subset(fovs: list[str], fraction: float, *, seed: int = 0) -> list[str]:
    """A seeded subset of a train split; smaller fractions are subsets of larger ones (same seed)."""
    if not 0 < fraction <= 1:
        raise InvalidInputError(
            "train fraction out of range", expected="0 < fraction <= 1", found=str(fraction), fix="e.g. 0.5"
        )
    order = [fovs[i] for i in np.random.default_rng(seed).permutation(len(fovs))]
    return sorted(order[: max(1, round(fraction * len(order)))])
