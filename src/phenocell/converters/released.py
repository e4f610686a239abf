"""What the released nucleus datasets (Lizard, PanNuke, Arctique) share as sources.

The output has PhenoCell's layout and schema with the classes of the dataset's profile; ``manifest.json``
records the profile's name, which the card, QC and benchmark read back. A unit is one image, or (PanNuke) a
shard of ``shard_images`` consecutive images of one fold; an image is read only when its unit is converted,
one at a time (PanNuke folds memory-mapped), so memory does not grow with the release. A module per dataset
(:mod:`phenocell.converters.lizard`, ``.pannuke``, ``.arctique``) says how to recognise, list and read its
images and draw its splits.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

from phenocell.converters.base import ManifestParts, UnitStats
from phenocell.converters.options import TileOptions
from phenocell.converters.outputs import input_hashes
from phenocell.panoptic.released import iter_sample_tiles
from phenocell.panoptic.tiling import TileSpec
from phenocell.profiles import DatasetProfile, get_profile
from phenocell.readers.pairs import write_exclusions
from phenocell.records import LabelledImage, SampleRef
from phenocell.splits import Splits


@dataclass
class ReleaseSource:
    """A released dataset opened: its images by unit (read lazily), and their global indices.

    A subclass sets ``name`` (also its profile's name) and defines ``scan`` (list the images), ``read``
    (one image) and ``draw_splits``; ``shard_images`` is the number of consecutive images of one ``subset``
    per unit (``None``: one unit per image), and then the split families must only cut along subsets.
    """

    name: ClassVar[str]
    options_type: ClassVar[type] = TileOptions
    unit_word: ClassVar[str] = "images"
    shard_images: ClassVar[int | None] = None

    raw: Path
    options: TileOptions
    members: dict[str, list[SampleRef]]  # unit → its images
    index: dict[str, int]  # image name → 1-based index among all images (global cell ids: index << 32)

    @property
    def profile(self) -> DatasetProfile:
        """The dataset's profile (its classes, pixel size, licence)."""
        return get_profile(self.name)

    @staticmethod
    def scan(path: Path) -> dict[str, SampleRef]:
        """Every image of the release, by name."""
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    @staticmethod
    def read(path: Path, ref: SampleRef) -> LabelledImage:
        """One image with its instances and classes."""
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def draw_splits(self, units: dict[str, SampleRef]) -> Splits:
        """The split families over the units (one representative ref each)."""
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    @classmethod
    def open(cls, path: Path, options: TileOptions) -> ReleaseSource:
        """List the release's images (each checked to have its labels) and group them into units."""
        refs = cls.scan(Path(path))
        members: dict[str, list[SampleRef]] = {}
        for _, ref in sorted(refs.items()):
            per = cls.shard_images
            unit = ref.name if per is None else f"{ref.subset}_part{ref.index // per:03d}"
            members.setdefault(unit, []).append(ref)
        index = {name: i for i, name in enumerate(sorted(refs), start=1)}
        return cls(Path(path), options, dict(sorted(members.items())), index)

    def units(self) -> list[str]:
        """The units, sorted."""
        return list(self.members)

    def for_unit(self, unit: str) -> ReleaseSource:
        """Only this unit's images."""
        return replace(self, members={unit: self.members[unit]})

    def tiles(self, unit: str, stats: UnitStats) -> Iterator[dict[str, Any]]:
        """The unit's tiles, one image in memory at a time; labels, images and tiles counted in ``stats``."""
        spec = TileSpec(self.options.tile_size, self.options.stride)
        stats.qc.update(images=0, labels=0, tiles=0)
        for ref in self.members[unit]:
            sample = self.read(self.raw, ref)
            stats.qc["labels"] += len(sample.labels)
            stats.qc["images"] += 1
            stats.add_cells(sample.classes.tolist())
            for row in iter_sample_tiles(
                sample,
                self.profile,
                spec,
                fov_index=self.index[ref.name],
                layout=self.options.tiling,
                png_level=self.options.png_level,
            ):
                stats.qc["tiles"] += 1
                yield row

    def splits(self) -> Splits:
        """The dataset's families, drawn over units (a unit of several images stands for its subset)."""
        units = {
            n: SampleRef(n, m[0].subset, m[0].group if len(m) == 1 else "", m[0].index)
            for n, m in self.members.items()
        }
        return self.draw_splits(units)

    def manifest_parts(self) -> ManifestParts:
        """The profile's name, tiling options and the splits' seed, input hashes, the classes as merges."""
        return ManifestParts(
            options=self.options.record(self.name) | {"seed": self.splits().seed},
            inputs=input_hashes(self.raw),
            markers=[],
            class_map={name: [name] for name in self.profile.class_names[1:]},
            profile=self.name,
        )

    def write_extras(self, folder: Path) -> None:
        """An empty ``qc/excluded.csv`` (a release excludes nothing)."""
        write_exclusions(folder / "qc" / "excluded.csv", {})
