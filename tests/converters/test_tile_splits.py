"""Tile-level split files (the authors' ``<sample>_TILE_<k>`` names) in ``--splits-from`` and ``import-lmdb``.

Expected tiles come from the CSV written here and the authors' tiling rule (``np.linspace`` edges, row by
row, 224 px), not from PhenoCell's helpers.
"""

from __future__ import annotations

import csv
import json
import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from datasets import load_dataset

from phenocell.cards.verify import verify_dataset
from phenocell.converters.driver import convert
from phenocell.converters.options import Hdf5Options
from phenocell.errors import InvalidInputError
from phenocell.synthetic import SynthOptions
from phenocell.synthetic.hdf5_export import synthesize_hdf5
from tests.converters.helpers import import_lmdb

MASK = (300, 460)  # 2 x 3 tiles of the authors' 224 px tiling per FoV
SPLIT_NAMES = {"train": "train", "valid": "validation", "test": "test"}


def _write_csv(path: Path, rows: list[tuple[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_name", "train_test_val_split"])
        writer.writerows(rows)


def _their_origin(k: int) -> tuple[int, int]:
    """(y, x) of tile ``k`` as their ``transform_to_tiles`` cuts a MASK-sized FoV."""
    ys = np.linspace(0, MASK[0], math.ceil(MASK[0] / 224) + 1, dtype=int)
    xs = np.linspace(0, MASK[1], math.ceil(MASK[1] / 224) + 1, dtype=int)
    return int(ys[k // (len(xs) - 1)]), int(xs[k % (len(xs) - 1)])


def _by_split(rows: list[tuple[str, str]]) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {s: set() for s in SPLIT_NAMES.values()}
    for name, split in rows:
        out[SPLIT_NAMES[split]].add(name)
    return out


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    options = SynthOptions(fovs=6, patients=5, seed=0, mask_shape=MASK, layout="phenobench-hdf5")
    return synthesize_hdf5(
        tmp_path_factory.mktemp("tiles") / "raw", options=options, channels=3, progress=False
    )


def _tile_rows(raw: Path) -> list[tuple[str, str]]:
    """A Base file naming some tiles of every FoV (one FoV's in all three splits), leaving others out."""
    fovs = sorted(p.name for p in raw.glob("*.hdf"))
    rows = [(f"{fovs[0]}_TILE_{k}", split) for k, split in enumerate(["train", "valid", "test", "train"])]
    for i, fov in enumerate(fovs[1:], start=1):
        rows += [(f"{fov}_TILE_{k}", ("train", "valid", "test")[i % 3]) for k in (0, 2, 5)]
    return rows


def test_convert_with_a_tile_level_split_file(raw: Path, tmp_path: Path) -> None:
    rows = _tile_rows(raw)
    _write_csv(tmp_path / "splits" / "splits" / "schuerch_dataset_split.csv", rows)
    options = Hdf5Options(progress=False, splits_from=tmp_path / "splits")
    out = convert(raw, tmp_path / "phenocell", options=options)
    verify_dataset(out)
    for split, names in _by_split(rows).items():
        loaded = load_dataset(str(out), "base", split=split, cache_dir=str(tmp_path / "cache"))
        expected = set()
        for name in names:
            sample, k = name.split("_TILE_")
            expected.add((sample.removesuffix(".hdf"), *_their_origin(int(k))))
        origins = set()
        for tile_id in loaded["tile_id"]:
            match = re.fullmatch(r"(.+)_y(\d+)_x(\d+)", tile_id)
            assert match, tile_id
            origins.add((match.group(1), int(match.group(2)), int(match.group(3))))
        assert origins == expected, split
        assert len(loaded) == len(names)
    doc = json.loads((out / "splits.json").read_text())
    assert "tile-level" in doc["families"]["base"]["rule"]
    assert {s: set(v) for s, v in doc["families"]["base"]["tiles"].items()} == _by_split(rows)


def test_unknown_tile_and_grid_tiling_are_errors(raw: Path, tmp_path: Path) -> None:
    fov = sorted(p.name for p in raw.glob("*.hdf"))[0]
    rows = [r for r in _tile_rows(raw) if r[0] != f"{fov}_TILE_3"] + [(f"{fov}_TILE_6", "train")]
    _write_csv(tmp_path / "bad" / "schuerch_dataset_split.csv", rows)
    with pytest.raises(InvalidInputError, match="does not have") as err:
        convert(raw, tmp_path / "a", options=Hdf5Options(progress=False, splits_from=tmp_path / "bad"))
    assert f"{fov}_TILE_5" in err.value.expected
    grid = Hdf5Options(progress=False, splits_from=tmp_path / "bad", tiling="grid", tile_size=64)
    with pytest.raises(InvalidInputError, match="authors' tiling"):
        convert(raw, tmp_path / "b", options=grid)


def test_import_lmdb_with_a_tile_level_split_file(authors_lmdb: Path, tmp_path: Path) -> None:
    release = Path(shutil.copytree(authors_lmdb, tmp_path / "release"))
    with open(release / "splits" / "schuerch_dataset_split.csv") as handle:
        samples = sorted(r["sample_name"] for r in csv.DictReader(handle))
    for path in release.rglob("*.csv"):
        path.unlink()
    picks = [(0, 0, "train"), (0, 4, "valid"), (0, 8, "test"), (1, 3, "train"), (2, 1, "train")]
    picks += [(3, 2, "valid"), (4, 7, "test"), (5, 5, "train")]
    rows = [(f"{samples[i]}_TILE_{k}", split) for i, k, split in picks]
    _write_csv(release / "splits" / "schuerch_dataset_split.csv", rows)
    out = import_lmdb(release, tmp_path / "imported", progress=False)
    verify_dataset(out)
    for split, names in _by_split(rows).items():
        loaded = load_dataset(str(out), "base", split=split, cache_dir=str(tmp_path / "cache"))
        assert set(loaded["tile_id"]) == names, split
        assert len(loaded) == len(names)
    _write_csv(release / "splits" / "schuerch_dataset_split.csv", [*rows, ("reg001_A.hdf_TILE_9", "train")])
    with pytest.raises(InvalidInputError, match="does not have"):
        import_lmdb(release, tmp_path / "again", progress=False)
