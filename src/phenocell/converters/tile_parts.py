"""Tile-level split families: a FoV they name is written as one shard per split its tiles fall in.

A tile-level family (an authors' split file listing tiles) names tile ``k`` of a FoV
``<fov>.hdf_TILE_<k>``: row ``k`` of the FoV's shard, whose rows follow the authors' row-by-row tiling
(``--tiling phenobench``; an imported release keeps its key order). Each such FoV is rewritten as one shard
per combination of its tiles' splits, ``<fov>.<split>`` with one split per tile-level family in name order
(``none`` where the family leaves the tile out), so a tile is still stored once: FoV-level families list
all shards of their FoVs, and a tile-level split lists the shards whose part is that split.
"""

from __future__ import annotations

from pathlib import Path

import datasets
import pyarrow.parquet as pq

from phenocell.converters.base import count_cells
from phenocell.errors import InvalidInputError
from phenocell.records import FovSummary
from phenocell.splits.authors import AuthorsSplits, parse_tile_name, tile_name
from phenocell.storage.writer import write_named_shard

#: The part of a tile that a tile-level family does not name.
NOT_NAMED = "none"


def check_tiling(authors: AuthorsSplits, tiling: str) -> None:
    """Tile-level split files name the authors' tiles: refuse them for another tiling."""
    if authors.tiles and tiling != "phenobench":
        files = sorted(authors.files[f] for f in authors.tiles)
        raise InvalidInputError(
            f"tile-level split files {files} need the authors' tiling",
            expected="--tiling phenobench (tile k of a FoV is the authors' tile k)",
            found=f"--tiling {tiling}",
            fix="convert with --tiling phenobench, or pass FoV-level split files",
        )


def _assignments(tiles: dict[str, dict[str, list[str]]]) -> dict[str, dict[int, dict[str, str]]]:
    """``{fov: {k: {family: split}}}``; a tile in two splits of one family is an error."""
    out: dict[str, dict[int, dict[str, str]]] = {}
    for family, parts in tiles.items():
        for split, names in parts.items():
            for name in names:
                fov, k = parse_tile_name(name) or (name, -1)
                given = out.setdefault(fov, {}).setdefault(k, {})
                if given.setdefault(family, split) != split:
                    raise InvalidInputError(
                        f"the tile-level split family {family!r} lists tile {name} twice",
                        expected="each tile in one split",
                        found=f"{name} in {given[family]!r} and {split!r}",
                        fix="keep one row per tile in the split file",
                    )
    return out


def _split_fov(
    out: Path, fov: FovSummary, wanted: dict[int, dict[str, str]], families: list[str]
) -> list[FovSummary]:
    """Rewrite one FoV's shard as one shard per part; a tile index it does not have is an error."""
    table = pq.read_table(out / fov.shard)
    last = tile_name(fov.fov, table.num_rows - 1)
    unknown = sorted(k for k in wanted if not 0 <= k < table.num_rows)
    if unknown:
        raise InvalidInputError(
            f"the tile-level split files name tiles that FoV {fov.fov} does not have",
            expected=f"{tile_name(fov.fov, 0)} .. {last} (its {table.num_rows} tiles)",
            found=f"{[tile_name(fov.fov, k) for k in unknown[:5]]}",
            fix="convert with --tiling phenobench (the authors' tiles), or pass this export's split files",
        )
    groups: dict[tuple[str, ...], list[int]] = {}
    for k in range(table.num_rows):
        groups.setdefault(tuple(wanted.get(k, {}).get(f, NOT_NAMED) for f in families), []).append(k)
    features = datasets.Features.from_arrow_schema(table.schema)
    parts = []
    for key, ks in sorted(groups.items()):
        rows = table.take(ks).to_pylist()
        shard, digest, count = write_named_shard(out, ".".join((fov.fov, *key)), rows, features=features)
        parts.append(
            FovSummary(
                fov.fov,
                shard,
                digest,
                count,
                count_cells(rows),
                parts=dict(zip(families, key, strict=True)),
            )
        )
    (out / fov.shard).unlink()
    return parts


def split_tile_families(
    out: Path, fovs: dict[str, FovSummary], tiles: dict[str, dict[str, list[str]]]
) -> list[FovSummary]:
    """Every shard of the dataset at ``out`` once the FoVs named by tile-level families are split in parts.

    Raises:
        InvalidInputError: a tile name has no row in its FoV's shard, or a tile is in two splits of a family.

    """
    wanted = _assignments(tiles)
    missing = sorted(set(wanted) - set(fovs))
    if missing:
        raise InvalidInputError(
            "the tile-level split files name tiles of FoVs that the dataset does not have",
            expected="tiles of the FoVs converted or imported here",
            found=f"{len(missing)} FoVs, e.g. {missing[:5]}",
            fix="pass the split files that belong to this export or release",
        )
    shards: list[FovSummary] = []
    for name, fov in sorted(fovs.items()):
        shards += _split_fov(out, fov, wanted[name], sorted(tiles)) if name in wanted else [fov]
    return shards
