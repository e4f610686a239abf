"""Head training on frozen features: paper defaults, seeded, early stopping on validation pixel macro F1."""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from phenocell.benchmark.data import SplitTiles
from phenocell.benchmark.features import FeatureSource
from phenocell.benchmark.metrics import CellVotes, K, confusion, macro_f1
from phenocell.errors import check_choice
from phenocell.schema import IGNORE_INDEX


@dataclass
class TrainConfig:
    """Training options; defaults are the paper's (10k steps, batch 64, AdamW 3e-5, wd 0.03, ...)."""

    steps: int = 10_000
    batch_size: int = 64
    lr: float = 3e-5
    weight_decay: float = 0.03
    warmup: int = 1_000
    eta_min: float = 1e-6
    label_smoothing: float = 0.05
    class_weighting: str = "inverse"
    background: str = "exclude"
    sampling: str = "class"
    augment: str = "flips"
    val_every: int = 200
    patience: int = 10
    train_fraction: float = 1.0
    seed: int = 0

    def validate(self) -> None:
        """Check the choice options."""
        check_choice("class_weighting", self.class_weighting, ("inverse", "none"))
        check_choice("background", self.background, ("exclude", "include"))
        check_choice("sampling", self.sampling, ("class", "uniform"))
        check_choice("augment", self.augment, ("flips", "none"))


def lr_lambda(cfg: TrainConfig) -> Any:
    """Linear warm-up to ``lr`` then cosine decay to ``eta_min`` (as a factor of ``lr``)."""
    floor = cfg.eta_min / cfg.lr

    def factor(step: int) -> float:
        if step < cfg.warmup:
            return (step + 1) / cfg.warmup
        progress = (step - cfg.warmup) / max(1, cfg.steps - cfg.warmup)
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    return factor


def class_weights(tiles: SplitTiles, cfg: TrainConfig) -> torch.Tensor:
    """Inverse-frequency weights over train pixels (classes present), normalised to mean 1; or ones."""
    counts = torch.bincount(tiles.semantic.flatten().long(), minlength=256)[:K].double()
    weights = torch.ones(K, dtype=torch.float64)
    if cfg.class_weighting == "inverse":
        present = counts > 0
        weights[present] = counts[present].sum() / counts[present]
        weights[1:] = weights[1:] / weights[1:][present[1:]].mean()
    return weights.float()


class Sampler:
    """Tile sampler: uniform, or class-uniform (pick a class present in train, then a tile holding it)."""

    def __init__(self, tiles: SplitTiles, mode: str, rng: np.random.Generator) -> None:
        self.rng, self.n = rng, len(tiles)
        self.by_class: list[np.ndarray] = []
        if mode == "class":
            for c in range(1, K):
                holders = np.flatnonzero((tiles.semantic == c).flatten(1).any(dim=1).numpy())
                if len(holders):
                    self.by_class.append(holders)

    def __call__(self, size: int) -> torch.Tensor:
        """Indices of ``size`` tiles."""
        if not self.by_class:
            return torch.from_numpy(self.rng.integers(0, self.n, size))
        picks = self.rng.integers(0, len(self.by_class), size)
        return torch.from_numpy(np.array([self.rng.choice(self.by_class[p]) for p in picks]))


def _augment(inputs: Any, target: torch.Tensor, rng: np.random.Generator) -> tuple[Any, torch.Tensor]:
    """Random flips / 90° rotations applied jointly to token grids, image and labels."""
    k, flip = int(rng.integers(0, 4)), bool(rng.integers(0, 2))

    def t(x: torch.Tensor) -> torch.Tensor:
        x = torch.rot90(x, k, dims=(-2, -1))
        return torch.flip(x, dims=(-1,)) if flip else x

    inputs.image, inputs.taps = t(inputs.image), [t(g) for g in inputs.taps]
    return inputs, t(target)


def _targets(semantic: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    target = semantic.long().clone()
    if cfg.background == "exclude":
        target[target == 0] = IGNORE_INDEX
    return target


@torch.no_grad()
def evaluate(head: nn.Module, source: FeatureSource, batch_size: int = 32) -> dict[str, Any]:
    """Pixel and cell confusion matrices and macro F1 of ``head`` over a whole split."""
    head.eval()
    pixel = np.zeros((K, K), dtype=np.int64)
    votes = CellVotes()
    tiles = source.tiles
    for start in range(0, len(tiles), batch_size):
        index = torch.arange(start, min(start + batch_size, len(tiles)))
        logits = head(source.batch(index))
        logits = F.interpolate(logits, size=tiles.semantic.shape[-2:], mode="bilinear", align_corners=False)
        pred = logits.argmax(1).numpy()
        pixel += confusion(tiles.semantic[index].numpy(), pred)
        for j, i in enumerate(index.tolist()):
            votes.add_tile(tiles.instance[i].numpy(), pred[j], tiles.cell_ids[i], tiles.cell_labels[i])
    cells = votes.confusion()
    head.train()
    return {
        "pixel_macro_f1": macro_f1(pixel),
        "cell_macro_f1": macro_f1(cells),
        "pixel_confusion": pixel,
        "cell_confusion": cells,
    }


def train_head(
    head: nn.Module, train: FeatureSource, val: FeatureSource, cfg: TrainConfig, log: Any = print
) -> dict[str, Any]:
    """Train ``head``; keep the state with the best validation pixel macro F1. Returns the history."""
    cfg.validate()
    rng = np.random.default_rng(cfg.seed)
    torch.manual_seed(cfg.seed)
    sampler = Sampler(train.tiles, cfg.sampling, rng)
    loss_fn = nn.CrossEntropyLoss(
        weight=class_weights(train.tiles, cfg), ignore_index=IGNORE_INDEX, label_smoothing=cfg.label_smoothing
    )
    optim = torch.optim.AdamW(head.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(optim, lr_lambda(cfg))
    best: dict[str, Any] = {"score": -1.0, "step": 0, "state": copy.deepcopy(head.state_dict())}
    history, bad_evals, started = [], 0, time.perf_counter()
    head.train()
    for step in range(1, cfg.steps + 1):
        index = sampler(cfg.batch_size)
        inputs, target = train.batch(index), _targets(train.tiles.semantic[index], cfg)
        if cfg.augment == "flips":
            inputs, target = _augment(inputs, target, rng)
        logits = F.interpolate(head(inputs), size=target.shape[-2:], mode="bilinear", align_corners=False)
        loss = loss_fn(logits, target)
        optim.zero_grad(set_to_none=True)
        if torch.isfinite(loss) and loss.requires_grad:
            loss.backward()
            optim.step()
        sched.step()
        if step % cfg.val_every == 0 or step == cfg.steps:
            score = evaluate(head, val)["pixel_macro_f1"]
            history.append({"step": step, "loss": loss.item(), "val_pixel_macro_f1": score})
            log(f"step {step:6d}  loss {loss.item():.4f}  val pixel_macro_f1 {score:.4f}")
            if score > best["score"]:
                best, bad_evals = {"score": score, "step": step, "state": copy.deepcopy(head.state_dict())}, 0
            else:
                bad_evals += 1
                if bad_evals >= cfg.patience:
                    log(f"early stop at step {step} (best {best['score']:.4f} at step {best['step']})")
                    break
    head.load_state_dict(best["state"])
    return {
        "history": history,
        "best_step": best["step"],
        "best_val_pixel_macro_f1": best["score"],
        "train_seconds": time.perf_counter() - started,
        "steps_run": step,
    }
