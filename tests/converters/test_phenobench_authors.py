"""The authors' HDF5 files convert, by default, to exactly the authors' tiles (issue 22).

The expected tiles are recomputed here from the facts of their chain (Bio-Image-Datasets ``SchuerchDataset``
→ ``tiles_to_lmdb.create_lmdb_database``), not with the converter's helpers:

- ``gt_ct`` id k is the k-th granular name in sorted order; each pixel takes its name's merged class id;
- dirt (17) is set to 0 in both the semantic and the instance map, pixel by pixel;
- no size filter: every instance is kept, whatever its area;
- the FoV is cut into ``ceil(extent / 224)`` crops per axis at ``linspace(0, extent, n + 1)`` edges, each
  zero-padded at the centre to 224 px; instance ids are renumbered per tile (compared as partitions).

The HDF5 files hold every case where a conversion could differ: small cells, dirt inside a cell (a minority
and a majority of its pixels), a class change inside an instance, class pixels outside any instance, an
instance whose ``gt_ct`` is 0 everywhere and one where it is 0 on part of it.
"""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path

import h5py
import lmdb
import numpy as np
import pytest
from click.testing import CliRunner

from phenocell.cli import convert_main
from phenocell.converters.driver import convert
from phenocell.converters.options import Hdf5Options
from phenocell.errors import InvalidOptionError
from phenocell.loaders.lmdb_export import export_lmdb
from phenocell.synthetic import SynthOptions
from phenocell.synthetic.hdf5_export import synthesize_hdf5

from ..conftest import phenobench_lmdb  # the test data's own merge: gt_ct id → class id, dirt → 0

DIRT, STROMA, TUMOR, B_CELLS = 17, 25, 26, 1  # gt_ct ids (sorted granular names)
MPP = 0.377442  # the HDF5 files' pixel size (µm/px)
TILE = 224
RAW = SynthOptions(fovs=4, patients=4, seed=3, mask_shape=(250, 470), layout="phenobench-hdf5")


def _add_edge_cases(ct: np.ndarray, inst: np.ndarray) -> None:
    """Write every rule's case into one FoV's maps (in place)."""
    labels, area = np.unique(inst[inst > 0], return_counts=True)
    big = labels[np.argsort(-area)][:6]  # the largest cells, so each edit leaves a visible rest
    for k, (y, x) in enumerate([(5, 5), (5, 40), (60, 200), (120, 300)]):  # small cells, 2..5 px a side
        inst[y : y + 8, x : x + 8] = 0
        ct[y : y + 8, x : x + 8] = 0
        inst[y + 1 : y + 3 + k, x + 1 : x + 3 + k] = labels.max() + 1 + k
        ct[y + 1 : y + 3 + k, x + 1 : x + 3 + k] = (TUMOR, B_CELLS, STROMA, 0)[k]
    other = TUMOR if (ct[inst == big[2]] == B_CELLS).any() else B_CELLS
    for label, share, value in [(big[0], 4, DIRT), (big[1], 1, DIRT), (big[2], 2, other), (big[3], 1, 0)]:
        ys, xs = np.nonzero(inst == label)  # the top share/5 of its rows get the value
        cut = ys.min() + (ys.max() - ys.min() + 1) * share // 5
        ct[ys[ys <= cut], xs[ys <= cut]] = value
    ct[inst == big[4]] = 0  # an instance without any granular id
    outside = (inst == 0) & (np.arange(ct.shape[0])[:, None] % 17 < 4)
    ct[outside] = STROMA  # class pixels outside every instance


@pytest.fixture(scope="module")
def raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny HDF5 export whose FoVs hold every edge case."""
    out = synthesize_hdf5(tmp_path_factory.mktemp("authors_rules") / "raw", options=RAW, progress=False)
    for path in sorted(out.glob("*.hdf")):
        with h5py.File(path, "r+") as data:
            ct, inst = data["gt_ct"][0], data["gt_inst"][0]
            _add_edge_cases(ct, inst)
            data["gt_ct"][0], data["gt_inst"][0] = ct, inst
    return out


def _authors_maps(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One FoV's semantic and instance maps after their dataset class (before tiling)."""
    with h5py.File(path, "r") as data:
        ct, inst = data["gt_ct"][0].astype(np.int64), data["gt_inst"][0].astype(np.int64)
    return phenobench_lmdb.fine_to_coarse()[ct], np.where(ct == DIRT, 0, inst)


def _crops(extent: int) -> list[tuple[int, int]]:
    edges = np.linspace(0, extent, math.ceil(extent / TILE) + 1).astype(int)
    return list(zip(edges[:-1].tolist(), edges[1:].tolist(), strict=True))


def _pad(crop: np.ndarray) -> np.ndarray:
    top, left = (TILE - crop.shape[0]) // 2, (TILE - crop.shape[1]) // 2
    return np.pad(crop, ((top, TILE - crop.shape[0] - top), (left, TILE - crop.shape[1] - left)))


