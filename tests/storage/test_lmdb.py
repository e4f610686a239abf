"""The restricted unpickler and the release's small files (label dict, split CSVs, their mask convention)."""

from __future__ import annotations

import collections
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError, UnsafeInputError
from phenocell.splits import DATA_EFFICIENCY
from phenocell.splits.authors import DOMAIN_FILES, read_authors_splits
from phenocell.storage.lmdb import safe_loads
from phenocell.storage.lmdb_layout import SPLIT_FILES, read_label_dict, to_authors_maps, write_split_csv


class _Payload:
    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


@pytest.mark.parametrize("protocol", [4, 5])
def test_dicts_of_arrays_load_at_protocols_4_and_5(protocol: int) -> None:
    record = {
        "tile_name": "reg001_A.hdf_TILE_0",
        "image": np.arange(24, dtype=np.uint8).reshape(2, 3, 4),
        "mask": np.arange(12, dtype=np.int32).reshape(3, 4),
        "scalar": np.int64(7),
        "nested": [1, 2.5, ("a", None, True)],
    }
    loaded = safe_loads(pickle.dumps(record, protocol=protocol), source="test")
    np.testing.assert_array_equal(loaded["image"], record["image"])
    assert loaded["image"].dtype == np.uint8 and loaded["mask"].dtype == np.int32
    assert loaded["scalar"] == 7 and loaded["nested"] == [1, 2.5, ("a", None, True)]


def test_os_system_payload_is_refused_and_never_runs(tmp_path: Path) -> None:
    marker = tmp_path / "ran"
    data = pickle.dumps({"tile_name": "x", "image": _Payload(marker)})
    with pytest.raises(UnsafeInputError, match=r"names the global (posix|os|nt)\.system"):
        safe_loads(data, source="record 00000000")
    assert not marker.exists()


@pytest.mark.parametrize(
    "data",
    [
        pickle.dumps(collections.OrderedDict(a=1)),
        b"cbuiltins\neval\n(S'1+1'\ntR.",
        b"cnumpy\nload\n(S'x'\ntR.",
    ],
    ids=["collections.OrderedDict", "builtins.eval", "numpy.load"],
)
def test_any_global_outside_the_allow_list_is_refused(data: bytes) -> None:
    with pytest.raises(UnsafeInputError, match="names the global"):
        safe_loads(data, source="test")


def test_persistent_ids_and_garbage() -> None:
    with pytest.raises(UnsafeInputError, match="persistent ids"):
        safe_loads(b"P1\n.", source="test")
    with pytest.raises(CorruptInputError, match="cannot unpickle"):
        safe_loads(b"\x80\x04not a pickle", source="test")


def test_label_dict_matches_names_case_insensitively(tmp_path: Path) -> None:
    path = tmp_path / "label_dict.json"
    path.write_text('{"0": "background", "2": "macrophages/monocytes", "14": "Other cells"}')
    assert read_label_dict(path) == {0: 0, 2: 2, 14: 14}
    path.write_text('{"0": "background", "1": "Neutrophil"}')
    with pytest.raises(InvalidInputError, match="Neutrophil"):
        read_label_dict(path)
    with pytest.raises(MissingInputError):
        read_label_dict(tmp_path / "none.json")


def test_split_csvs_are_what_the_authors_reader_reads(tmp_path: Path) -> None:
    path = tmp_path / "splits" / "schuerch_dataset_split.csv"
    write_split_csv(path, {"reg001_A": "train", "reg002_B": "validation", "reg003_A": "test"})
    assert path.read_text().splitlines() == [
        "sample_name,train_test_val_split",
        "reg001_A.hdf,train",
        "reg002_B.hdf,valid",
        "reg003_A.hdf,test",
    ]
    families = read_authors_splits(tmp_path).families
    assert families["base"] == {"train": ["reg001_A"], "validation": ["reg002_B"], "test": ["reg003_A"]}
    assert set(SPLIT_FILES) == {"base", *DOMAIN_FILES.values(), *DATA_EFFICIENCY}


def test_ignored_cells_become_background_in_both_maps() -> None:
    semantic = np.array([[0, 3, 255], [255, 5, 5]], dtype=np.uint8)
    instance = np.array([[0, 4, 9], [9, 7, 7]], dtype=np.uint16)
    sem, inst = to_authors_maps(semantic, instance)
    assert sem.tolist() == [[0, 3, 0], [0, 5, 5]]
    assert inst.tolist() == [[0, 1, 0], [0, 2, 2]]
    assert sem.dtype == np.uint8 and inst.dtype == np.int32
