"""Loss, class weights, learning-rate schedule and tile-sampling weights of the reference protocol.

Reference (the authors' ``utils.py`` and config): cross-entropy with label smoothing 0.05 per pixel;
background pixels (class 0) carry no loss and the sum is divided by the number of non-background pixels;
class weights come from an exponential moving average (alpha 0.99, start 1e-6) of the per-batch pixel count of
each class: inverse frequencies, normalised to sum 1, background set to 0, then passed through a softmax
(so the largest/smallest weight ratio is at most e). Schedule: ``LinearLR(start_factor=0.1)`` for the
warm-up steps, then ``CosineAnnealingLR(T_max, eta_min)`` (``T_max`` from the dataset's config). Tiles are
drawn with replacement with weight sum_c (tile pixels of class c / all train pixels of class c), background
included.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from phenocell.benchmark.config import TrainConfig
from phenocell.schema import IGNORE_INDEX

EMA_START = 1e-6


class ClassWeightedLoss(nn.Module):
    """Per-pixel cross-entropy summed over counted pixels and divided by their number.

    ``ema_softmax`` (reference): EMA inverse-frequency weights through a softmax; ``inverse``: fixed
    inverse train frequencies normalised to mean 1 over the classes present (ours, ratios can reach ~100x);
    ``none``: unweighted. Background is excluded from the loss unless ``background == "include"``; ignore
    pixels (255) never count. ``loss="ce_dice"`` adds :func:`soft_dice_loss` (weight 1: CE + Dice).
    """

    def __init__(self, cfg: TrainConfig, num_classes: int, train_counts: np.ndarray | None = None) -> None:
        super().__init__()
        self.mode, self.num_classes = cfg.class_weighting, num_classes
        self.alpha, self.smoothing = cfg.ema_alpha, cfg.label_smoothing
        self.exclude = [0] if cfg.background == "exclude" else []
        self.dice = cfg.loss == "ce_dice"
        self.ema = torch.full((num_classes,), EMA_START, dtype=torch.float64)
        self.fixed = torch.ones(num_classes, dtype=torch.float64)
        if cfg.class_weighting == "inverse" and train_counts is not None:
            self.fixed = inverse_weights(train_counts)

    def update(self, target: torch.Tensor) -> None:
        """Fold one batch's class pixel counts into the EMA (ignore pixels are not counted)."""
        valid = target[target != IGNORE_INDEX].flatten()
        counts = torch.bincount(valid.cpu(), minlength=self.num_classes)[: self.num_classes].double()
        self.ema = self.alpha * self.ema + (1 - self.alpha) * counts

    def weights(self) -> torch.Tensor:
        """Current class weights (float64, length ``num_classes``)."""
        if self.mode == "ema_softmax":
            return ema_softmax_weights(self.ema, self.exclude)
        return self.fixed.clone()

    def forward(self, logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Mean loss over counted pixels; ``target`` (B, H, W) long with 255 = ignore."""
        if self.mode == "ema_softmax":
            self.update(target)
        weight = self.weights().to(device=logits.device, dtype=torch.float32)
        per_pixel = F.cross_entropy(
            logits.float(),
            target,
            weight=weight,
            ignore_index=IGNORE_INDEX,
            reduction="none",
            label_smoothing=self.smoothing,
        )
        counted = target != IGNORE_INDEX
        for c in self.exclude:
            counted &= target != c
        loss = (per_pixel * counted).sum() / counted.sum().clamp(min=1)
        if self.dice:
            loss = loss + soft_dice_loss(logits, target, self.exclude)
        return loss


def soft_dice_loss(logits: torch.Tensor, target: torch.Tensor, exclude: list[int]) -> torch.Tensor:
    """1 - mean soft Dice over the classes present in the batch's ground truth (Vitoria et al.'s Dice term).

    Per class c: 2 sum(p_c g_c) / (sum p_c + sum g_c) over the batch's valid pixels (ignore pixels dropped),
    p the softmax, g the one-hot target; classes in ``exclude`` and classes absent from the target are left
    out, so a batch without a class does not push its probability to zero on its own.
    """
    valid = target != IGNORE_INDEX
    probs = logits.float().softmax(dim=1).permute(0, 2, 3, 1)[valid]  # (N, K) over valid pixels
    labels = target[valid]
    onehot = F.one_hot(labels, probs.shape[1]).to(probs.dtype)
    present = [c for c in labels.unique().tolist() if c not in exclude]
    if not present:
        return logits.sum() * 0.0
    inter, total = (probs * onehot).sum(dim=0), probs.sum(dim=0) + onehot.sum(dim=0)
    dice = 2 * inter[present] / total[present].clamp(min=1e-6)
    return 1 - dice.mean()


def ema_softmax_weights(ema: torch.Tensor, exclude: list[int]) -> torch.Tensor:
    """softmax(normalised inverse EMA frequencies with excluded classes set to 0)."""
    inverse = 1.0 / (ema + EMA_START)
    normalised = inverse / inverse.sum()
    normalised[exclude] = 0.0
    return normalised.softmax(dim=0)


def inverse_weights(counts: np.ndarray) -> torch.Tensor:
    """Inverse train frequencies of the classes present, normalised to mean 1 over classes 1..; else 1."""
    c = torch.as_tensor(counts, dtype=torch.float64)
    weights = torch.ones_like(c)
    present = c > 0
    weights[present] = c[present].sum() / c[present]
    if present[1:].any():
        weights[1:] = weights[1:] / weights[1:][present[1:]].mean()
    return weights


def build_optimizer(params: Any, cfg: TrainConfig) -> torch.optim.Optimizer:
    """AdamW (the authors') or NAdam (Vitoria et al.) at ``cfg.lr`` with ``cfg.weight_decay``."""
    if cfg.optimizer == "nadam":
        return torch.optim.NAdam(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    return torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)


def build_scheduler(optim: torch.optim.Optimizer, cfg: TrainConfig) -> torch.optim.lr_scheduler.LRScheduler:
    """``LinearLR(start_factor)`` for ``warmup`` steps, then cosine annealing to ``eta_min``.

    ``warmup_cosine`` (the authors'): one ``CosineAnnealingLR`` over ``T_max`` steps; ``cosine_restarts``
    (Vitoria et al.): ``CosineAnnealingWarmRestarts`` with period ``T_max``. Unset (``None``) values come
    from PhenoCell's config; resolve ``cfg`` first for another dataset.
    """
    schedule = cfg.schedule()
    cosine: torch.optim.lr_scheduler.LRScheduler
    if cfg.lr_schedule == "cosine_restarts":  # Vitoria et al.: annealed to eta_min, restarted every period
        cosine = torch.optim.lr_scheduler.CosineAnnealingWarmRestarts(
            optim, T_0=schedule.t_max, eta_min=schedule.eta_min
        )
    else:
        cosine = torch.optim.lr_scheduler.CosineAnnealingLR(
            optim, T_max=schedule.t_max, eta_min=schedule.eta_min
        )
    if schedule.warmup == 0:
        return cosine
    warm = torch.optim.lr_scheduler.LinearLR(
        optim, start_factor=cfg.warmup_start_factor, end_factor=1.0, total_iters=schedule.warmup
    )
    return torch.optim.lr_scheduler.SequentialLR(optim, [warm, cosine], milestones=[schedule.warmup])


def tile_sampling_weights(counts: np.ndarray, mode: str) -> np.ndarray:
    """Per-tile draw weights from (tiles, classes) pixel counts.

    ``class_pixels`` (reference): sum over classes of the tile's share of that class's pixels (background
    included); ``class`` (ours): mean over the foreground classes a tile holds of 1 / (tiles holding the
    class), i.e. pick a class, then a tile holding it; ``uniform``: equal weights.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if mode == "uniform" or counts.sum() == 0:
        return np.full(len(counts), 1.0 / max(len(counts), 1))
    if mode == "class_pixels":
        totals = counts.sum(axis=0, keepdims=True)
        share = np.divide(counts, totals, out=np.zeros_like(counts), where=totals > 0)
        weights = share.sum(axis=1)
    else:
        holders = counts[:, 1:] > 0
        per_class = holders.sum(axis=0)
        classes = max(int((per_class > 0).sum()), 1)
        weights = np.divide(holders, per_class, out=np.zeros_like(counts[:, 1:]), where=per_class > 0)
        weights = weights.sum(axis=1) / classes
        if weights.sum() == 0:
            weights = np.ones(len(counts))
    return weights / weights.sum()
