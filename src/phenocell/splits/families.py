"""Split families over FoVs, drawn over patients (or regions) with a seed, and their validation.

- ``base``: random 70/15/15 over patients (``by="region"`` groups FoVs by region number instead, as the
  authors' split does, which lets one patient straddle splits).
- ``tumor_type``: train+validation (80/20 over patients) from adenocarcinoma, test = mucinous.
- ``tumor_stage``: train+validation (80/20 over patients) from pTNM stage 3, test = stage 4.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, get_args

import numpy as np

from phenocell.errors import InvalidInputError, SplitLeakageError, check_choice
from phenocell.records import Patient

FAMILIES = ("base", "tumor_type", "tumor_stage")

#: Unit of the random Base split: patients (disjoint) or region numbers (the authors' grouping).
BaseBy = Literal["patient", "region"]
BASE_BY: tuple[str, ...] = get_args(BaseBy)
#: Extra domain shifts of the authors' configs, drawn when the patient table supports them.
EXTRA_FAMILIES = ("group", "msi")
ALL_FAMILIES = FAMILIES + EXTRA_FAMILIES
SPLITS = ("train", "validation", "test")
SPLITS_VERSION = 1
RULES = {
    "base": "random 70/15/15 over {by}s",
    "tumor_type": "train+validation 80/20 over adenocarcinoma patients; test = mucinous patients",
    "tumor_stage": "train+validation 80/20 over pTNM stage 3 patients; test = stage 4 patients",
    "group": "train+validation 80/20 over CLR (group 1) patients; test = DII (group 2) patients",
    "msi": "train+validation 80/20 over MSS patients; test = MSI patients",
}

#: Domain-shift families: the test side is the patients for which the rule is true (None = unknown).
SHIFT_RULES: dict[str, Callable[[Patient], bool | None]] = {
    "tumor_type": lambda p: p.tumor_type == "mucinous",
    "tumor_stage": lambda p: p.stage == 4,
    "group": lambda p: p.group == "2" if p.group in ("1", "2") else None,
    "msi": lambda p: None if p.msi is None else p.msi == "MSI",
}


@dataclass
class Splits:
    """FoV lists per family and split, with the seed and rules that made them."""

    seed: int
    base_by: BaseBy
    families: dict[str, dict[str, list[str]]]
    fov_patient: dict[str, str]

    def to_json(self) -> dict[str, Any]:
        """The ``splits.json`` document."""
        return {
            "version": SPLITS_VERSION,
            "seed": self.seed,
            "families": {
                fam: {"rule": RULES[fam].format(by=self.base_by), "splits": self.families[fam]}
                for fam in ALL_FAMILIES
                if fam in self.families
            },
            "fov_patient": self.fov_patient,
        }

    @classmethod
    def read(cls, path: Path) -> Splits:
        """Load a ``splits.json``."""
        doc = json.loads(Path(path).read_text())
        base_rule = doc["families"]["base"]["rule"]
        return cls(
            seed=int(doc["seed"]),
            base_by="region" if base_rule.endswith("regions") else "patient",
            families={f: doc["families"][f]["splits"] for f in ALL_FAMILIES if f in doc["families"]},
            fov_patient=doc["fov_patient"],
        )


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


def _region_of(fov: str) -> str:
    match = re.search(r"reg(\d+)", fov)
    return match.group(1) if match else fov


def make_splits(
    fov_patient: dict[str, str], patients: dict[str, Patient], *, seed: int = 0, base_by: BaseBy = "patient"
) -> Splits:
    """Draw the split families (the three core ones, plus group / MSI where supported) and validate them.

    Raises:
        InvalidOptionError: ``base_by`` is not ``patient`` or ``region``.
        InvalidInputError: a family has an empty split (e.g. no stage-4 patient).

    """
    check_choice("base_by", base_by, BASE_BY)
    rng = np.random.default_rng(seed)
    unit_of = fov_patient if base_by == "patient" else {f: _region_of(f) for f in fov_patient}
    base = _partition(sorted(set(unit_of.values())), (0.70, 0.15, 0.15), rng)
    families = {"base": dict(zip(SPLITS, (_fovs_of(p, unit_of) for p in base), strict=True))}
    present = sorted(set(fov_patient.values()))
    for family, rule in SHIFT_RULES.items():
        sides = [rule(patients[p]) for p in present]
        test = [p for p, side in zip(present, sides, strict=True) if side]
        pool = [p for p, side in zip(present, sides, strict=True) if side is False]
        if family in EXTRA_FAMILIES and (None in sides or len(pool) < 2 or not test):
            continue  # extra shifts only where every patient has the attribute and both sides exist
        train, val = _partition(pool, (0.8, 0.2), np.random.default_rng([seed, len(family)]))
        families[family] = {
            s: _fovs_of(u, fov_patient) for s, u in zip(SPLITS, (train, val, test), strict=True)
        }
    splits = Splits(
        seed=seed, base_by=base_by, families=families, fov_patient=dict(sorted(fov_patient.items()))
    )
    validate_splits(splits, patients)
    return splits


def validate_splits(splits: Splits, patients: dict[str, Patient]) -> None:
    """Check every family: all splits non-empty, no FoV twice, patient-disjoint, family rules hold."""
    for family, parts in splits.families.items():
        empty = [s for s in SPLITS if not parts.get(s)]
        if empty:
            raise InvalidInputError(
                f"split family {family!r} has empty splits {empty}",
                expected="at least one FoV in each of train / validation / test",
                found={s: len(parts.get(s, [])) for s in SPLITS}.__repr__(),
                fix="add patients of the missing kind (tumor type / stage) or more patients",
            )
        owner: dict[str, str] = {}
        for split in SPLITS:
            for fov in parts[split]:
                who = fov if family == "base" and splits.base_by == "region" else splits.fov_patient[fov]
                if owner.setdefault(who, split) != split:
                    raise SplitLeakageError(
                        f"split family {family!r} leaks {who!r}",
                        expected="each patient in exactly one split",
                        found=f"{who!r} in {owner[who]!r} and {split!r}",
                        fix="regenerate splits.json with phenocell-convert",
                    )
        rule = SHIFT_RULES.get(family)
        test_patients = {patients[splits.fov_patient[f]] for f in parts["test"]}
        other = {patients[splits.fov_patient[f]] for s in ("train", "validation") for f in parts[s]}
        bad = [] if rule is None else [p.patient for p in test_patients if rule(p) is not True]
        bad += [] if rule is None else [p.patient for p in other if rule(p) is not False]
        if bad:
            raise SplitLeakageError(
                f"split family {family!r} breaks its rule",
                expected=RULES[family],
                found=f"patients {sorted(bad)} on the wrong side",
                fix="regenerate splits.json with phenocell-convert",
            )


def nested_subset(fovs: list[str], fraction: float, *, seed: int = 0) -> list[str]:
    """A seeded subset of a train split; smaller fractions are subsets of larger ones (same seed)."""
    if not 0 < fraction <= 1:
        raise InvalidInputError(
            "train fraction out of range", expected="0 < fraction <= 1", found=str(fraction), fix="e.g. 0.5"
        )
    order = [fovs[i] for i in np.random.default_rng(seed).permutation(len(fovs))]
    return sorted(order[: max(1, round(fraction * len(order)))])
