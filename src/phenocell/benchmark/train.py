"""Head training on a frozen encoder with the authors' protocol (see :mod:`phenocell.benchmark.config`).

AdamW or NAdam, ``LinearLR`` warm-up then cosine (:func:`~phenocell.benchmark.objective.build_scheduler`),
gradient clipping, mixed precision on CUDA (fp16 autocast + GradScaler, or bf16), validation every
``val_every`` steps on ``cfg.selection`` (the authors' ``cell_macro_f1`` by default), early stop after
``early_stop`` steps without improvement, and the best validation state restored at the end.
"""

from __future__ import annotations

import copy
import time
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader, Sampler, WeightedRandomSampler

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.evaluate import Pipeline, evaluate, tile_logits
from phenocell.benchmark.metric_names import METRICS
from phenocell.benchmark.objective import build_optimizer, build_scheduler, tile_sampling_weights
from phenocell.benchmark.progress import Progress, full_protocol_on_cpu
from phenocell.loaders.tiles import SplitIndex

__all__ = ["TrainConfig", "sampler_for", "train_head", "train_step"]


def sampler_for(counts: np.ndarray, cfg: TrainConfig) -> Sampler[int]:
    """Draw ``steps x batch_size`` tiles with replacement, weighted as ``cfg.sampling`` says.

    ``shuffle`` (Vitoria et al.'s epochs) draws without replacement within each epoch instead.

    ``counts`` is (tiles, 16): classes 0..14 then ignore; ignore pixels count as background here, as in the
    authors' data (which has no ignore value).
    """
    generator = torch.Generator().manual_seed(cfg.seed)
    schedule = cfg.schedule()
    draws = schedule.steps * schedule.batch_size
    if cfg.sampling == "shuffle":
        return EpochShuffle(len(counts), draws, generator)
    per_class = counts[:, :15].copy()
    per_class[:, 0] += counts[:, 15]
    weights = tile_sampling_weights(per_class, cfg.sampling)
    return WeightedRandomSampler(weights.tolist(), draws, replacement=True, generator=generator)


class EpochShuffle(Sampler[int]):
    """``draws`` tile indices, epoch after epoch: each epoch every tile once, in a new seeded order."""

    def __init__(self, tiles: int, draws: int, generator: torch.Generator) -> None:
        self.tiles, self.draws, self.generator = tiles, draws, generator

    def __len__(self) -> int:
        return self.draws

    def __iter__(self) -> Iterator[int]:
        done = 0
        while done < self.draws:
            order = torch.randperm(self.tiles, generator=self.generator)[: self.draws - done]
            yield from order.tolist()
            done += len(order)


def train_step(
    head: nn.Module,
    batch: dict[str, Any],
    pipe: Pipeline,
    loss_fn: nn.Module,
    optim: torch.optim.Optimizer,
    scaler: torch.amp.GradScaler,
    cfg: TrainConfig,
) -> float:
    """One optimisation step on ``batch`` (augmented, encoded, scaled, clipped); returns the loss."""
    inputs, semantic, _ = pipe.inputs(batch, augment=True)
    target = semantic.long()
    loss = loss_fn(tile_logits(head, inputs, tuple(target.shape[-2:]), pipe.precision), target)
    optim.zero_grad(set_to_none=True)
    scaler.scale(loss).backward()
    if cfg.grad_clip > 0:
        scaler.unscale_(optim)
        nn.utils.clip_grad_norm_(trained_parameters(head), cfg.grad_clip)
    scaler.step(optim)
    scaler.update()
    return float(loss.item())


def trained_parameters(module: nn.Module) -> list[nn.Parameter]:
    """The parameters the optimiser updates: those that require gradients (a frozen encoder's do not)."""
    return [p for p in module.parameters() if p.requires_grad]


def train_head(
    head: nn.Module,
    train: DataLoader[dict[str, Any]],
    val: tuple[DataLoader[dict[str, Any]], SplitIndex],
    pipe: Pipeline,
    loss_fn: nn.Module,
    cfg: TrainConfig,
    log: Any = print,
    progress: bool = False,
    *,
    classes: int,
) -> dict[str, Any]:
    """Train ``head`` on ``train`` batches; keep the state with the best validation ``cfg.selection``.

    ``classes`` is the dataset's class-id count (background included), the size of the validation metrics.

    ``head`` is what the optimiser sees: a head alone (frozen encoder), or a module that holds a trainable
    encoder too (every parameter that requires gradients trains, at ``cfg.lr``). ``progress`` shows a bar
    over the steps; validation lines and the CPU cost estimate go to ``log``.
    """
    optim = build_optimizer(trained_parameters(head), cfg)
    sched = build_scheduler(optim, cfg)
    steps, early_stop = cfg.schedule().steps, cfg.schedule().early_stop
    scaler = pipe.precision.scaler()
    best: dict[str, Any] = {"score": -1.0, "step": 0, "state": copy.deepcopy(head.state_dict())}
    history: list[dict[str, Any]] = []
    step, started = 0, time.perf_counter()
    shown = Progress(cfg, log, bar=progress, estimate=full_protocol_on_cpu(cfg, pipe.device.type))
    head.train()
    for batch in train:
        step += 1
        loss = train_step(head, batch, pipe, loss_fn, optim, scaler, cfg)
        sched.step()
        shown.step(step, loss)
        if step % cfg.val_every and step != steps:
            continue
        metrics = evaluate(head, val[0], pipe, val[1], classes, progress)
        score = metrics[cfg.selection]
        history.append({"step": step, "loss": loss, **{k: metrics[k] for k in METRICS}})
        shown.validated(score)
        shown.say(f"step {step:6d}  loss {loss:.4f}  val {cfg.selection} {score:.4f}")
        if score > best["score"]:
            best = {"score": score, "step": step, "state": copy.deepcopy(head.state_dict())}
        elif early_stop and step - best["step"] >= early_stop:
            shown.say(f"early stop at step {step} (best {best['score']:.4f} at step {best['step']})")
            break
        if step >= steps:
            break
    shown.close()
    head.load_state_dict(best["state"])
    return {
        "history": history,
        "best_step": best["step"],
        f"best_val_{cfg.selection}": best["score"],
        "train_seconds": time.perf_counter() - started,
        "steps_run": step,
    }
