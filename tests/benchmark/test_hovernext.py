"""``baseline/hovernext``: architecture at test size, focal loss, weights handling, end-to-end gradients."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch.nn import functional as F

from phenocell.benchmark.hovernext import HUB_ID, HoverNextConfig, HoverNextUNet, focal_loss
from phenocell.errors import InvalidInputError, MissingInputError
from phenocell.schema import IGNORE_INDEX


@pytest.fixture(scope="module")
def tiny() -> HoverNextUNet:
    return HoverNextUNet(HoverNextConfig().small(), 7)


def test_full_resolution_logits_over_all_classes(tiny: HoverNextUNet) -> None:
    logits = tiny(torch.rand(2, 3, 70, 48))  # not a multiple of 32: padded inside, cropped back
    assert logits.shape == (2, 7, 70, 48)
    assert [b.convs[0].out_channels for b in tiny.blocks] == [256, 128, 64, 32, 16]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in tiny.modules())
    assert tiny.weights_id == "random:seed=0" and HoverNextConfig().model == HUB_ID
    with pytest.raises(ValueError, match="expected images"):
        tiny(torch.rand(2, 1, 32, 32))


def test_encoder_is_trained_end_to_end(tiny: HoverNextUNet) -> None:
    tiny.zero_grad()
    target = torch.randint(0, 7, (1, 32, 32))
    focal_loss(tiny(torch.rand(1, 3, 32, 32)), target).backward()
    grads = [p.grad for p in tiny.encoder.parameters()]
    assert all(p.requires_grad for p in tiny.encoder.parameters())
    assert any(g is not None and bool(g.abs().sum() > 0) for g in grads)


def test_focal_loss_is_cross_entropy_at_gamma_zero_and_skips_ignore() -> None:
    logits = torch.randn(2, 4, 5, 5)
    target = torch.randint(0, 4, (2, 5, 5))
    assert torch.allclose(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits, target))
    assert focal_loss(logits, target) < F.cross_entropy(logits, target)  # easy pixels down-weighted
    target[0] = IGNORE_INDEX
    assert torch.allclose(focal_loss(logits, target, gamma=0.0), F.cross_entropy(logits[1:], target[1:]))
    assert float(focal_loss(logits, torch.full_like(target, IGNORE_INDEX))) == 0.0


def test_weights_must_be_an_existing_safetensors(tmp_path: Path) -> None:
    small = HoverNextConfig().small()
    with pytest.raises(InvalidInputError, match="safetensors"):
        HoverNextUNet(small, 3, weights=tmp_path / "model.pt")
    with pytest.raises(MissingInputError, match="weights file"):
        HoverNextUNet(small, 3, weights=tmp_path / "model.safetensors")


def test_local_safetensors_weights_load_into_the_encoder(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from phenocell.benchmark.compat import import_timm

    small = HoverNextConfig().small()
    full = import_timm().create_model(small.model, pretrained=False, **small.timm_kwargs)
    save_file(full.state_dict(), str(tmp_path / "model.safetensors"))
    model = HoverNextUNet(small, 3, weights=tmp_path / "model.safetensors")
    assert model.weights_id.startswith("sha256:")
    assert torch.equal(model.encoder.stem_0.weight, full.stem[0].weight)
