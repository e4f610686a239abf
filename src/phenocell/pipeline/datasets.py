"""``convert --source lizard|pannuke|arctique``: a released nucleus dataset → a dataset directory.

The output has PhenoCell's layout and schema (``data/<image>-<sha>.parquet``, ``splits.json``,
``manifest.json``, ``qc/``, ``README.md``) with the classes of the dataset's profile; ``manifest.json``
records the profile's name, which the card, QC and benchmark read back. Images are read one at a time
(PanNuke folds memory-mapped), so memory does not grow with the release.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from phenocell import __version__
from phenocell.cards import write_card
from phenocell.errors import InvalidOptionError
from phenocell.panoptic.released import iter_sample_tiles
from phenocell.panoptic.tiling import TileSpec
from phenocell.pipeline.options import ConvertOptions
from phenocell.pipeline.outputs import input_hashes, shard_entries, write_metadata_files
from phenocell.profiles import DatasetProfile, get_profile
from phenocell.readers.arctique import read_arctique, read_arctique_sample
from phenocell.readers.lizard import read_lizard, read_lizard_sample
from phenocell.readers.pairs import write_exclusions
from phenocell.readers.pannuke import read_pannuke, read_pannuke_sample
from phenocell.records import FovSummary, LabelledImage, SampleRef
from phenocell.schema import features_for
from phenocell.splits import Splits
from phenocell.splits.released import arctique_splits, lizard_splits, pannuke_splits
from phenocell.storage.writer import atomic_directory, write_named_shard

#: Images per shard for PanNuke (7,901 images of 256 px): a card and split file listing every image would be
#: huge, and its families are whole folds, so consecutive images of one fold share a shard.
PANNUKE_SHARD_IMAGES = 256


@dataclass(frozen=True)
class Release:
    """How to read one released dataset: list its images, read one, draw its splits, group its shards.

    ``shard_images`` is the number of consecutive images of one ``subset`` per shard (``None``: one shard per
    image); the split families are drawn over shards then, so they must only cut along subsets.
    """

    scan: Callable[[Path], dict[str, SampleRef]]
    read: Callable[[Path, SampleRef], LabelledImage]
    splits: Callable[[dict[str, SampleRef], int], Splits]
    shard_images: int | None = None

    def units(self, refs: dict[str, SampleRef]) -> dict[str, list[SampleRef]]:
        """The images of each shard unit (the 'FoVs' of the split file and card), by unit name."""
        if self.shard_images is None:
            return {name: [ref] for name, ref in sorted(refs.items())}
        units: dict[str, list[SampleRef]] = {}
        for _, ref in sorted(refs.items()):
            units.setdefault(f"{ref.subset}_part{ref.index // self.shard_images:03d}", []).append(ref)
        return units


RELEASES: dict[str, Release] = {
    "lizard": Release(read_lizard, read_lizard_sample, lambda refs, seed: lizard_splits(refs)),
    "pannuke": Release(
        read_pannuke, read_pannuke_sample, lambda refs, seed: pannuke_splits(refs), PANNUKE_SHARD_IMAGES
    ),
    "arctique": Release(
        read_arctique, read_arctique_sample, lambda refs, seed: arctique_splits(refs, seed=seed)
    ),
}


@dataclass
class _Unit:
    """Counts gathered while one shard's images are tiled."""

    counts: dict[int, int]
    labels: int = 0
    images: int = 0


def _unit_rows(
    raw: Path, release: Release, members: list[tuple[int, SampleRef]], unit: _Unit, ctx: tuple
) -> Iterator[dict[str, Any]]:
    profile, options = ctx
    spec = TileSpec(options.tile_size, options.stride)
    for fov_index, ref in members:  # one image in memory at a time
        sample = release.read(raw, ref)
        unit.labels, unit.images = unit.labels + len(sample.labels), unit.images + 1
        for cid in sample.classes.tolist():
            unit.counts[int(cid)] = unit.counts.get(int(cid), 0) + 1
        yield from iter_sample_tiles(
            sample, profile, spec, fov_index=fov_index, layout=options.tiling, png_level=options.png_level
        )


