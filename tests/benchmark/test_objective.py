"""The authors' loss weighting, LR schedule and tile sampler, each against its formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.objective import (
    ClassWeightedLoss,
    build_scheduler,
    ema_softmax_weights,
    tile_sampling_weights,
)


def lrs(cfg: TrainConfig, steps: list[int]) -> dict[int, float]:
    optim = torch.optim.AdamW([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    sched = build_scheduler(optim, cfg)
    seen = {}
    for step in range(max(steps) + 1):
        if step in steps:
            seen[step] = optim.param_groups[0]["lr"]
        optim.step()
        sched.step()
    return seen


def test_lr_schedule_warmup_then_cosine_at_reference_values() -> None:
    cfg = TrainConfig()  # unset: PhenoCell's config_unetr_schuerch.yaml (warm-up 1000, T_max 20000, 1e-6)
    got = lrs(cfg, [0, 999, 1000, 19_999])
    assert math.isclose(got[0], 0.1 * 3e-5)  # LinearLR start_factor 0.1
    assert math.isclose(got[999], 3e-5 * (0.1 + 0.9 * 999 / 1000))
    assert math.isclose(got[1000], 3e-5)  # cosine restarts at the base lr
    t = 19_999 - 1000  # the cosine counts from the milestone, T_max = 20000
    expected_end = 1e-6 + (3e-5 - 1e-6) * (1 + math.cos(math.pi * t / 20_000)) / 2
    assert math.isclose(got[19_999], expected_end, rel_tol=1e-6)


def test_t_max_is_its_own_option_not_the_step_count() -> None:
    # PanNuke's config: 20000 steps, T_max 10000, eta_min 1e-7: the cosine reaches its floor 10000 steps
    # after the warm-up and climbs back to the base lr after 20000
    cfg = TrainConfig(steps=20_000, warmup=1000, t_max=10_000, eta_min=1e-7)
    got = lrs(cfg, [11_000, 20_999])
    assert math.isclose(got[11_000], 1e-7, rel_tol=1e-6)
    assert math.isclose(got[20_999], 3e-5, rel_tol=1e-6)


def test_ema_softmax_class_weights_match_formula_and_ratio_bound() -> None:
    cfg = TrainConfig()
    loss = ClassWeightedLoss(cfg, 15)
    freq = np.array([5000, 100, 10, 1, 0, 300, 0, 0, 0, 0, 0, 0, 50, 0, 0])
    target = torch.from_numpy(np.repeat(np.arange(15), freq)).view(1, 1, -1)
    for _ in range(3):
        loss.update(target)
    ema = np.full(15, 1e-6)
    for _ in range(3):
        ema = 0.99 * ema + 0.01 * freq
    inverse = 1 / (ema + 1e-6)
    normalised = inverse / inverse.sum()
    normalised[0] = 0.0
    expected = np.exp(normalised) / np.exp(normalised).sum()
    got = loss.weights().numpy()
    assert np.allclose(got, expected)
    assert got.max() / got.min() <= math.e + 1e-9
    assert np.allclose(ema_softmax_weights(torch.from_numpy(ema), [0]).numpy(), expected)


def test_loss_excludes_background_and_divides_by_counted_pixels() -> None:
    cfg = TrainConfig(class_weighting="none", label_smoothing=0.0)
    logits = torch.randn(1, 15, 2, 3)
    target = torch.tensor([[[0, 3, 3], [255, 7, 0]]])
    got = ClassWeightedLoss(cfg, 15)(logits, target)
    per_pixel = F.cross_entropy(logits, target.clamp(max=14), reduction="none")
    counted = (target != 0) & (target != 255)
    assert torch.isclose(got, per_pixel[counted].sum() / counted.sum())


def test_reference_sampler_weights_are_class_pixel_shares() -> None:
    counts = np.array([[90, 10, 0], [10, 0, 5], [0, 0, 0]])  # 3 tiles x 3 classes (background first)
    got = tile_sampling_weights(counts, "class_pixels")
    raw = np.array([0.9 + 1.0 + 0.0, 0.1 + 0.0 + 1.0, 0.0])  # sum_c tile pixels_c / all pixels_c
    assert np.allclose(got, raw / raw.sum())
    assert np.allclose(tile_sampling_weights(counts, "uniform"), 1 / 3)
    assert np.allclose(tile_sampling_weights(counts, "class"), [0.5, 0.5, 0.0])


def test_defaults_are_the_authors_protocol() -> None:
    cfg = TrainConfig().resolved()
    assert (cfg.steps, cfg.batch_size, cfg.lr, cfg.weight_decay) == (20_000, 128, 3e-5, 0.03)
    assert (cfg.warmup, cfg.warmup_start_factor, cfg.eta_min, cfg.grad_clip) == (1000, 0.1, 1e-6, 2.0)
    assert (cfg.val_every, cfg.early_stop, cfg.seed, cfg.label_smoothing) == (200, 1200, 42, 0.05)
    assert (cfg.t_max, cfg.encoder_training, cfg.image_scale) == (20_000, "frozen", "tile_max")
    assert (cfg.class_weighting, cfg.sampling, cfg.augment, cfg.selection) == (
        "ema_softmax",
        "class_pixels",
        "reference",
        "cell_macro_f1",
    )
    assert (cfg.linear_input, cfg.unetr_taps, cfg.precision) == ("final_norm", "last4", "auto")
    assert cfg.departures() == {} and TrainConfig().departures() == {}
    assert TrainConfig(augment="flips").departures() == {
        "augment": {"value": "flips", "reference": "reference"}
    }
    assert TrainConfig(image_scale="unit").departures() == {
        "image_scale": {"value": "unit", "reference": "tile_max"}
    }


@pytest.mark.parametrize(
    ("kw", "match"),
    [
        ({"sampling": "nope"}, "class_pixels"),
        ({"device": "tpu"}, "cuda:N"),
        ({"train_fraction": 0.3}, "0.05"),
        ({"steps": 0}, "steps"),
    ],
)
def test_invalid_options_name_the_valid_ones(kw: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        TrainConfig(**kw)  # type: ignore[arg-type]
