"""Split families: names, rules, and the :class:`Splits` record stored as ``splits.json``."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, get_args

from phenocell.records import Patient

FAMILIES = ("base", "tumor_type", "tumor_stage")

#: Unit of the random Base split: patients (disjoint) or region numbers (the authors' grouping).
BaseBy = Literal["patient", "region"]
BASE_BY: tuple[str, ...] = get_args(BaseBy)
#: Extra domain shifts of the authors' configs, drawn when the patient table supports them.
EXTRA_FAMILIES = ("dii_clr", "msi")
#: Percent of Base train kept by each of the authors' nested data-efficiency subsets (stated here only).
EFFICIENCY_PERCENTS = (50, 20, 10, 5)
#: The authors' data-efficiency subsets of Base train (read from their files; drawn only for an LMDB export).
DATA_EFFICIENCY = tuple(f"base_{p}pct" for p in EFFICIENCY_PERCENTS)
ALL_FAMILIES = FAMILIES + EXTRA_FAMILIES + DATA_EFFICIENCY
SPLITS = ("train", "validation", "test")
SPLITS_VERSION = 2
#: Seed and fractions of the authors' Base split (their notebook: ``np.random.seed(42)``, ``int()`` sizes).
AUTHORS_SEED = 42
RULES = {
    "base": "random 70/15/15 over patients",
    "base_region": "the authors' rule: region numbers permuted with np.random.seed(42), "
    "int() sizes 70/15/rest",
    "tumor_type": "train+validation 80/20 over adenocarcinoma patients; test = mucinous patients",
    "tumor_stage": "train+validation 80/20 over stage III patients; test = stage IV patients; "
    "stage I/II patients are not in this family",
    "dii_clr": "train+validation 80/20 over DII (group 2) patients; test = CLR (group 1) patients",
    "msi": "train+validation 80/20 over MSS patients; test = MSI patients",
    **{f: f"the authors' {f[5:-3]} % subset of Base train" for f in DATA_EFFICIENCY},
}


@dataclass(frozen=True)
class ShiftRule:
    """A domain-shift family, stated once: the patient field it reads and the value on each side.

    Drawing asks :meth:`side` of each patient; importing the authors' split files reads it backwards (a FoV
    on the test side of ``tumor_type`` is mucinous, elsewhere adenocarcinoma). A patient whose field is
    missing (``None``) is outside the family; one with neither value is on the train side when ``others``
    is ``"train"``, else outside.
    """

    field: str
    test: Any
    train: Any
    others: Literal["train", "outside"] = "outside"

    def side(self, patient: Patient) -> bool | None:
        """True: test side; False: train / validation side; None: not in the family."""
        value = getattr(patient, self.field)
        if value is None:
            return None
        if value == self.test:
            return True
        return False if value == self.train or self.others == "train" else None


#: Domain-shift families (test side: the patients ``side`` calls True; None = not in the family).
SHIFT_RULES: dict[str, ShiftRule] = {
    "tumor_type": ShiftRule("tumor_type", "mucinous", "adenocarcinoma", others="train"),
    "tumor_stage": ShiftRule("stage", 4, 3),
    "dii_clr": ShiftRule("group", "1", "2"),  # test = CLR (group 1), train / validation = DII (group 2)
    "msi": ShiftRule("msi", "MSI", "MSS", others="train"),
}
#: Families whose rule leaves some patients out by design (the others are drawn only if all patients fit).
PARTIAL_FAMILIES = ("tumor_type", "tumor_stage")


@dataclass
class Splits:
    """FoV lists per family and split, with the seed and rules that made them.

    ``rules`` overrides the default rule text of a family (e.g. splits read from files); ``outside`` lists
    the patients a family leaves out by its rule; ``findings`` lists reported (not raised) problems per
    family: patient overlaps between splits and rule breaks.
    """

    seed: int
    base_by: BaseBy
    families: dict[str, dict[str, list[str]]]
    fov_patient: dict[str, str]
    rules: dict[str, str] = field(default_factory=dict)
    outside: dict[str, list[str]] = field(default_factory=dict)
    findings: dict[str, list[str]] = field(default_factory=dict)
    source: str = "drawn"
    #: Tile-level families (the authors' tile split files): tile names per split (``families``: their FoVs).
    tiles: dict[str, dict[str, list[str]]] = field(default_factory=dict)

    def rule(self, family: str) -> str:
        """The rule text of one family."""
        if family in self.rules:
            return self.rules[family]
        return RULES["base_region" if family == "base" and self.base_by == "region" else family]

    def names(self) -> list[str]:
        """Family names: PhenoCell's in their fixed order, then any other dataset's in the order drawn."""
        others = [f for f in self.families if f not in ALL_FAMILIES]
        return [f for f in ALL_FAMILIES if f in self.families] + others

    def to_json(self) -> dict[str, Any]:
        """The ``splits.json`` document."""
        families = {}
        for fam in self.names():
            if fam in self.families:
                families[fam] = {
                    "rule": self.rule(fam),
                    "splits": self.families[fam],
                    "outside_patients": self.outside.get(fam, []),
                    "findings": self.findings.get(fam, []),
                }
                if fam in self.tiles:
                    families[fam]["tiles"] = self.tiles[fam]
        return {
            "version": SPLITS_VERSION,
            "seed": self.seed,
            "base_by": self.base_by,
            "source": self.source,
            "families": families,
            "fov_patient": self.fov_patient,
        }

    @classmethod
    def read(cls, path: Path) -> Splits:
        """Load a ``splits.json``."""
        doc = json.loads(Path(path).read_text())
        fams = dict(doc["families"])
        base_by = doc.get("base_by", "patient")
        splits = cls(
            seed=int(doc["seed"]),
            base_by=base_by,
            families={f: v["splits"] for f, v in fams.items()},
            fov_patient=doc["fov_patient"],
            outside={f: v["outside_patients"] for f, v in fams.items() if v.get("outside_patients")},
            findings={f: v["findings"] for f, v in fams.items() if v.get("findings")},
            source=doc.get("source", "drawn"),
            tiles={f: v["tiles"] for f, v in fams.items() if "tiles" in v},
        )
        splits.rules = {
            f: v["rule"] for f, v in fams.items() if f not in RULES or v["rule"] != splits.rule(f)
        }
        return splits

    @property
    def reports_leakage(self) -> bool:
        """Whether overlaps are reported rather than raised (the authors' splits, from files or rule)."""
        return self.source != "drawn"


def region_of(fov: str) -> str:
    """The region number of a FoV key: ``reg002_A`` → ``002``."""
    match = re.search(r"reg(\d+)", fov)
    return match.group(1) if match else fov
