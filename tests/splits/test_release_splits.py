"""Split families of the released datasets: the authors' PanNuke standard split and Lizard source holdouts."""

from __future__ import annotations

import random

import pytest

from phenocell.errors import InvalidInputError
from phenocell.records import SampleRef
from phenocell.splits import Splits
from phenocell.splits.released import arctique_splits, lizard_splits, pannuke_splits

SOURCES = ("consep", "crag", "dpath", "glas", "pannuke")


def lizard_refs(per_source: int = 9) -> dict[str, SampleRef]:
    refs = [SampleRef(f"{s}_{i}", str(i % 3 + 1), s) for s in SOURCES for i in range(1, per_source + 1)]
    return {r.name: r for r in refs}


def test_lizard_holdouts_equal_sklearn_train_test_split_on_25_images() -> None:
    from sklearn.model_selection import train_test_split as sklearn_split

    refs = lizard_refs(per_source=5)  # 25 images, 5 per source
    families = lizard_splits(refs).families
    assert [f for f in families if f.startswith("holdout_")] == [f"holdout_{s}" for s in SOURCES]
    for source in SOURCES:
        parts = families[f"holdout_{source}"]
        held = sorted(n for n in refs if n.startswith(source + "_"))
        rest = sorted(set(refs) - set(held))  # the documented row order: sorted image names
        train, validation = sklearn_split(rest, test_size=0.2, random_state=42)
        assert parts == {"train": sorted(train), "validation": sorted(validation), "test": held}
        assert (len(parts["train"]), len(parts["validation"]), len(parts["test"])) == (16, 4, 5)


def test_lizard_source_is_the_name_prefix_not_the_info_csv_column() -> None:
    # a release whose Source column says something else still holds every glas_* image out
    refs = {n: SampleRef(r.name, r.subset, "Colon") for n, r in lizard_refs(per_source=5).items()}
    parts = lizard_splits(refs).families["holdout_glas"]
    assert parts["test"] == [f"glas_{i}" for i in range(1, 6)]


def test_lizard_holdouts_are_deterministic_whatever_the_order() -> None:
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


def test_pannuke_standard_is_the_authors_train_f3_validation_f1_test_f2() -> None:
    refs = {
        f"fold{k}_{i}": SampleRef(f"fold{k}_{i}", f"fold{k}", "Colon", i) for k in (1, 2, 3) for i in range(2)
    }
    assert pannuke_splits(refs).families["standard"] == {
        "train": ["fold3_0", "fold3_1"],
        "validation": ["fold1_0", "fold1_1"],
        "test": ["fold2_0", "fold2_1"],
    }


def test_pannuke_rotations_cycle_the_folds() -> None:
    refs = {
        f"fold{k}_{i}": SampleRef(f"fold{k}_{i}", f"fold{k}", "Colon", i) for k in (1, 2, 3) for i in range(2)
    }
    families = pannuke_splits(refs).families
    assert families["rotation1"]["test"] == ["fold3_0", "fold3_1"]
    assert next(iter(families)) == "standard"
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
    assert back.names() == ["rotation1", "rotation2", "rotation3", *(f"holdout_{s}" for s in SOURCES)]
