"""``--splits-from``: the authors' split files reproduce their FoV lists; overlaps are reported."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from datasets import load_dataset

from phenocell.cards.verify import verify_dataset
from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.errors import InvalidInputError, MissingInputError
from phenocell.splits.authors import NOT_IN_AUTHORS_SPLIT, read_authors_splits
from phenocell.synthetic.authors import write_authors_splits

# tiny export: reg001_A p1, reg001_B p2, reg002_A p3, reg002_B p4, reg003_A p5, reg003_B p1
BASE = {"train": ["reg001_A", "reg001_B"], "validation": ["reg002_A"], "test": ["reg002_B", "reg003_B"]}
# patient 1 (reg001_A, reg003_B) is in train and test of tumor_type too
TUMOR_TYPE = {"train": ["reg001_A", "reg002_B"], "validation": ["reg001_B"], "test": ["reg002_A", "reg003_B"]}
HALF = {"train": ["reg001_B"], "validation": [], "test": []}


@pytest.fixture(scope="module")
def authors_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("authors") / "schuerch_dataset_lmdb"
    return write_authors_splits(root, {"base": BASE, "tumor_type": TUMOR_TYPE, "base_50pct": HALF})


@pytest.fixture(scope="module")
def converted(raw_export: Path, authors_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("from_authors") / "phenocell"
    options = CodexOptions(
        tiling="grid", pixel_grid="he", tile_size=128, progress=False, splits_from=authors_dir
    )
    return convert(raw_export, out, options=options)


def test_authors_files_are_read(authors_dir: Path) -> None:
    authors = read_authors_splits(authors_dir)
    assert authors.families["base"] == BASE
    assert authors.families["base_50pct"] == {**HALF, "validation": BASE["validation"], "test": BASE["test"]}
    assert authors.files["tumor_type"] == "domain_splits/schuerch_adeno_train_val_mucinous_test.csv"
    assert authors.exclusions(["reg001_A", "reg003_A"]) == {"reg003_A": NOT_IN_AUTHORS_SPLIT}


def test_splits_from_reproduce_the_authors_fov_lists(converted: Path) -> None:
    for split, fovs in BASE.items():
        assert sorted(set(load_dataset(str(converted), "base", split=split)["fov"])) == fovs
    assert sorted(set(load_dataset(str(converted), "tumor_type", split="test")["fov"])) == TUMOR_TYPE["test"]
    assert sorted(set(load_dataset(str(converted), "base_50pct", split="train")["fov"])) == HALF["train"]
    excluded = (converted / "qc" / "excluded.csv").read_text()
    assert f"reg003_A,{NOT_IN_AUTHORS_SPLIT}" in excluded


def test_their_patient_overlap_is_reported_not_raised(converted: Path) -> None:
    doc = json.loads((converted / "splits.json").read_text())
    assert doc["families"]["base"]["findings"] == ["patient 1 in train (1 FoV), test (1 FoV)"]
    assert doc["families"]["base"]["rule"] == "the authors' split file splits/schuerch_dataset_split.csv"
    card = (converted / "README.md").read_text()
    assert "patient 1 in train (1 FoV), test (1 FoV)" in card
    assert "patient 1 in train (1 FoV), test (1 FoV)" in doc["families"]["tumor_type"]["findings"]
    verify_dataset(converted)  # reported overlaps are no verify problem


def test_unknown_fovs_and_missing_base_are_errors(raw_export: Path, tmp_path: Path) -> None:
    bad = write_authors_splits(tmp_path / "bad", {"base": {**BASE, "test": ["reg009_A"]}})
    with pytest.raises(InvalidInputError, match="does not have"):
        convert(raw_export, tmp_path / "o", options=CodexOptions(progress=False, splits_from=bad))
    with pytest.raises(MissingInputError, match=r"schuerch_dataset_split\.csv"):
        read_authors_splits(tmp_path / "nowhere")
