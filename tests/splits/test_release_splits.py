"""Split families of the released datasets (acceptance 3: Lizard's Center-Split is deterministic)."""

from __future__ import annotations

import random

import pytest

from phenocell.errors import InvalidInputError
from phenocell.records import SampleRef
from phenocell.splits import Splits
from phenocell.splits.datasets import arctique_splits, lizard_splits, pannuke_splits

SOURCES = ("consep", "crag", "dpath", "glas", "pannuke")


def lizard_refs(per_source: int = 9) -> dict[str, SampleRef]:
    refs = [SampleRef(f"{s}_{i}", str(i % 3 + 1), s) for s in SOURCES for i in range(1, per_source + 1)]
    return {r.name: r for r in refs}


def test_center_split_holds_every_glas_image_in_test_and_none_elsewhere() -> None:
    refs = lizard_refs()
    parts = lizard_splits(refs).families["center_glas"]
    glas = sorted(n for n in refs if n.startswith("glas_"))
    assert parts["test"] == glas
    assert not [n for n in parts["train"] + parts["validation"] if n.startswith("glas_")]
    assert sorted(parts["train"] + parts["validation"]) == sorted(set(refs) - set(glas))
    assert (len(parts["train"]), len(parts["validation"])) == (29, 7)  # 80/20 of 36 images


def test_center_split_is_deterministic_whatever_the_order() -> None:
    refs = lizard_refs()
    shuffled = list(refs.items())
    random.Random(3).shuffle(shuffled)
    assert lizard_splits(refs).to_json() == lizard_splits(dict(shuffled)).to_json()
    assert lizard_splits(refs).seed == 42


def test_lizard_rotations_follow_its_folds() -> None:
    refs = lizard_refs()
    rotation = lizard_splits(refs).families["rotation1"]
    for split, fold in zip(("train", "validation", "test"), "123", strict=True):
        assert rotation[split] == sorted(n for n, r in refs.items() if r.subset == fold)


def test_pannuke_rotations_cycle_the_folds() -> None:
    refs = {
        f"fold{k}_{i}": SampleRef(f"fold{k}_{i}", f"fold{k}", "Colon", i) for k in (1, 2, 3) for i in range(2)
    }
    families = pannuke_splits(refs).families
    assert families["rotation1"]["test"] == ["fold3_0", "fold3_1"]
    assert families["rotation2"] == {
        "train": ["fold2_0", "fold2_1"],
        "validation": ["fold3_0", "fold3_1"],
        "test": ["fold1_0", "fold1_1"],
    }
    with pytest.raises(InvalidInputError, match="three folds"):
        pannuke_splits({n: r for n, r in refs.items() if not n.startswith("fold3")})


def test_arctique_validation_is_carved_from_train_by_seed() -> None:
    refs = {f"train_{i}": SampleRef(f"train_{i}", "train", "", i) for i in range(10)}
    refs |= {f"test_{i}": SampleRef(f"test_{i}", "test", "", i) for i in range(3)}
    a, b = arctique_splits(refs, seed=0), arctique_splits(refs, seed=1)
    assert a.families["base"]["test"] == ["test_0", "test_1", "test_2"]
    assert len(a.families["base"]["validation"]) == 2
    assert a.families["base"]["validation"] != b.families["base"]["validation"]
    assert a.to_json() == arctique_splits(refs, seed=0).to_json()


def test_release_splits_round_trip_through_splits_json(tmp_path) -> None:
    splits = lizard_splits(lizard_refs())
    path = tmp_path / "splits.json"
    import json

    path.write_text(json.dumps(splits.to_json()))
    back = Splits.read(path)
    assert back.to_json() == splits.to_json()
    assert back.names() == ["rotation1", "rotation2", "rotation3", "center_glas"]
