"""Benchmark metrics: ``pixel_macro_f1`` and ``cell_macro_f1`` over the 14 classes.

Both use a global confusion matrix whose rows are ground truth 1..14 (background 0 and ignore 255 are
excluded as ground truth); predictions may be any of 0..14. Per-class F1 = 2TP / (2TP + FP + FN), and a
class with no true positive counts 0, absent or not: the macro average is always over 14 classes.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from phenocell.schema import CLASS_NAMES, IGNORE_INDEX

K = len(CLASS_NAMES)  # 15 ids: 0 background + 14 classes


def confusion(gt: np.ndarray, pred: np.ndarray) -> np.ndarray:
    """(15, 15) counts of ground truth (rows, 1..14 only) against prediction (columns, 0..14)."""
    gt, pred = np.asarray(gt).ravel().astype(np.int64), np.asarray(pred).ravel().astype(np.int64)
    keep = (gt >= 1) & (gt < K) & (gt != IGNORE_INDEX)
    return np.bincount(gt[keep] * K + pred[keep], minlength=K * K).reshape(K, K)


def per_class_f1(cm: np.ndarray) -> np.ndarray:
    """F1 of classes 1..14 (length 14); 0 where a class has no true positive."""
    tp = np.diag(cm)[1:].astype(np.float64)
    fp = cm[1:, 1:].sum(axis=0) - tp
    fn = cm[1:, :].sum(axis=1) - tp
    denom = 2 * tp + fp + fn
    return np.divide(2 * tp, denom, out=np.zeros_like(tp), where=denom > 0)


def macro_f1(cm: np.ndarray) -> float:
    """Mean of :func:`per_class_f1` over all 14 classes."""
    return float(per_class_f1(cm).mean())


@dataclass
class CellVotes:
    """Per ground-truth cell, predicted-pixel counts per class, summed over every tile the cell touches."""

    votes: dict[int, np.ndarray] = field(default_factory=dict)
    truth: dict[int, int] = field(default_factory=dict)

    def add_tile(
        self, instance: np.ndarray, pred: np.ndarray, cell_ids: np.ndarray, labels: np.ndarray
    ) -> None:
        """Add one tile: ``instance`` local ids (0 bg), ``cell_ids``/``labels`` indexed by local id - 1."""
        inst = instance.ravel().astype(np.int64)
        fg = inst > 0
        counts = np.bincount((inst[fg] - 1) * K + pred.ravel()[fg], minlength=len(cell_ids) * K)
        counts = counts.reshape(len(cell_ids), K)
        for k, (cid, lab) in enumerate(zip(cell_ids.tolist(), labels.tolist(), strict=True)):
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
            return np.zeros((K, K), dtype=np.int64)
        ids = list(self.votes)
        gt = np.array([self.truth[c] for c in ids])
        pred = np.array([int(np.argmax(self.votes[c])) for c in ids])
        return confusion(gt, pred)
