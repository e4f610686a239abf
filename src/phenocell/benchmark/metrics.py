"""Benchmark metrics: ``cell_macro_f1`` (the authors'), ``cell_macro_f1_unique`` and ``pixel_macro_f1``.

``cell_macro_f1`` is what every published number is (the authors' ``eval.py``): in each tile, every
ground-truth instance fragment (the pixels of one instance id in that tile, after ignore pixels (255) are
set to background in both maps, as the authors' export does) is one sample; its true class is
``int(mean of the semantic map over the fragment)``, its prediction the argmax of the mean softmax over its
pixels (background included, so a background prediction is an error). Per-class F1 = 2TP / (2TP + FP + FN)
over all samples, averaged over the classes in ground truth ∪ prediction, background excluded.

Ours, reported beside it: ``cell_macro_f1_unique`` counts each cell once (majority of its predicted pixels
over every tile it touches) and ``pixel_macro_f1`` counts each FoV pixel once (overlapping tile strips are
not counted twice); both average over all the dataset's classes. Their confusion rows are ground truth
1..n-1 (background and ignore are not ground truth); a class with no true positive counts 0, absent or not.

Every confusion is (n, n) over the class ids 0..n-1 of the dataset's profile (PhenoCell 15, Lizard 7,
PanNuke and Arctique 6): the accumulators are sized by the dataset, never by PhenoCell's class list.

``dice_macro`` (Vitoria et al.'s metric, reported in every run): per-class Dice 2TP / (2TP + FP + FN) over
the pooled pixels of every tile of a split (padding excluded, ignore pixels (255) not counted; overlapping
tile strips count once per tile), background a class like the others in the confusion, so background
predictions on cells are false negatives of their class. The mean runs over the foreground classes present
in ground truth ∪ prediction (a class absent from both has no Dice); background's Dice is reported per class
but kept out of the mean.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from phenocell.schema import IGNORE_INDEX


def confusion(gt: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """(n, n) counts of ground truth (rows, 1..n-1 only) against prediction (columns, 0..n-1)."""
    gt, pred = np.asarray(gt).ravel().astype(np.int64), np.asarray(pred).ravel().astype(np.int64)
    keep = (gt >= 1) & (gt < n) & (gt != IGNORE_INDEX)
    return np.bincount(gt[keep] * n + pred[keep], minlength=n * n).reshape(n, n)


def full_confusion(gt: np.ndarray, pred: np.ndarray, n: int) -> np.ndarray:
    """(n, n) pixel counts of ground truth 0..n-1 (rows, background included) against prediction."""
    gt, pred = np.asarray(gt).ravel().astype(np.int64), np.asarray(pred).ravel().astype(np.int64)
    keep = (gt >= 0) & (gt < n)
    return np.bincount(gt[keep] * n + pred[keep], minlength=n * n).reshape(n, n)


def dice_scores(cm: np.ndarray) -> tuple[float, dict[int, float]]:
    """Mean Dice over the foreground classes present, and the Dice of every present class (background too).

    ``cm`` is a pixel confusion with background rows (:func:`full_confusion`); a class is present when it
    has a ground-truth or a predicted pixel.
    """
    tp = np.diag(cm).astype(np.float64)
    fp, fn = cm.sum(axis=0) - tp, cm.sum(axis=1) - tp
    present = [c for c in range(cm.shape[0]) if cm[c, :].sum() + cm[:, c].sum() > 0]
    dice = {c: float(2 * tp[c] / (2 * tp[c] + fp[c] + fn[c])) for c in present}
    foreground = [v for c, v in dice.items() if c > 0]
    return (float(np.mean(foreground)) if foreground else 0.0), dice


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """F1 of classes 1..n-1 of an (n, n) confusion (length n-1); 0 where a class has no true positive."""
    tp = np.diag(cm)[1:].astype(np.float64)
    fp = cm[1:, 1:].sum(axis=0) - tp
    fn = cm[1:, :].sum(axis=1) - tp
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def macro_f1(cm: np.ndarray) -> float:
    """Mean of :func:`per_class_f1` over every class of the confusion."""
    return float(per_class_f1(cm).mean())


def to_host(t: torch.Tensor) -> np.ndarray:
    """A tensor on any device as a host array: the one place a metric leaves the compute device."""
    return t.detach().cpu().numpy()


def fragment_samples(instance: torch.Tensor, semantic: torch.Tensor, probs: torch.Tensor) -> np.ndarray:
    """(n, 2) [true, predicted] class of each instance fragment of one tile (the authors' definition).

    ``instance`` / ``semantic`` (H, W) integer maps, ``probs`` (K, H, W) softmax probabilities. Everything is
    computed on the device of ``probs`` (the maps are moved there); only the samples return to the host.
    """
    device = probs.device
    inst = instance.to(device).long().flatten()
    sem = semantic.to(device).long().flatten()
    ignored = sem == IGNORE_INDEX
    inst, sem = inst.masked_fill(ignored, 0), sem.masked_fill(ignored, 0)
    fg = inst > 0
    if not bool(fg.any()):
        return np.zeros((0, 2), dtype=np.int64)
    ids, slot = torch.unique(inst[fg], return_inverse=True)
    counts = torch.bincount(slot, minlength=len(ids))
    true = torch.bincount(slot, weights=sem[fg].double(), minlength=len(ids))
    true = torch.div(true.round().long(), counts, rounding_mode="floor")
    sums = torch.zeros(len(ids), probs.shape[0], dtype=torch.float64, device=device)
    sums.index_add_(0, slot, probs.flatten(1)[:, fg].T.double())
    pred = (sums / counts.to(sums).unsqueeze(1)).argmax(dim=1)
    return to_host(torch.stack([true, pred], dim=1))


def sample_confusion(samples: np.ndarray, n_classes: int) -> np.ndarray:
    """(n, n) counts of (m, 2) [true, predicted] samples, every row including background (n: ids 0..n-1)."""
    flat = samples[:, 0].astype(np.int64) * n_classes + samples[:, 1].astype(np.int64)
    return np.bincount(flat, minlength=n_classes * n_classes).reshape(n_classes, n_classes)


def present_macro_f1(cm: np.ndarray) -> tuple[float, dict[int, float]]:
    """Macro F1 over the classes in ground truth ∪ prediction minus background, and those classes' F1.

    Returns 0.0 (and no classes) when no foreground class occurs at all.
    """
    tp = np.diag(cm).astype(np.float64)
    fp = cm.sum(axis=0) - tp
    fn = cm.sum(axis=1) - tp
    present = [c for c in range(1, cm.shape[0]) if cm[c, :].sum() + cm[:, c].sum() > 0]
    f1 = {c: float(2 * tp[c] / (2 * tp[c] + fp[c] + fn[c])) for c in present}
    return (float(np.mean(list(f1.values()))) if f1 else 0.0), f1


@dataclass
class CellVotes:
    """Per ground-truth cell, predicted-pixel counts per class id 0..n-1, summed over the tiles it touches."""

    n: int
    votes: dict[int, np.ndarray] = field(default_factory=dict)
    truth: dict[int, int] = field(default_factory=dict)

    def add_tile(
        self,
        instance: np.ndarray,
        pred: np.ndarray,
        cell_ids: np.ndarray,
        labels: np.ndarray,
        cell_instance: np.ndarray | None = None,
    ) -> None:
        """Add one tile.

        ``instance`` holds local ids (0 background); ``cell_ids`` / ``labels`` describe each cell, whose local
        ids are ``cell_instance`` (default 1..n in order).
        """
        local = np.arange(1, len(cell_ids) + 1) if cell_instance is None else np.asarray(cell_instance)
        inst = instance.ravel().astype(np.int64)
        size = int(max(inst.max(initial=0), local.max(initial=0))) + 1
        fg = inst > 0
        n = self.n
        counts = np.bincount(inst[fg] * n + pred.ravel()[fg], minlength=size * n).reshape(size, n)
        for k, cid, lab in zip(local.tolist(), cell_ids.tolist(), labels.tolist(), strict=True):
            if lab < 1:  # ignored cell (-1) or background
                continue
            if cid in self.votes:
                self.votes[cid] += counts[k]
            else:
                self.votes[cid] = counts[k].copy()
                self.truth[cid] = lab

    def confusion(self) -> np.ndarray:
        """Cell-level confusion: each cell counted once with its majority predicted class."""
        if not self.votes:
            return np.zeros((self.n, self.n), dtype=np.int64)
        ids = list(self.votes)
        gt = np.array([self.truth[c] for c in ids])
        pred = np.array([int(np.argmax(self.votes[c])) for c in ids])
        return confusion(gt, pred, self.n)


@dataclass
class PixelCounts:
    """(n, n) pixel confusion counting each FoV pixel once; tiles must arrive FoV by FoV (shard order)."""

    n: int
    fov: str | None = None
    seen: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), dtype=bool))
    cm: np.ndarray = field(init=False)

    def __post_init__(self) -> None:
        self.cm = np.zeros((self.n, self.n), dtype=np.int64)

    def add_tile(self, fov: str, x: int, y: int, gt: np.ndarray, pred: np.ndarray) -> None:
        """Count the pixels of this tile that no earlier tile of its FoV covered.

        A tile with no origin in its FoV (``x`` or ``y`` negative: tiles imported without one) is counted
        whole, without de-duplication.
        """
        if x < 0 or y < 0:
            self.cm += confusion(gt.ravel(), pred.ravel(), self.n)
            return
        h, w = gt.shape
        if fov != self.fov:
            self.fov, self.seen = fov, np.zeros((y + h, x + w), dtype=bool)
        if self.seen.shape[0] < y + h or self.seen.shape[1] < x + w:
            grown = np.zeros((max(self.seen.shape[0], y + h), max(self.seen.shape[1], x + w)), dtype=bool)
            grown[: self.seen.shape[0], : self.seen.shape[1]] = self.seen
            self.seen = grown
        new = ~self.seen[y : y + h, x : x + w]
        self.cm += confusion(gt[new], pred[new], self.n)
        self.seen[y : y + h, x : x + w] = True
