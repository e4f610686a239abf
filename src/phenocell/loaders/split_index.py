"""The index of one split: where each tile lives (shard, row group, row) and where it sits in its FoV.

Only these small metadata columns are read, a few hundred bytes per tile. The split's shards are those the
dataset card lists for ``family`` / ``split`` (the same files ``datasets.load_dataset(data, family,
split=split)`` reads).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pyarrow.parquet as pq

from phenocell.errors import InvalidInputError, MissingInputError, check_choice
from phenocell.manifest import manifest_profile
from phenocell.profiles import DatasetProfile, get_profile

INDEX_COLUMNS = ["tile_id", "fov", "tile_x", "tile_y", "tile_size"]
VALID = "valid"  # the crop inside a padded tile (datasets converted before it existed lack the column)


@dataclass(frozen=True)
class TileRef:
    """Where one tile lives, where it sits in its FoV, and its valid (unpadded) box in tile pixels."""

    shard: str
    group: int
    row: int
    tile_id: str
    fov: str
    x: int
    y: int
    size: int
    valid: tuple[int, int, int, int] = (0, 0, 0, 0)  # x, y, width, height; (0, 0, 0, 0): the whole tile

    def crop(self) -> tuple[slice, slice]:
        """Row and column slices of the valid box."""
        vx, vy, vw, vh = self.valid if self.valid[2] else (0, 0, self.size, self.size)
        return slice(vy, vy + vh), slice(vx, vx + vw)


@dataclass(frozen=True)
class SplitIndex:
    """The tiles of one split, in shard order (no pixels)."""

    root: Path
    family: str
    split: str
    tiles: tuple[TileRef, ...]

    def __len__(self) -> int:
        return len(self.tiles)

    def subset(self, keep: set[str]) -> SplitIndex:
        """The tiles whose id is in ``keep``, in the same order."""
        return SplitIndex(
            self.root, self.family, self.split, tuple(t for t in self.tiles if t.tile_id in keep)
        )

    @property
    def tile_size(self) -> int:
        """Tile side in pixels (the first tile's)."""
        return self.tiles[0].size


def local_dataset(data: str | Path) -> Path:
    """A local dataset directory: ``data`` itself, or a Hub dataset repo downloaded to the HF cache.

    A file, or a missing path that cannot be a repo id (``/abs/path``, ``./x``, ``a/b/c``), is reported as
    a path; the Hub is asked only about an ``ORG/NAME`` (or ``NAME``) that is no local directory.
    """
    path = Path(data)
    if path.is_dir():
        return path
    from huggingface_hub import snapshot_download
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(str(data))
        repo_id = not path.exists()
    except HFValidationError:
        repo_id = False
    if not repo_id:
        raise MissingInputError(
            f"no dataset directory at {data}",
            expected="a dataset directory (the --out of `phenocell convert`) or an ORG/NAME Hub repo id",
            found=f"{data} is a file" if path.exists() else f"nothing at {data}",
            fix="check the path, or convert a raw export first: phenocell convert RAW_DIR --out DIR",
        )
    try:
        return Path(snapshot_download(str(data), repo_type="dataset"))
    except Exception as err:  # network, unknown repo, gated: all mean "no dataset there"
        raise MissingInputError(
            "no dataset directory or Hub dataset repo",
            expected="a local PhenoCell directory or an ORG/NAME dataset repo on the Hub",
            found=f"no directory {data} here; the Hub: {type(err).__name__}",
            fix="pass --data DIR (a converted dataset) or a reachable Hub repo id",
        ) from err


def split_shards(root: Path, family: str, split: str) -> list[str]:
    """Shard paths (relative to ``root``) that the dataset card lists for config ``family``, ``split``."""
    import yaml

    check_choice("split", split, ("train", "validation", "test"))
    card = (root / "README.md").read_text() if (root / "README.md").is_file() else ""
    parts = card.split("---")
    configs = yaml.safe_load(parts[1]).get("configs", []) if len(parts) > 2 else []
    for config in configs:
        if config.get("config_name") != family:
            continue
        for entry in config.get("data_files", []):
            if entry.get("split") == split:
                paths = entry["path"]
                return [paths] if isinstance(paths, str) else list(paths)
    raise InvalidInputError(
        f"the dataset card has no {family}/{split} split",
        expected=f"a '{family}' config with a '{split}' split in {root / 'README.md'}",
        found=", ".join(str(c.get("config_name")) for c in configs) or "no configs",
        fix="pick a family the dataset was converted with",
    )


def dataset_profile(root: Path) -> DatasetProfile:
    """The profile (classes) a dataset directory was converted with: its manifest's, PhenoCell when absent."""
    return get_profile(manifest_profile(Path(root)))


def load_index(data: str | Path, family: str, split: str) -> SplitIndex:
    """Index the tiles of ``family`` / ``split`` (reads only the small metadata columns)."""
    root = local_dataset(data)
    refs: list[TileRef] = []
    for shard in split_shards(root, family, split):
        handle = pq.ParquetFile(root / shard)
        columns = INDEX_COLUMNS + ([VALID] if VALID in handle.schema_arrow.names else [])
        for group in range(handle.metadata.num_row_groups):
            meta = handle.read_row_group(group, columns=columns).to_pydict()
            for row, tile_id in enumerate(meta["tile_id"]):
                box = meta[VALID][row] if VALID in meta else None
                valid = (box["x"], box["y"], box["width"], box["height"]) if box else (0, 0, 0, 0)
                refs.append(
                    TileRef(
                        shard,
                        group,
                        row,
                        tile_id,
                        meta["fov"][row],
                        int(meta["tile_x"][row]),
                        int(meta["tile_y"][row]),
                        int(meta["tile_size"][row]),
                        valid,
                    )
                )
    return SplitIndex(root, family, split, tuple(refs))
