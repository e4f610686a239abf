"""Seeded generator of a tiny PanNuke export in the released layout (style rule 6).

Each fold is ``fold<k>/images/fold<k>/{images,types}.npy`` and ``fold<k>/masks/fold<k>/masks.npy`` (fold 3
uses the download's ``Fold 3`` folder name). Masks hold instance ids per class channel that repeat across
channels; image 0 of fold 1 holds more than 255 nuclei; one pixel pair overlaps across channels.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

TISSUES = ("Colon", "Breast", "Kidney")
SIZE = 64
TILE = 64


def _mask(rng: np.random.Generator, size: int, crowded: bool) -> np.ndarray:
    mask = np.zeros((size, size, 6), dtype=np.float64)
    step = 3 if crowded else 8
    slots = [(y, x) for y in range(0, size - 2, step) for x in range(0, size - 2, step)]
    count = len(slots) if crowded else int(rng.integers(6, 12))
    next_id = np.ones(5, dtype=np.int64)
    for y, x in (slots[i] for i in rng.permutation(len(slots))[:count]):
        channel = int(rng.integers(0, 5))
        mask[y : y + 2, x : x + 2, channel] = next_id[channel]
        next_id[channel] += 1
    if not crowded:  # one overlap: the same pixel claimed by two channels
        y, x = np.argwhere(mask[..., :5].max(axis=2) > 0)[0]
        free = next(c for c in range(5) if mask[y, x, c] == 0)
        mask[y, x, free] = 77
    mask[..., 5] = (mask[..., :5].max(axis=2) == 0).astype(np.float64)
    return mask


def make_pannuke(out: Path, *, seed: int = 0, per_fold: int = 3, size: int = SIZE) -> Path:
    """Write three folds of ``per_fold`` images of ``size`` px to ``out``; returns ``out``."""
    rng = np.random.default_rng(seed)
    out = Path(out)
    for fold in (1, 2, 3):
        top = out / (f"Fold {fold}" if fold == 3 else f"fold{fold}")
        (top / "images" / f"fold{fold}").mkdir(parents=True)
        (top / "masks" / f"fold{fold}").mkdir(parents=True)
        masks = np.stack([_mask(rng, size, crowded=fold == 1 and i == 0) for i in range(per_fold)])
        images = rng.integers(150, 230, (per_fold, size, size, 3)).astype(np.float64)
        images[masks[..., 5] == 0] = (90.0, 40.0, 140.0)
        types = np.array([TISSUES[(fold + i) % len(TISSUES)] for i in range(per_fold)])
        np.save(top / "images" / f"fold{fold}" / "images.npy", images)
        np.save(top / "images" / f"fold{fold}" / "types.npy", types)
        np.save(top / "masks" / f"fold{fold}" / "masks.npy", masks)
    return out


if __name__ == "__main__":
    make_pannuke(Path(sys.argv[1]))
