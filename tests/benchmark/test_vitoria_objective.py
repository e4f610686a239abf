"""Vitoria et al.'s training pieces: CE + soft Dice, NAdam, the epoch sampler, affine + colour jitter."""

from __future__ import annotations

import pytest
import torch

from phenocell.benchmark.augment import Augmenter
from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.objective import ClassWeightedLoss, build_optimizer, soft_dice_loss
from phenocell.benchmark.train import EpochShuffle, sampler_for


def test_soft_dice_by_hand_on_a_confident_prediction() -> None:
    # 2 classes, 4 pixels: target [0, 0, 1, 255]; logits make p(class 1) = 1 on pixels 2 and 3, 0 elsewhere
    target = torch.tensor([[[0, 0, 1, 255]]])
    logits = torch.tensor([[[[50.0, 50.0, -50.0, -50.0]], [[-50.0, -50.0, 50.0, 50.0]]]])
    # valid pixels 0..2: class 0 Dice 2*2/(2+2) = 1, class 1 Dice 2*1/(1+1) = 1 -> loss 0
    assert soft_dice_loss(logits, target, exclude=[]).item() == pytest.approx(0.0, abs=1e-6)
    wrong = -logits  # every valid pixel on the other class: Dice 0 for both
    assert soft_dice_loss(wrong, target, exclude=[]).item() == pytest.approx(1.0, abs=1e-6)
    half = torch.zeros_like(
        logits
    )  # p = 1/2 everywhere: class 0: 2*1/(1.5+2) = 4/7, class 1: 2*0.5/(1.5+1) = 0.4
    expected = 1 - (4 / 7 + 0.4) / 2
    assert soft_dice_loss(half, target, exclude=[]).item() == pytest.approx(expected, abs=1e-6)
    assert soft_dice_loss(half, target, exclude=[0]).item() == pytest.approx(1 - 0.4, abs=1e-6)


def test_ce_dice_loss_is_the_sum_of_both_terms() -> None:
    torch.manual_seed(0)
    logits = torch.randn(2, 3, 8, 8)
    target = torch.randint(0, 3, (2, 8, 8))
    plain = TrainConfig(class_weighting="none", label_smoothing=0.0, background="include")
    both = TrainConfig(class_weighting="none", label_smoothing=0.0, background="include", loss="ce_dice")
    ce = torch.nn.functional.cross_entropy(logits, target)
    assert ClassWeightedLoss(plain, 3)(logits, target).item() == pytest.approx(ce.item(), rel=1e-5)
    total = ce + soft_dice_loss(logits, target, exclude=[])
    assert ClassWeightedLoss(both, 3)(logits, target).item() == pytest.approx(total.item(), rel=1e-5)


def test_optimiser_choice() -> None:
    params = [torch.nn.Parameter(torch.zeros(2))]
    nadam = build_optimizer(params, TrainConfig(optimizer="nadam", lr=1e-4, weight_decay=0.0))
    assert isinstance(nadam, torch.optim.NAdam) and nadam.param_groups[0]["lr"] == 1e-4
    assert isinstance(build_optimizer(params, TrainConfig()), torch.optim.AdamW)


def test_epoch_shuffle_draws_every_tile_once_per_epoch() -> None:
    draws = list(EpochShuffle(5, 12, torch.Generator().manual_seed(0)))
    assert len(draws) == 12
    assert sorted(draws[:5]) == sorted(draws[5:10]) == [0, 1, 2, 3, 4]  # two full epochs
    assert draws[:5] != draws[5:10]  # a new order each epoch
    assert len(set(draws[10:])) == 2  # the partial third epoch repeats nothing
    counts = torch.zeros(5, 16).numpy()
    sampler = sampler_for(counts, TrainConfig(sampling="shuffle", steps=3, batch_size=2, seed=1))
    assert isinstance(sampler, EpochShuffle) and len(list(sampler)) == 6


def test_affine_jitter_changes_colours_and_warps_masks_alike() -> None:
    torch.manual_seed(0)
    aug = Augmenter("affine_jitter")
    image = torch.rand(2, 3, 32, 32)
    semantic = torch.zeros(2, 32, 32, dtype=torch.uint8)
    semantic[:, 8:24, 8:24] = 3
    instance = semantic.to(torch.int32)
    out, sem, inst = aug(image, semantic, instance)
    assert out.shape == image.shape and not torch.allclose(out, image)
    assert torch.equal(sem.to(torch.int32), inst)  # both maps warped by the same affine
    assert set(sem.unique().tolist()) <= {0, 3}
