"""LMDB interop: export → import round trip, the export read as the authors' loader does, unsafe pickles."""

from __future__ import annotations

import csv
import hashlib
import io
import itertools
import json
import os
import pickle
import re
import shutil
from pathlib import Path

import lmdb
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
import torch
from click.testing import CliRunner
from PIL import Image
from torch.utils.data import default_collate

from phenocell.cli import main
from phenocell.converters.authors_lmdb import fov_attributes
from phenocell.converters.driver import convert
from phenocell.converters.options import Hdf5Options
from phenocell.loaders.lmdb_export import export_lmdb
from tests.converters.helpers import import_lmdb

SPLIT_VALUES = {"train", "valid", "test"}


def _decoded(dataset: Path) -> dict[str, dict]:
    """tile id → sha256 of each decoded array, and the other fields, for every row of a dataset."""
    out = {}
    for shard in sorted((dataset / "data").glob("*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            for key in ("image", "semantic_mask", "instance_mask"):
                array = np.asarray(Image.open(io.BytesIO(row.pop(key)["bytes"])))
                tag = f"{array.dtype}{array.shape}".encode()
                row[key] = hashlib.sha256(array.tobytes() + tag).hexdigest()
            out[row["tile_id"]] = row
    return out


def test_export_then_import_round_trips(hdf5_dataset: Path, exported_lmdb: Path, tmp_path: Path) -> None:
    back = import_lmdb(exported_lmdb, tmp_path / "back", progress=False)
    before, after = _decoded(hdf5_dataset), _decoded(back)
    assert len(before) == 54 and before == after
    assert (back / "splits.json").read_text() == (hdf5_dataset / "splits.json").read_text()
    old, new = (json.loads((d / "manifest.json").read_text()) for d in (hdf5_dataset, back))
    assert new["shards"] == old["shards"]  # same shard bytes, hence the same names
    for key in ("markers", "class_map", "options"):
        assert new[key] == old[key]


def _same_partition(a: np.ndarray, b: np.ndarray) -> bool:
    pairs = np.unique(np.stack([a.ravel(), b.ravel()]), axis=1)
    one_to_one = len(np.unique(pairs[0])) == pairs.shape[1] == len(np.unique(pairs[1]))
    return one_to_one and bool(((pairs[0] == 0) == (pairs[1] == 0)).all())


def _their_keys(path: Path, include_samples: list[str] | None = None) -> list[bytes]:
    """The keys the authors' LMDBDataset keeps (their filter, on our own trusted export)."""
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False)
    with env.begin(write=False) as txn:
        keys = [
            k
            for k, v in txn.cursor()
            if include_samples is None or pickle.loads(v)["sample_name"] in include_samples
        ]
    env.close()
    return keys


def _their_item(path: Path, key: bytes) -> dict:
    env = lmdb.open(str(path), readonly=True, lock=False, readahead=False, meminit=False)
    with env.begin(write=False) as txn:
        data = pickle.loads(txn.get(key))
    env.close()
    if data["image"].max() > 1:
        data["image"] = data["image"] / data["image"].max()
    return data


def _check_split_csv(path: Path) -> dict[str, list[str]]:
    frame = pd.read_csv(path)
    assert set(frame.columns) == {"sample_name", "train_test_val_split"}
    assert set(frame["train_test_val_split"].unique()) == SPLIT_VALUES
    assert "tile" not in str(frame["sample_name"].iloc[0]).lower()  # their loader then filters by sample
    return {s: frame[frame["train_test_val_split"] == s]["sample_name"].tolist() for s in SPLIT_VALUES}


def test_export_reads_like_the_authors_lmdb_dataset(hdf5_dataset: Path, exported_lmdb: Path) -> None:
    env = exported_lmdb / "lmdb"
    keys = _their_keys(env)
    assert [k.decode("ascii") for k in keys] == [f"{i:08}" for i in range(54)]
    labels = {int(k): v for k, v in json.loads((exported_lmdb / "label_dict.json").read_text()).items()}
    assert labels[0] == "Background" and labels[14] == "Other cells" and len(labels) == 15
    csvs = [exported_lmdb / "splits" / "schuerch_dataset_split.csv"]
    csvs += sorted((exported_lmdb / "domain_splits").glob("*.csv"))
    efficiency = exported_lmdb / "splits" / "data_efficiency_splits"
    csvs += [efficiency / f"split_{p}_percent_train.csv" for p in (5, 10, 20, 50)]
    assert {p.name for p in csvs[1:-4]} >= {
        "schuerch_adeno_train_val_mucinous_test.csv",
        "schuerch_stage3_train_val_stage4_test.csv",
    }
    base = _check_split_csv(csvs[0])
    trains = [set(_check_split_csv(p)["train"]) for p in csvs[-4:]]
    assert all(a <= b for a, b in itertools.pairwise(trains)) and trains[-1] <= set(base["train"])
    for path in csvs:
        for split, samples in _check_split_csv(path).items():
            split_keys = _their_keys(env, samples)
            assert split_keys, (path.name, split)
    batch = [_their_item(env, key) for key in keys[:4]]
    for item in batch:
        assert re.fullmatch(r"reg\d{3}_[AB]\.hdf", item["sample_name"])
        assert item["tile_name"].startswith(item["sample_name"] + "_TILE_")
        assert item["image"].shape == (3, 64, 64) and item["image"].max() <= 1
        assert item["semantic_mask"].shape == item["instance_mask"].shape == (64, 64)
        assert item["semantic_mask"].dtype == np.uint8 and item["instance_mask"].dtype == np.int32
        inst, sem = item["instance_mask"], item["semantic_mask"]
        assert sorted(np.unique(inst).tolist()) == list(range(int(inst.max()) + 1))  # renumbered per tile
        for cell in np.unique(inst[inst > 0]):  # their eval: int(mean of the semantic map) → label_dict
            assert int(sem[inst == cell].mean()) in labels
    collated = default_collate(batch)  # their DataLoader batches records with the default collate
    assert collated["image"].shape == (4, 3, 64, 64) and collated["semantic_mask"].dtype == torch.uint8


def test_ignored_cells_are_background_in_their_maps_and_kept_in_ours(hdf5_raw: Path, tmp_path: Path) -> None:
    options = Hdf5Options(
        tiling="grid", tile_size=64, gt_ct_labels="majority", progress=False
    )  # dirt cells → 255
    dataset = convert(hdf5_raw, tmp_path / "pc", options=options)
    release, _ = export_lmdb(dataset, tmp_path / "release", progress=False)
    ignored = 0
    for key in _their_keys(release / "lmdb"):
        item = _their_item(release / "lmdb", key)
        ours = item["phenocell_semantic_mask"] == 255
        assert not (item["semantic_mask"] == 255).any()
        assert (item["semantic_mask"][ours] == 0).all() and (item["instance_mask"][ours] == 0).all()
        ignored += int(ours.sum())
    assert ignored > 0


def _release_with(exported: Path, tmp_path: Path, value: bytes) -> Path:
    release = Path(shutil.copytree(exported, tmp_path / "release"))
    env = lmdb.open(str(release / "lmdb"), map_size=1 << 30)
    with env.begin(write=True) as txn:
        txn.put(b"00000003", value)
    env.close()
    return release


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("kind", ["os.system", "outside allow-list"])
def test_import_refuses_unsafe_pickles_with_exit_2(exported_lmdb: Path, tmp_path: Path, kind: str) -> None:
    marker = tmp_path / "payload-ran"
    value = _Payload(marker) if kind == "os.system" else __import__("collections").OrderedDict(a=1)
    release = _release_with(exported_lmdb, tmp_path, pickle.dumps({"tile_name": "t", "image": value}))
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import-lmdb", str(release), "--out", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "names the global" in result.output and "record 00000003" in result.output
    assert not marker.exists() and not out.exists()


def test_import_of_the_authors_release(authors_lmdb: Path, hdf5_raw: Path, tmp_path: Path) -> None:
    args = ["import-lmdb", str(authors_lmdb), "--out", str(tmp_path / "pc"), "--quiet"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    dataset = tmp_path / "pc"
    records = {}
    env = lmdb.open(str(authors_lmdb / "lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        for _, value in txn.cursor():
            record = pickle.loads(value)  # written by the test's own generator
            records[record["tile_name"]] = record
    env.close()
    stats = json.loads((dataset / "qc" / "fov_stats.json").read_text())
    assert sum(s["instances_on_background_dropped"] for s in stats.values()) > 0
    patients = pd.read_csv(hdf5_raw / "patients.csv", dtype=str).set_index("patients")
    owners = pd.read_csv(hdf5_raw / "fov_patients.csv", dtype=str).set_index("File Name")["patients"]
    rows = 0
    for shard in sorted((dataset / "data").glob("*.parquet")):
        for row in pq.read_table(shard).to_pylist():
            record = records[row["tile_id"]]
            sem = np.asarray(Image.open(io.BytesIO(row["semantic_mask"]["bytes"])))
            inst = np.asarray(Image.open(io.BytesIO(row["instance_mask"]["bytes"])))
            np.testing.assert_array_equal(sem, record["semantic_mask"])
            theirs = record["instance_mask"]
            theirs = np.where(np.isin(theirs, np.unique(theirs[sem > 0])), theirs, 0)  # dirt dropped
            assert _same_partition(inst, theirs)
            patient = patients.loc[owners[row["fov"]]]
            assert row["tumor_type"] == (1 if patient["tumor_type"] == "mucinous" else 0)
            assert row["stage"] == int(patient["stage"]) and row["group"] == patient["groups"]
            assert (row["tile_x"], row["tile_y"], row["tile_size"]) == (-1, -1, 64)
            rows += 1
    assert rows == len(records) == 54
    splits = json.loads((dataset / "splits.json").read_text())
    with open(authors_lmdb / "splits" / "schuerch_dataset_split.csv") as handle:
        base = {r["sample_name"][:-4]: r["train_test_val_split"] for r in csv.DictReader(handle)}
    assert splits["families"]["base"]["splits"]["test"] == sorted(f for f, s in base.items() if s == "test")
    assert splits["base_by"] == "region" and splits["seed"] == 42
    assert "dii_clr" in splits["families"] and "dirt is background" in (dataset / "README.md").read_text()


def _tree(path: Path) -> dict[str, str]:
    """Relative path → sha256 of every file under ``path`` (to show it was left untouched)."""
    return {
        str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(path.rglob("*"))
        if p.is_file() and p.name != "lock.mdb"
    }


@pytest.mark.parametrize("where", ["same", "inside"])
def test_export_lmdb_refuses_to_write_over_its_dataset(
    hdf5_dataset: Path, tmp_path: Path, where: str
) -> None:
    dataset = Path(shutil.copytree(hdf5_dataset, tmp_path / "ds"))
    before = _tree(dataset)
    out = dataset if where == "same" else dataset / "lm"
    result = CliRunner().invoke(
        main, ["export", "lmdb", str(dataset), "--out", str(out), "--overwrite", "--quiet"]
    )
    assert result.exit_code == 2, result.output
    assert "--out" in result.output and _tree(dataset) == before


@pytest.mark.parametrize("where", ["same", "parent"])
def test_import_lmdb_refuses_to_write_over_its_release(
    exported_lmdb: Path, tmp_path: Path, where: str
) -> None:
    release = Path(shutil.copytree(exported_lmdb, tmp_path / "ds" / "lm"))
    before = _tree(release)
    out = release if where == "same" else release.parent
    result = CliRunner().invoke(
        main, ["import-lmdb", str(release), "--out", str(out), "--overwrite", "--quiet"]
    )
    assert result.exit_code == 2, result.output
    assert "--out" in result.output and _tree(release) == before


def test_import_refuses_a_sample_name_with_path_syntax(exported_lmdb: Path, tmp_path: Path) -> None:
    env = lmdb.open(str(exported_lmdb / "lmdb"), readonly=True, lock=False)
    with env.begin() as txn:
        record = pickle.loads(txn.get(b"00000003"))  # our own trusted export
    env.close()
    record["sample_name"] = "../../x.hdf"
    release = _release_with(exported_lmdb, tmp_path / "in", pickle.dumps(record))
    out = tmp_path / "a" / "b" / "out"
    result = CliRunner().invoke(main, ["import-lmdb", str(release), "--out", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "'../../x'" in result.output and "record 00000003" in result.output
    assert not out.exists() and not list(tmp_path.rglob("x*"))


def test_imported_authors_release_verifies_with_its_overlaps_reported(
    authors_lmdb: Path, tmp_path: Path
) -> None:
    dataset = tmp_path / "pc"
    runner = CliRunner()
    result = runner.invoke(main, ["import-lmdb", str(authors_lmdb), "--out", str(dataset), "--quiet"])
    assert result.exit_code == 0, result.output
    findings = json.loads((dataset / "splits.json").read_text())["families"]["tumor_type"]["findings"]
    assert findings and all(line.startswith("patient ") for line in findings)
    result = runner.invoke(main, ["verify", str(dataset)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(main, ["card", str(dataset)])
    assert result.exit_code == 0, result.output
    assert findings[0] in (dataset / "README.md").read_text()


def test_export_lmdb_refuses_another_profile(release_dataset, tmp_path: Path) -> None:
    out = tmp_path / "lm"
    result = CliRunner().invoke(main, ["export", "lmdb", str(release_dataset("lizard")), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "'lizard'" in result.output and "Traceback" not in result.output and not out.exists()


def test_the_lmdb_import_reads_the_same_rules_backwards() -> None:
    families = {
        "tumor_type": {"train": ["reg001_A"], "validation": [], "test": ["reg002_A"]},
        "tumor_stage": {"train": ["reg002_A"], "validation": [], "test": ["reg001_A"]},
        "dii_clr": {"train": [], "validation": ["reg001_A"], "test": []},
    }
    first, second = fov_attributes(families, "reg001_A"), fov_attributes(families, "reg002_A")
    assert (first["tumor_type"], first["stage"], first["group"]) == ("adenocarcinoma", 4, "2")
    assert (second["tumor_type"], second["stage"], second["group"]) == ("mucinous", 3, "")
    unknown = {"patient": "003", "group": "", "tumor_type": None, "stage": None}
    assert fov_attributes({}, "reg003_B") == unknown


def test_import_of_a_truncated_lmdb_is_a_clear_error(exported_lmdb: Path, tmp_path: Path) -> None:
    """A cut-off data.mdb is refused before any page is read (reading past its end would kill the process)."""
    release = Path(shutil.copytree(exported_lmdb, tmp_path / "release"))
    data = release / "lmdb" / "data.mdb"
    data.write_bytes(data.read_bytes()[:5000])
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import-lmdb", str(release), "--out", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "truncated" in result.output and "5,000 bytes" in result.output
    assert not out.exists()


def test_import_without_split_files_names_the_release_folder(exported_lmdb: Path, tmp_path: Path) -> None:
    """import-lmdb has no --splits-from: the fix names the release's own splits/ folder."""
    release = Path(shutil.copytree(exported_lmdb, tmp_path / "release"))
    shutil.rmtree(release / "splits")
    (release / "phenocell_splits.json").unlink()
    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["import-lmdb", str(release), "--out", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "--splits-from" not in result.output and "splits/" in result.output
    assert not out.exists()


def test_export_lmdb_of_a_tampered_dataset_is_refused(hdf5_dataset: Path, tmp_path: Path) -> None:
    """Shards are checked against the manifest first, as publish, card and benchmark do."""
    dataset = Path(shutil.copytree(hdf5_dataset, tmp_path / "ds"))
    shard = sorted((dataset / "data").glob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    out = tmp_path / "release"
    result = CliRunner().invoke(main, ["export", "lmdb", str(dataset), "--out", str(out), "--quiet"])
    assert result.exit_code == 2, result.output
    assert "does not match the manifest" in result.output and "nothing was exported" in result.output
    assert not out.exists()
