"""``--source arctique``: the synthetic Arctique release (5 classes) → a dataset directory.

Layout and reading: :mod:`phenocell.readers.arctique`. One unit per image; one split family, ``base``: the
release's test images, and its train images cut 80/20 into train / validation with ``--seed``
(:func:`phenocell.splits.released.arctique_splits`).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from phenocell.converters import recognisers
from phenocell.converters.options import ArctiqueOptions
from phenocell.converters.released import ReleaseSource
from phenocell.readers.arctique import read_arctique, read_arctique_sample
from phenocell.records import SampleRef
from phenocell.splits import Splits
from phenocell.splits.released import arctique_splits


@dataclass
class ArctiqueSource(ReleaseSource):
    """The Arctique release opened."""

    name: ClassVar[str] = "arctique"
    options_type: ClassVar[type] = ArctiqueOptions

    options: ArctiqueOptions

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """A folder holding ``images/img_<i>.png`` (flat) or ``train/images/`` / ``test/images/``."""
        return recognisers.arctique(path)

    scan = staticmethod(read_arctique)  # every image, by name (labels checked present)
    read = staticmethod(read_arctique_sample)  # one image with its instances and classes

    def draw_splits(self, units: dict[str, SampleRef]) -> Splits:
        """Train / validation (seeded) / test."""
        return arctique_splits(units, seed=self.options.seed)


SOURCE = ArctiqueSource
