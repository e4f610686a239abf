"""Seeded generator of a tiny LMDB release written the authors' way, from the tiny HDF5 export.

Independent of phenocell's code: it reads the HDF5 files with h5py, merges classes with its own reading of
``class_map.csv`` (dirt → background in the semantic map, as their dataset class does, while the dirt
instances stay in the instance map), cuts non-overlapping tiles (the last one shifted back to the edge),
renumbers instances per tile by first appearance, pickles dicts under keys ``f"{i:08}"`` and writes
``label_dict.json`` (with a lower-case "background", as some of their label dicts have), the base split over
region numbers and the domain-split CSVs.

Run ``python tests/data/phenobench/lmdb_data.py RAW OUT`` to look at one.
"""

from __future__ import annotations

import csv
import json
import pickle
import sys
from importlib import resources
from pathlib import Path

import h5py
import lmdb
import numpy as np

CLASSES = (
    "Background",
    "B cells",
    "Macrophages/Monocytes",
    "Adipocytes",
    "Dendritic cells",
    "T cells",
    "Granulocytes",
    "NK cells",
    "Nerves",
    "Plasma cells",
    "Smooth muscle",
    "Stroma",
    "Tumor cells",
    "Vasculature/Lymphatics",
    "Other cells",
)
TILE = 64


def fine_to_coarse() -> np.ndarray:
    """gt_ct id → class id (dirt → 0), from the names in class_map.csv sorted alphabetically."""
    text = resources.files("phenocell.panoptic").joinpath("class_map.csv").read_text()
    merge = {r["cluster_name"]: r["class_name"] for r in csv.DictReader(text.splitlines())}
    lut = np.zeros(30, dtype=np.uint8)
    for k, name in enumerate(sorted(merge), start=1):
        lut[k] = 0 if merge[name] == "ignore" else CLASSES.index(merge[name])
    return lut


def _starts(extent: int) -> list[int]:
    starts = list(range(0, extent - TILE + 1, TILE))
    return starts + ([extent - TILE] if starts[-1] + TILE < extent else [])


def _renumber(tile: np.ndarray) -> np.ndarray:
    out = np.zeros_like(tile)
    flat = tile.ravel()
    _, first = np.unique(flat, return_index=True)
    order = [v for v in flat[np.sort(first)] if v != 0]
    for new, old in enumerate(order, start=1):
        out[tile == old] = new
    return out


def tiles_of(path: Path) -> list[dict]:
    """The records of one HDF5 file."""
    with h5py.File(path, "r") as data:
        img, ct, inst = data["img"][()], data["gt_ct"][0], data["gt_inst"][0]
    if img.dtype == np.uint16:
        img = ((img.astype(np.uint32) + 128) // 257).astype(np.uint8)
    semantic = fine_to_coarse()[ct]
    name = path.name
    out = []
    for y in _starts(ct.shape[0]):
        for x in _starts(ct.shape[1]):
            window = (slice(y, y + TILE), slice(x, x + TILE))
            out.append(
                {
                    "tile_name": f"{name}_TILE_{len(out)}",
                    "sample_name": name,
                    "image": img[:, window[0], window[1]].copy(),
                    "semantic_mask": semantic[window].astype(np.uint16),
                    "instance_mask": _renumber(inst[window]).astype(np.uint16),
                }
            )
    return out


def _write_csv(path: Path, rows: dict[str, str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["sample_name", "train_test_val_split"])
        writer.writerows(sorted(rows.items()))


def _split_files(raw: Path, out: Path, samples: list[str]) -> None:
    rng = np.random.default_rng(42)
    regions = sorted({s.split("_")[0] for s in samples})
    order = [regions[i] for i in rng.permutation(len(regions))]
    side = {r: ("train", "valid", "test")[min(k, 2)] for k, r in enumerate(order)}
    _write_csv(out / "splits" / "schuerch_dataset_split.csv", {s: side[s.split("_")[0]] for s in samples})
    with open(raw / "fov_patients.csv") as handle:
        owner = {r["File Name"]: r["patients"] for r in csv.DictReader(handle)}
    with open(raw / "patients.csv") as handle:
        patients = {r["patients"]: r for r in csv.DictReader(handle)}
    rules = {
        "schuerch_adeno_train_val_mucinous_test.csv": lambda p: p["tumor_type"] == "mucinous",
        "schuerch_stage3_train_val_stage4_test.csv": lambda p: p["stage"] == "4",
        "schuerch_dii_train_val_clr_test.csv": lambda p: p["groups"] == "1",
    }
    for name, is_test in rules.items():
        rows, pool = {}, []
        for s in samples:
            if is_test(patients[owner[s.removesuffix(".hdf")]]):
                rows[s] = "test"
            else:
                pool.append(s)
        rows |= {s: ("valid" if k == 0 else "train") for k, s in enumerate(pool)}
        _write_csv(out / "domain_splits" / name, rows)


def make_authors_lmdb(raw: Path, out: Path) -> Path:
    """Write the release of the HDF5 export at ``raw`` to ``out``."""
    files = sorted(raw.glob("*.hdf"))
    (out / "lmdb").mkdir(parents=True)
    env = lmdb.open(str(out / "lmdb"), map_size=1 << 30)
    with env.begin(write=True) as txn:
        i = 0
        for path in files:
            for record in tiles_of(path):
                txn.put(f"{i:08}".encode("ascii"), pickle.dumps(record))
                i += 1
    env.close()
    labels = {str(k): ("background" if k == 0 else name) for k, name in enumerate(CLASSES)}
    (out / "label_dict.json").write_text(json.dumps(labels))
    _split_files(raw, out, [p.name for p in files])
    return out


if __name__ == "__main__":
    make_authors_lmdb(Path(sys.argv[1]), Path(sys.argv[2]))
