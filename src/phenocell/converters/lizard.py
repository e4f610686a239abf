"""``--source lizard``: the Lizard release (colon nuclei, 6 classes) → a dataset directory.

Layout and reading: :mod:`phenocell.readers.lizard`. One unit per image; split families: Lizard's fold
rotations and the authors' source holdouts (:func:`phenocell.splits.released.lizard_splits`, seeded by the
authors' fixed seed, so this source takes no ``--seed``).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from phenocell.converters import recognisers
from phenocell.converters.released import ReleaseSource
from phenocell.readers.lizard import read_lizard, read_lizard_sample
from phenocell.records import SampleRef
from phenocell.splits import Splits
from phenocell.splits.released import lizard_splits


class LizardSource(ReleaseSource):
    """The Lizard release opened."""

    name: ClassVar[str] = "lizard"

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """A folder holding ``Lizard_Labels/`` (directly or one level down)."""
        return recognisers.lizard(path)

    scan = staticmethod(read_lizard)  # every image, by name (labels checked present)
    read = staticmethod(read_lizard_sample)  # one image with its instances and classes

    def draw_splits(self, units: dict[str, SampleRef]) -> Splits:
        """Fold rotations and source holdouts."""
        return lizard_splits(units)


SOURCE = LizardSource