def _convert_unit(
    raw: Path, release: Release, name: str, members: list[tuple[int, SampleRef]], ctx: tuple
) -> tuple[FovSummary, dict[str, int]]:
    profile, options, out = ctx
    unit = _Unit({})
    rows_iter = _unit_rows(raw, release, members, unit, (profile, options))
    shard, digest, rows = write_named_shard(out, name, rows_iter, features=features_for(profile))
    qc = {"images": unit.images, "labels": unit.labels, "tiles": rows}
    return FovSummary(name, shard, digest, rows, dict(sorted(unit.counts.items()))), qc


#: The options a released dataset's conversion uses; every other one is refused when set.
RELEASE_OPTIONS = frozenset({"tile_size", "stride", "tiling", "seed", "source", "overwrite", "progress"})


def _refuse_codex_options(options: ConvertOptions, source: str) -> None:
    """Raise when an option that a release conversion would ignore differs from its default."""
    default = ConvertOptions()
    ignored = [
        f.name
        for f in dataclasses.fields(options)
        if f.name not in RELEASE_OPTIONS and getattr(options, f.name) != getattr(default, f.name)
    ]
    if ignored:
        raise InvalidOptionError(
            f"options that --source {source} does not use",
            expected="only " + ", ".join(sorted(RELEASE_OPTIONS - {"source", "progress"})),
            found=", ".join(ignored),
            fix="drop them: a release is converted serially, with its own classes, pixel size and splits",
        )


def convert_release(raw_dir: Path, out: Path, *, source: str, options: ConvertOptions | None = None) -> Path:
    """Convert a released Lizard / PanNuke / Arctique export into a dataset directory (atomically).

    Args:
        raw_dir: the unpacked release (layouts in :mod:`phenocell.readers.lizard`, ``.pannuke``,
            ``.arctique``).
        out: the dataset directory to create.
        source: ``lizard``, ``pannuke`` or ``arctique`` (also the profile's name).
        options: tiling, seed and overwrite; setting any other option is an error.

    Returns:
        ``out``.

    Raises:
        PhenoCellError: any bad input or option; nothing is left at ``out`` then.

    """
    options = options or ConvertOptions()
    _refuse_codex_options(options, source)
    profile = get_profile(source)
    release = RELEASES[profile.name]
    raw = Path(raw_dir)
    with atomic_directory(Path(out), overwrite=options.overwrite) as tmp:
        refs = release.scan(raw)
        index = {name: i for i, name in enumerate(sorted(refs), start=1)}  # global cell ids: index << 32
        units = release.units(refs)
        unit_refs = {
            n: SampleRef(n, m[0].subset, m[0].group if len(m) == 1 else "", m[0].index)
            for n, m in units.items()
        }
        splits = release.splits(unit_refs, options.seed)
        (tmp / "data").mkdir()
        (tmp / "qc").mkdir()
        fovs, qc = {}, {}
        for name in tqdm(units, desc="shards", disable=not options.progress):
            members = [(index[r.name], r) for r in units[name]]
            fovs[name], qc[name] = _convert_unit(raw, release, name, members, (profile, options, tmp))
        _write_metadata(tmp, raw, profile, splits, fovs, qc, options)
    return Path(out)


def _write_metadata(
    tmp: Path,
    raw: Path,
    profile: DatasetProfile,
    splits: Splits,
    fovs: dict[str, FovSummary],
    qc: dict[str, dict[str, int]],
    options: ConvertOptions,
) -> None:
    record = options.record()
    manifest = {
        "phenocell_version": __version__,
        "profile": profile.name,
        "options": {
            "source": profile.name,
            "tile_size": record["tile_size"],
            "stride": record["stride"],
            "tiling": record["tiling"],
            "seed": splits.seed,
        },
        "inputs": input_hashes(raw),
        "shards": shard_entries(fovs.values()),
        "markers": [],
        "class_map": {name: [name] for name in profile.class_names[1:]},
    }
    write_metadata_files(tmp, splits, manifest, qc)
    write_exclusions(tmp / "qc" / "excluded.csv", {})
    write_card(tmp)
