"""The domain-shift facts, stated once: which patients each family tests on, trains on, or leaves out."""

from __future__ import annotations

from phenocell.records import Patient
from phenocell.splits.rules import DATA_EFFICIENCY, SHIFT_RULES


def _patient(**fields: object) -> Patient:
    base = {"patient": "p", "tumor_type": "adenocarcinoma", "stage": 3, "group": "2", "msi": None}
    return Patient(**(base | fields))  # type: ignore[arg-type]


def test_each_rule_says_test_train_or_outside() -> None:
    side = {family: rule.side for family, rule in SHIFT_RULES.items()}
    types = ("mucinous", "adenocarcinoma")
    assert [side["tumor_type"](_patient(tumor_type=t)) for t in types] == [True, False]
    assert [side["tumor_stage"](_patient(stage=s)) for s in (4, 3, 2)] == [True, False, None]
    assert [side["dii_clr"](_patient(group=g)) for g in ("1", "2", "")] == [True, False, None]
    assert [side["msi"](_patient(msi=m)) for m in ("MSI", "MSS", None)] == [True, False, None]


def test_data_efficiency_subsets_are_the_authors_four() -> None:
    assert DATA_EFFICIENCY == ("base_50pct", "base_20pct", "base_10pct", "base_5pct")
