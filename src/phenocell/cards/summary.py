"""What a dataset directory holds, read back from its files (splits.json, manifest.json, qc/).

The card is rendered from this summary alone, so regenerating it from an unchanged dataset gives the same
bytes whether it runs at the end of a conversion or later with ``phenocell card DIR``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phenocell.errors import InvalidInputError, read_json_file, require_file
from phenocell.manifest import Manifest
from phenocell.profiles import PHENOCELL, DatasetProfile, get_profile
from phenocell.readers.pairs import read_exclusions
from phenocell.records import FovSummary
from phenocell.splits import Splits


@dataclass
class DatasetSummary:
    """Everything the card shows."""

    splits: Splits
    fovs: dict[str, FovSummary]
    merged_names: dict[str, list[str]]
    markers: list[str]
    excluded: dict[str, str]
    options: dict[str, Any]
    profile: DatasetProfile = PHENOCELL
    normalised: list[str] = field(default_factory=list)  # qc/normalisations.json messages
    #: Every shard (a FoV named by tile-level families has several: :mod:`phenocell.converters.tile_parts`).
    shards: list[FovSummary] = field(default_factory=list)

    @property
    def license(self) -> str:
        """The dataset's licence (its profile's)."""
        return self.profile.license

    def families(self) -> list[str]:
        """The split families of this dataset (core ones first, then the extras it has)."""
        return self.splits.names()

    def card_families(self) -> list[str]:
        """The families of the card's default config and tables: the profile's, where present."""
        return [f for f in self.profile.families if f in self.splits.families]

    def split_fovs(self, family: str, split: str) -> list[str]:
        """FoVs of one split that produced a shard."""
        return [f for f in self.splits.families[family][split] if f in self.fovs]

    def split_shards(self, family: str, split: str) -> list[FovSummary]:
        """Shards of one split: all of its FoVs' shards, or for a tile-level family those of that split."""
        of_fov: dict[str, list[FovSummary]] = {}
        for shard in self.shards:
            of_fov.setdefault(shard.fov, []).append(shard)
        tile_level = family in self.splits.tiles
        return [
            s
            for fov in self.split_fovs(family, split)
            for s in of_fov[fov]
            if not tile_level or s.parts.get(family) == split
        ]

    def split_files(self, family: str, split: str) -> list[str]:
        """Shard paths of one split."""
        return [s.shard for s in self.split_shards(family, split)]

    def split_tiles(self, family: str, split: str) -> int:
        """Tiles in one split."""
        return sum(s.tiles for s in self.split_shards(family, split))

    def split_bytes(self, family: str, split: str) -> int:
        """Shard bytes of one split."""
        return sum(s.num_bytes for s in self.split_shards(family, split))

    def class_counts(self, family: str, split: str) -> dict[int, int]:
        """Cells per class id in one split."""
        out: dict[int, int] = {}
        for shard in self.split_shards(family, split):
            for cid, n in shard.cells_per_class.items():
                out[cid] = out.get(cid, 0) + n
        return out

    @classmethod
    def from_dir(cls, path: Path) -> DatasetSummary:
        """Read the summary of a dataset directory written by ``phenocell-convert``."""
        path = Path(path)
        fix = "pass a directory written by phenocell-convert"
        require_file(path / "splits.json", "splits.json of a PhenoCell dataset directory", fix)
        manifest = Manifest.read(path)
        shards = manifest.shards
        fovs = {s.fov: s for s in reversed(shards)}  # a FoV's first shard
        excluded_file = path / "qc" / "excluded.csv"
        return cls(
            splits=Splits.read(path / "splits.json"),
            fovs=dict(sorted(fovs.items())),
            merged_names=manifest.class_map,
            markers=manifest.markers,
            excluded=read_exclusions(excluded_file) if excluded_file.is_file() else {},
            options=manifest.options,
            profile=get_profile(manifest.profile),
            normalised=_normalised(path / "qc" / "normalisations.json"),
            shards=shards,
        )


def _normalised(path: Path) -> list[str]:
    """The messages of ``qc/normalisations.json`` (none when the file is absent: a release conversion)."""
    if not path.is_file():
        return []
    doc = read_json_file(path, "qc/normalisations.json", "re-run phenocell-convert")
    if not isinstance(doc, list) or not all(isinstance(e, dict) and "message" in e for e in doc):
        raise InvalidInputError(
            f"{path} is not a list of normalisations",
            expected='a JSON list of {"column", "kind", "count", "before", "after", "message"} objects',
            found=f"{type(doc).__name__}",
            fix="re-run phenocell-convert",
        )
    return [str(e["message"]) for e in doc]
