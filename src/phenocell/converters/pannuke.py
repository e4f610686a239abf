"""``--source pannuke``: the PanNuke release (19 tissues, 5 classes) → a dataset directory.

Layout and reading: :mod:`phenocell.readers.pannuke`. 7,901 images of 256 px: a card and split file listing
every image would be huge, and its families are whole folds, so a unit is :data:`PANNUKE_SHARD_IMAGES`
consecutive images of one fold. Split families: the authors' standard split and three fold rotations
(:func:`phenocell.splits.released.pannuke_splits`; no seed).
"""

from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from phenocell.converters import recognisers
from phenocell.converters.released import ReleaseSource
from phenocell.readers.pannuke import read_pannuke, read_pannuke_sample
from phenocell.records import SampleRef
from phenocell.splits import Splits
from phenocell.splits.released import pannuke_splits

#: Images per unit (shard), all of one fold.
PANNUKE_SHARD_IMAGES = 256


class PanNukeSource(ReleaseSource):
    """The PanNuke release opened."""

    name: ClassVar[str] = "pannuke"
    unit_word: ClassVar[str] = "shards"
    shard_images: ClassVar[int | None] = PANNUKE_SHARD_IMAGES

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """A folder holding fold folders (``fold1`` or ``Fold 1``) with ``images/``."""
        return recognisers.pannuke(path)

    scan = staticmethod(read_pannuke)  # every image, by name (labels checked present)
    read = staticmethod(read_pannuke_sample)  # one image with its instances and classes

    def draw_splits(self, units: dict[str, SampleRef]) -> Splits:
        """The standard split and the fold rotations, over units (each within one fold)."""
        return pannuke_splits(units)


SOURCE = PanNukeSource
