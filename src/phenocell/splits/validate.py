"""Validation of split families: non-empty, no FoV twice, patient-disjoint, shift rules kept."""

from __future__ import annotations

from phenocell.errors import InvalidInputError, SplitLeakageError
from phenocell.records import Patient
from phenocell.splits.rules import SHIFT_RULES, SPLITS, Splits


def _overlaps(parts: dict[str, list[str]], fov_patient: dict[str, str]) -> list[str]:
    """One line per patient found in several splits, e.g. ``patient 7 in train (2 FoVs), test (1 FoV)``."""
    where: dict[str, dict[str, int]] = {}
    for split in SPLITS:
        for fov in parts[split]:
            counts = where.setdefault(fov_patient[fov], {})
            counts[split] = counts.get(split, 0) + 1
    lines = []
    for patient, counts in sorted(where.items()):
        if len(counts) > 1:
            spread = ", ".join(f"{s} ({n} FoV{'s' * (n > 1)})" for s, n in counts.items())
            lines.append(f"patient {patient} in {spread}")
    return lines


def _rule_breaks(
    family: str, parts: dict[str, list[str]], splits: Splits, patients: dict[str, Patient]
) -> list[str]:
    rule = SHIFT_RULES.get(family)
    if rule is None:
        return []
    test = {splits.fov_patient[f] for f in parts["test"]}
    other = {splits.fov_patient[f] for s in ("train", "validation") for f in parts[s]}
    bad = [p for p in test if rule.side(patients[p]) is not True]
    bad += [p for p in other if rule.side(patients[p]) is not False]
    return [f"patient {p!r} on the wrong side of the rule" for p in sorted(set(bad))]


def _check_nonempty(family: str, parts: dict[str, list[str]]) -> None:
    empty = [s for s in SPLITS if not parts.get(s)]
    if empty:
        raise InvalidInputError(
            f"split family {family!r} has empty splits {empty}",
            expected="at least one FoV in each of train / validation / test",
            found={s: len(parts.get(s, [])) for s in SPLITS}.__repr__(),
            fix="add patients of the missing kind (tumor type / stage) or more patients",
        )
    seen = [f for s in SPLITS for f in parts[s]]
    twice = sorted({f for f in seen if seen.count(f) > 1})
    if twice:
        raise SplitLeakageError(
            f"split family {family!r} lists FoVs (tiles) in two splits",
            expected="each FoV (each tile, in a tile-level family) in exactly one split",
            found=f"{twice[:5]}",
            fix="correct the split file or regenerate splits.json with phenocell-convert",
        )


def validate_splits(splits: Splits, patients: dict[str, Patient]) -> None:
    """Check every family: all splits non-empty, no FoV twice, patient-disjoint, family rules hold.

    Patient overlaps and rule breaks raise :class:`SplitLeakageError` for drawn splits; for the authors'
    splits (read from files, or Base by region) they are recorded in ``splits.findings`` instead.
    """
    for family, parts in splits.families.items():
        _check_nonempty(family, splits.tiles.get(family, parts))  # tile-level: tiles, not FoVs, are split
        leaks = _overlaps(parts, splits.fov_patient)
        breaks = _rule_breaks(family, parts, splits, patients)
        reported = splits.reports_leakage or (family == "base" and splits.base_by == "region")
        if reported:
            if leaks or breaks:
                splits.findings[family] = leaks + breaks
            continue
        if leaks:
            raise SplitLeakageError(
                f"split family {family!r} leaks patients between splits",
                expected="each patient in exactly one split",
                found="; ".join(leaks[:3]),
                fix="regenerate splits.json with phenocell-convert",
            )
        if breaks:
            raise SplitLeakageError(
                f"split family {family!r} breaks its rule",
                expected=splits.rule(family),
                found="; ".join(breaks[:5]),
                fix="regenerate splits.json with phenocell-convert",
            )