def authors_tiles(raw_dir: Path) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """``{tile_name: (semantic, instance)}`` of their LMDB, from the rules in the module docstring."""
    tiles = {}
    for path in sorted(raw_dir.glob("*.hdf")):
        semantic, instance = _authors_maps(path)
        crops = [(y, x) for y in _crops(semantic.shape[0]) for x in _crops(semantic.shape[1])]
        for k, ((y0, y1), (x0, x1)) in enumerate(crops):
            tiles[f"{path.name}_TILE_{k}"] = (_pad(semantic[y0:y1, x0:x1]), _pad(instance[y0:y1, x0:x1]))
    return tiles


def exported_tiles(
    raw_dir: Path, out: Path, **options
) -> tuple[dict[str, tuple[np.ndarray, np.ndarray]], Path]:
    """``phenocell-convert`` (``options`` on top of the defaults) then ``export lmdb``: its tiles, dataset."""
    dataset = convert(raw_dir, out / "phenocell", options=Hdf5Options(progress=False, **options))
    release, _ = export_lmdb(dataset, out / "release", progress=False)
    tiles = {}
    with lmdb.open(str(release / "lmdb"), readonly=True, lock=False) as env, env.begin() as txn:
        for _, value in txn.cursor():
            record = pickle.loads(value)
            tiles[record["tile_name"]] = (record["semantic_mask"], record["instance_mask"])
    return tiles, dataset


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether two instance maps split the pixels the same way (0 = background in both)."""
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]).astype(np.int64), axis=1)
    one_to_one = len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))
    return one_to_one and bool(((pairs[0] == 0) == (pairs[1] == 0)).all())


def test_the_raw_files_hold_every_case(raw: Path) -> None:
    counts = {"small": 0, "dirt_in_cell": 0, "mixed": 0, "outside": 0, "unclassified": 0}
    for path in sorted(raw.glob("*.hdf")):
        with h5py.File(path, "r") as data:
            ct, inst = data["gt_ct"][0], data["gt_inst"][0]
        for label in np.unique(inst[inst > 0]):
            ids = set(np.unique(ct[inst == label]).tolist())
            counts["small"] += int((inst == label).sum() * MPP**2 < 10)
            counts["dirt_in_cell"] += int(DIRT in ids and len(ids) > 1)
            counts["mixed"] += int(len(ids - {0, DIRT}) > 1)
            counts["unclassified"] += int(ids == {0})
        counts["outside"] += int(((ct > 0) & (inst == 0)).sum())
    assert all(v > 0 for v in counts.values()), counts


def test_default_conversion_exports_exactly_the_authors_tiles(raw: Path, tmp_path: Path) -> None:
    expected = authors_tiles(raw)
    ours, dataset = exported_tiles(raw, tmp_path, tiling="phenobench")
    assert sorted(ours) == sorted(expected)
    differing = sum(int((ours[n][0] != expected[n][0]).sum()) for n in expected)
    partitions = sum(not _same_partition(ours[n][1], expected[n][1]) for n in expected)
    assert (differing, partitions) == (0, 0)
    manifest = json.loads((dataset / "manifest.json").read_text())
    assert manifest["options"]["departures"] == {}
    assert "none: the labels follow the authors' chain" in (dataset / "README.md").read_text()


def test_min_cell_area_is_a_counted_and_recorded_departure(raw: Path, tmp_path: Path) -> None:
    expected = authors_tiles(raw)
    ours, dataset = exported_tiles(raw, tmp_path, tiling="phenobench", min_cell_area_um2=10.0)
    differing = sum(int((ours[n][0] != expected[n][0]).sum()) for n in expected)
    small = 0  # their labelled pixels of cells under 10 µm² (after dirt removal): what the filter takes away
    for path in sorted(raw.glob("*.hdf")):
        semantic, instance = _authors_maps(path)
        labels, area = np.unique(instance[instance > 0], return_counts=True)
        small += int((np.isin(instance, labels[area * MPP**2 < 10.0]) & (semantic > 0)).sum())
    assert differing == small > 0
    manifest = json.loads((dataset / "manifest.json").read_text())
    departures = manifest["options"]["departures"]
    assert {k: (d["value"], d["reference"]) for k, d in departures.items()} == {
        "min_cell_area_um2": (10.0, 0.0)
    }
    card = (dataset / "README.md").read_text()
    assert "Departures from the authors' data" in card and "`min_cell_area_um2` = 10.0" in card


def test_gt_ct_labels_choices_and_codex_refusal(raw_export: Path, tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="'pixel', 'majority'"):
        Hdf5Options(gt_ct_labels="cells")  # type: ignore[arg-type]
    options = Hdf5Options(gt_ct_labels="majority", progress=False)
    with pytest.raises(InvalidOptionError, match="options of the wrong type for --source codex"):
        convert(raw_export, tmp_path / "pc", options=options)
    args = [str(raw_export), "--out", str(tmp_path / "pc"), "--gt-ct-labels", "majority"]
    result = CliRunner().invoke(convert_main, args)
    assert result.exit_code == 2 and "does not read" in result.output and "--gt-ct-labels" in result.output
    assert not (tmp_path / "pc").exists()
