"""Metrics against sklearn and an independent re-implementation on random label maps (property-based)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import f1_score

from phenocell.benchmark.evaluate import SplitScores
from phenocell.benchmark.metrics import (
    CellVotes,
    PixelCounts,
    confusion,
    dice_scores,
    fragment_samples,
    full_confusion,
    macro_f1,
    per_class_f1,
    present_macro_f1,
    sample_confusion,
)
from phenocell.loaders.split_index import SplitIndex, TileRef

LABELS = list(range(1, 15))
N = 15  # PhenoCell's class ids, background included


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
    assert np.isclose(macro_f1(confusion(gt, pred, N)), expected)
    expected_per_class = (
        f1_score(gt[keep], pred[keep], labels=LABELS, average=None, zero_division=0)
        if keep.any()
        else np.zeros(14)
    )
    assert np.allclose(per_class_f1(confusion(gt, pred, N)), expected_per_class)


def test_absent_class_counts_zero_not_dropped() -> None:
    gt = np.array([1, 1, 2, 2])
    assert macro_f1(confusion(gt, gt, N)) == 2 / 14


def test_ignore_and_background_ground_truth_do_not_count() -> None:
    gt = np.array([0, 255, 3])
    pred = np.array([3, 3, 3])
    assert per_class_f1(confusion(gt, pred, N))[2] == 1.0


def test_cell_votes_count_each_cell_once_across_tiles() -> None:
    votes = CellVotes(N)
    # one cell (id 99, class 5) cut by two tiles: 3 pixels say 5 in tile A, 4 pixels say 6 in tile B
    votes.add_tile(np.array([[1, 1, 1, 0]]), np.array([[5, 5, 5, 0]]), np.array([99]), np.array([5]))
    votes.add_tile(np.array([[1, 1, 1, 1]]), np.array([[6, 6, 6, 6]]), np.array([99]), np.array([5]))
    votes.add_tile(np.array([[1, 2]]), np.array([[5, 5]]), np.array([7, 8]), np.array([-1, 5]))
    cm = votes.confusion()
    assert cm.sum() == 2  # cell 99 and cell 8; the ignored cell 7 is not counted
    assert cm[5, 6] == 1 and cm[5, 5] == 1


# --- the authors' cell F1, against a re-implementation written from DESIGN.md's description ---------------


def reference_cell_f1(tiles: list[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> float:
    """Per tile: ignore (255) → background in both maps; each instance id > 0 is one sample whose truth is
    int(mean semantic) and whose prediction is the argmax of the mean softmax; F1 per class over all samples,
    macro over the classes in truth ∪ prediction minus background (0.0 if none)."""
    y_true, y_pred = [], []
    for instance, semantic, probs in tiles:
        ignore = semantic == 255
        inst = np.where(ignore, 0, instance)
        sem = np.where(ignore, 0, semantic)
        for cell in np.unique(inst):
            if cell == 0:
                continue
            where = inst == cell
            y_true.append(int(np.mean(sem[where])))
            y_pred.append(int(np.argmax(probs[:, where].mean(axis=1))))
    classes = sorted((set(y_true) | set(y_pred)) - {0})
    if not classes:
        return 0.0
    scores = [f1_score(y_true, y_pred, labels=[c], average="micro", zero_division=0) for c in classes]
    return float(np.mean(scores))


@st.composite
def tiled_predictions(draw: st.DrawFn) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(draw(st.integers(0, 2**32 - 1)))
    h, w = int(rng.integers(4, 20)), int(rng.integers(4, 20))
    cells = int(rng.integers(0, 12))
    instance = rng.integers(0, cells + 1, size=(h, w))  # fragments need not be connected
    cell_class = rng.choice(np.arange(15), size=cells + 1, replace=True)  # background cells included
    cell_class[0] = 0
    semantic = cell_class[instance].astype(np.int64)
    mixed = rng.random((h, w)) < draw(st.sampled_from([0.0, 0.1, 0.4]))  # fragments with mixed classes
    semantic[mixed] = rng.integers(0, 15, size=int(mixed.sum()))
    semantic[rng.random((h, w)) < draw(st.sampled_from([0.0, 0.05, 0.3]))] = 255  # ignore pixels
    logits = rng.normal(size=(15, h, w)) * draw(st.sampled_from([0.5, 3.0]))
    logits[0] += draw(st.sampled_from([0.0, 2.0]))  # sometimes background wins
    logits[rng.choice(15, size=int(rng.integers(0, 10)), replace=False)] -= 50  # classes never predicted
    probs = np.exp(logits) / np.exp(logits).sum(axis=0, keepdims=True)
    tiles = []
    for _ in range(int(rng.integers(1, 4))):  # crops of one FoV: cells cut by tiles, overlapping strips
        th, tw = int(rng.integers(2, h + 1)), int(rng.integers(2, w + 1))
        y, x = int(rng.integers(0, h - th + 1)), int(rng.integers(0, w - tw + 1))
        crop = (slice(y, y + th), slice(x, x + tw))
        tiles.append((instance[crop], semantic[crop], probs[(slice(None), *crop)]))
    return tiles


@settings(max_examples=250, deadline=None)
@given(tiled_predictions())
def test_authors_cell_f1_matches_reimplementation(tiles: list[tuple[np.ndarray, ...]]) -> None:
    cm = np.zeros((15, 15), dtype=np.int64)
    for instance, semantic, probs in tiles:
        samples = fragment_samples(
            torch.from_numpy(instance), torch.from_numpy(semantic), torch.from_numpy(probs).float()
        )
        cm += sample_confusion(samples, N)
    ours, _ = present_macro_f1(cm)
    assert np.isclose(ours, reference_cell_f1(tiles))


def test_authors_cell_f1_counts_fragments_and_background_predictions() -> None:
    instance = np.array([[1, 1, 2, 2, 3]])
    semantic = np.array([[5, 5, 7, 7, 255]])  # cell 3 is ignored: background in both maps, not a sample
    probs = np.zeros((15, 1, 5))
    probs[5, 0, :2] = 1.0  # cell 1 → 5 (right)
    probs[0, 0, 2:] = 1.0  # cell 2 → background (an error: a false negative of class 7)
    samples = fragment_samples(
        torch.from_numpy(instance), torch.from_numpy(semantic), torch.from_numpy(probs)
    )
    assert samples.tolist() == [[5, 5], [7, 0]]
    score, per_class = present_macro_f1(sample_confusion(samples, N))
    assert per_class == {5: 1.0, 7: 0.0} and score == 0.5  # 12 absent classes do not count


def test_pixel_counts_do_not_count_overlapping_strips_twice() -> None:
    counts = PixelCounts(N)
    gt = np.full((4, 4), 3)
    counts.add_tile("a", 0, 0, gt, gt)
    counts.add_tile("a", 2, 0, gt, np.full((4, 4), 4))  # columns 2-3 were counted by the first tile
    assert counts.cm[3, 3] == 16 and counts.cm[3, 4] == 8
    counts.add_tile("b", 0, 0, gt, gt)  # a new FoV starts afresh
    assert counts.cm[3, 3] == 32


def test_pixel_counts_count_tiles_without_origin_whole() -> None:
    counts = PixelCounts(N)
    gt = np.full((4, 4), 3)
    counts.add_tile("fold1_00000", -1, -1, gt, gt)  # imported tiles carry no origin (-1, -1)
    counts.add_tile("fold1_00000", -1, -1, gt, np.full((4, 4), 4))  # not de-duplicated
    assert counts.cm[3, 3] == 16 and counts.cm[3, 4] == 16


def test_dice_by_hand_background_scored_but_not_averaged_ignore_not_counted() -> None:
    gt = np.array([0, 0, 1, 1, 2, 255])
    pred = np.array([0, 1, 1, 2, 2, 0])  # the ignore pixel's background prediction counts nowhere
    mean, dice = dice_scores(full_confusion(gt, pred, N))
    # background: TP 1, FN 1 -> 2/3; class 1: TP 1, FP 1, FN 1 -> 1/2; class 2: TP 1, FP 1 -> 2/3
    assert dice == {0: 2 / 3, 1: 0.5, 2: 2 / 3}
    assert mean == (0.5 + 2 / 3) / 2  # foreground classes present in gt or prediction; 3..14 absent


@settings(max_examples=100, deadline=None)
@given(label_maps())
def test_dice_equals_sklearn_f1_per_class_over_valid_pixels(maps: tuple[np.ndarray, np.ndarray]) -> None:
    gt, pred = maps
    keep = gt != 255
    mean, dice = dice_scores(full_confusion(gt, pred, N))
    present = sorted(set(gt[keep].tolist()) | set(pred[keep].tolist()))
    assert sorted(dice) == present
    if not keep.any():
        return
    ref = f1_score(gt[keep], pred[keep], labels=present, average=None, zero_division=0)
    assert np.allclose([dice[c] for c in present], ref)
    fg = [c for c in present if c > 0]
    assert np.isclose(mean, np.mean([dice[c] for c in fg]) if fg else 0.0)


# --- the accumulators are sized by the dataset's classes ------------------------------------------------


def _two_cell_tile(n: int) -> tuple[SplitIndex, dict, torch.Tensor, torch.Tensor, torch.Tensor]:
    """One 8 px tile with a cell of class n-1 and one of class 1, predicted perfectly over ``n`` classes."""
    index = SplitIndex(Path("."), "base", "test", (TileRef("a.parquet", 0, 0, "a_0", "a", 0, 0, 8),))
    semantic, instance = torch.zeros(1, 8, 8, dtype=torch.long), torch.zeros(1, 8, 8, dtype=torch.long)
    semantic[0, :4, :4], instance[0, :4, :4] = n - 1, 1
    semantic[0, 4:, 4:], instance[0, 4:, 4:] = 1, 2
    probs = torch.nn.functional.one_hot(semantic, n).permute(0, 3, 1, 2).double()
    cells = {"cell_ids": [np.array([10, 11])], "cell_labels": [np.array([n - 1, 1])]}
    batch = {"index": torch.tensor([0]), **cells, "cell_instance": [np.array([1, 2])]}
    return index, batch, probs, semantic, instance


@pytest.mark.parametrize("n", [6, 7, 20])  # PanNuke / Arctique, Lizard, and more ids than PhenoCell's 15
def test_split_scores_are_sized_by_the_datasets_classes(n: int) -> None:
    index, batch, probs, semantic, instance = _two_cell_tile(n)
    scores = SplitScores(index, n)
    scores.add_batch(batch, probs, semantic, instance)
    result = scores.result()
    for name in ("cell_confusion", "cell_unique_confusion", "pixel_confusion", "dice_confusion"):
        assert result[name].shape == (n, n), name
    assert result["cell_classes_scored"] == [1, n - 1]
    assert (
        result["cell_unique_confusion"][n - 1, n - 1] == 1 and result["pixel_confusion"][n - 1, n - 1] == 16
    )
    assert result["cell_macro_f1"] == result["cell_macro_f1_unique"] * (n - 1) / 2 == 1.0


def test_split_scores_refuse_probabilities_of_another_class_count() -> None:
    index, batch, probs, semantic, instance = _two_cell_tile(7)
    with pytest.raises(ValueError, match=r"expected probabilities \(B, 15, H, W\), got \(1, 7, 8, 8\)"):
        SplitScores(index, 15).add_batch(batch, probs, semantic, instance)


def test_a_pixel_whose_classes_tie_goes_to_the_first_of_them() -> None:
    index, batch, probs, semantic, instance = _two_cell_tile(6)
    probs[0, :, 4:, :4] = 0.0
    probs[0, 2, 4:, :4] = probs[0, 4, 4:, :4] = 0.5  # background pixels, classes 2 and 4 tied
    scores = SplitScores(index, 6)
    scores.add_batch(batch, probs, semantic, instance)
    confusion = scores.result()["dice_confusion"]  # the pixel confusion leaves background rows out
    assert confusion[0, 2] == 16 and confusion[0, 4] == 0
