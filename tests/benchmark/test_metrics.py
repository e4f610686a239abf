"""Metrics against sklearn on random label maps (property-based)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from phenocell.benchmark.metrics import CellVotes, confusion, macro_f1, per_class_f1

LABELS = list(range(1, 15))


@st.composite
def label_maps(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    seed = draw(st.integers(0, 2**32 - 1))
    n = draw(st.integers(1, 400))
    rng = np.random.default_rng(seed)
    gt_classes = rng.choice(np.array([0, 255, *LABELS]), size=draw(st.integers(1, 16)))
    pred_classes = rng.choice(np.arange(15), size=draw(st.integers(1, 15)))  # some classes never predicted
    return rng.choice(gt_classes, n), rng.choice(pred_classes, n)


@settings(max_examples=150, deadline=None)
@given(label_maps())
def test_pixel_macro_f1_matches_sklearn(maps: tuple[np.ndarray, np.ndarray]) -> None:
    gt, pred = maps
    keep = (gt >= 1) & (gt <= 14)
    expected = (
        f1_score(gt[keep], pred[keep], labels=LABELS, average="macro", zero_division=0) if keep.any() else 0.0
    )
    assert np.isclose(macro_f1(confusion(gt, pred)), expected)
    expected_per_class = (
        f1_score(gt[keep], pred[keep], labels=LABELS, average=None, zero_division=0)
        if keep.any()
        else np.zeros(14)
    )
    assert np.allclose(per_class_f1(confusion(gt, pred)), expected_per_class)


def test_absent_class_counts_zero_not_dropped() -> None:
    gt = np.array([1, 1, 2, 2])
    assert macro_f1(confusion(gt, gt)) == 2 / 14


def test_ignore_and_background_ground_truth_do_not_count() -> None:
    gt = np.array([0, 255, 3])
    pred = np.array([3, 3, 3])
    assert per_class_f1(confusion(gt, pred))[2] == 1.0


def test_cell_votes_count_each_cell_once_across_tiles() -> None:
    votes = CellVotes()
    # one cell (id 99, class 5) cut by two tiles: 3 pixels say 5 in tile A, 4 pixels say 6 in tile B
    votes.add_tile(np.array([[1, 1, 1, 0]]), np.array([[5, 5, 5, 0]]), np.array([99]), np.array([5]))
    votes.add_tile(np.array([[1, 1, 1, 1]]), np.array([[6, 6, 6, 6]]), np.array([99]), np.array([5]))
    votes.add_tile(np.array([[1, 2]]), np.array([[5, 5]]), np.array([7, 8]), np.array([-1, 5]))
    cm = votes.confusion()
    assert cm.sum() == 2  # cell 99 and cell 8; the ignored cell 7 is not counted
    assert cm[5, 6] == 1 and cm[5, 5] == 1
