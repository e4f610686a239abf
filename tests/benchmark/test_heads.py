from __future__ import annotations

import pytest
import torch

from phenocell.benchmark.heads import (
    HEADS,
    CompactUNETRHead,
    ConstantHead,
    HeadInput,
    LinearHead,
    UNETRHead,
    build_head,
)
from phenocell.benchmark.registry import Registry
from phenocell.errors import InvalidOptionError


@pytest.mark.parametrize("patch", [8, 14, 16])
@pytest.mark.parametrize("size", [224, 256, 512])
def test_unetr_and_linear_output_the_image_size(patch: int, size: int) -> None:
    grid = size // patch
    taps = [torch.randn(1, 32, grid, grid) for _ in range(4)]
    image = torch.rand(1, 3, size, size)
    head = CompactUNETRHead(32, 15, width=16, patch_size=patch)
    assert head(HeadInput(image, taps)).shape == (1, 15, size, size)
    assert LinearHead(32, 15)(HeadInput(image, taps[-1:])).shape == (1, 15, size, size)


def test_heads_check_ranks_and_counts() -> None:
    with pytest.raises(ValueError, match="expected 4 taps"):
        CompactUNETRHead(8, 15)(HeadInput(torch.rand(1, 3, 32, 32), [torch.rand(1, 8, 2, 2)]))
    with pytest.raises(ValueError, match="image must be"):
        LinearHead(8, 15)(HeadInput(torch.rand(3, 32, 32), [torch.rand(1, 8, 2, 2)]))


def test_the_head_registry_names_every_head_and_refuses_an_unknown_one() -> None:
    assert HEADS.keys() == ["constant", "linear", "unetr", "unetr-compact"]
    with pytest.raises(InvalidOptionError, match="unknown head 'mlp'") as err:
        build_head("mlp", 8, 15)
    assert "one of constant, linear, unetr, unetr-compact" in str(err.value)
    with pytest.raises(InvalidOptionError, match="a name without '/'"):
        Registry[int]("head", namespaced=False).register("test/linear")


def test_unetr_is_the_authors_decoder_and_unetr_compact_ours() -> None:
    assert isinstance(build_head("unetr", 32, 15, 16), UNETRHead)
    assert isinstance(build_head("unetr-compact", 32, 15, 16), CompactUNETRHead)
    assert isinstance(build_head("linear", 32, 15, 16), LinearHead)
    assert (HEADS.get("unetr").features, HEADS.get("unetr-compact").features) == ("blocks", "blocks")
    assert (HEADS.get("linear").features, HEADS.get("constant").features) == ("last", "last")
    assert [HEADS.get(k).departs_from for k in HEADS] == [None, None, None, "unetr"]


def _conv_widths(block: torch.nn.Module) -> list[int]:
    return [
        m.out_channels for m in block.modules() if isinstance(m, (torch.nn.Conv2d, torch.nn.ConvTranspose2d))
    ]


def test_unetr_decoder_has_the_authors_cellvit_widths_and_blocks() -> None:
    head = UNETRHead(1024, 15)
    assert _conv_widths(head.bottleneck) == [512]
    assert _conv_widths(head.skip3) == [512, 512]  # deconv + conv
    assert _conv_widths(head.skip2) == [512, 512, 256, 256]
    assert _conv_widths(head.skip1) == [512, 512, 256, 256, 128, 128]
    assert _conv_widths(head.stage3) == [512, 512, 512, 256]  # 3 Conv-BN-ReLU at 512, then x2 up
    assert _conv_widths(head.stage2) == [256, 256, 128]
    assert _conv_widths(head.stage1) == [128, 128, 64]
    assert _conv_widths(head.image_skip) == [32, 64]
    assert _conv_widths(head.header) == [64, 64, 15]
    assert head.image_skip[0][0].in_channels == 3
    small = UNETRHead(96, 15)  # the authors' narrower widths below 512 dims
    assert _conv_widths(small.skip1)[::2] == [256, 128, 128] and _conv_widths(small.bottleneck) == [312]


@pytest.mark.parametrize(("patch", "size"), [(14, 224), (16, 224), (8, 64)])
def test_unetr_output_is_the_image_size(patch: int, size: int) -> None:
    grid = size // patch
    head = build_head("unetr", 32, 15, patch)
    assert isinstance(head, UNETRHead)
    out = head(HeadInput(torch.rand(1, 3, size, size), [torch.randn(1, 32, grid, grid) for _ in range(4)]))
    assert out.shape == (1, 15, size, size)


def test_unetr_trains() -> None:
    torch.manual_seed(0)
    head = UNETRHead(16, 15)
    inputs = HeadInput(torch.rand(1, 3, 16, 16), [torch.randn(1, 16, 1, 1) for _ in range(4)])
    target = torch.randint(0, 15, (1, 16, 16))
    optim = torch.optim.AdamW(head.parameters(), lr=1e-3)
    losses = []
    for _ in range(3):
        loss = torch.nn.functional.cross_entropy(head(inputs), target)
        optim.zero_grad()
        loss.backward()
        optim.step()
        losses.append(loss.item())
    assert losses[-1] < losses[0]


def _params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


def test_constant_head_parameters_do_not_depend_on_encoder_width_beyond_the_projection() -> None:
    # Vitoria et al.: 1x1 conv d -> 256, ceil(log2(16)) = 4 blocks of 3x3 conv 256 -> 256, 1x1 conv -> K.
    # By hand for d = 1024, K = 15: (1024*256 + 256) + 4 * (256*256*9 + 256) + (256*15 + 15) = 2_626_575,
    # the paper's "about 2.6 M parameters".
    assert _params(ConstantHead(1024, 15, patch_size=16)) == 2_626_575
    heads = {d: ConstantHead(d, 15, patch_size=16) for d in (384, 768, 1024, 1536)}
    for d, head in heads.items():
        assert head.proj.in_channels == d
        assert _params(head) - _params(head.proj) == 2_626_575 - (1024 * 256 + 256)  # the rest is constant
        assert _params(head) - _params(heads[384]) == (d - 384) * 256  # only the projection's weights grow
    assert len(ConstantHead(1024, 15, patch_size=14).blocks) == 4  # ceil(log2 14) = 4: 16 h > H, resized
    assert len(ConstantHead(1024, 15, patch_size=8).blocks) == 3


def test_constant_head_blocks_are_bilinear_x2_conv3x3_relu_at_width_256() -> None:
    head = ConstantHead(96, 7, patch_size=16)
    for block in head.blocks:
        up, conv, relu = block
        assert isinstance(up, torch.nn.Upsample) and up.scale_factor == 2 and up.mode == "bilinear"
        assert (conv.in_channels, conv.out_channels, conv.kernel_size) == (256, 256, (3, 3))
        assert isinstance(relu, torch.nn.ReLU)
    assert (head.proj.kernel_size, head.proj.out_channels) == ((1, 1), 256)
    assert (head.classify.kernel_size, head.classify.out_channels) == ((1, 1), 7)


@pytest.mark.parametrize(("patch", "size"), [(8, 64), (14, 224), (16, 224)])
def test_constant_head_outputs_the_image_size(patch: int, size: int) -> None:
    grid = size // patch
    head = build_head("constant", 32, 15, patch)
    assert isinstance(head, ConstantHead)
    out = head(HeadInput(torch.rand(2, 3, size, size), [torch.randn(2, 32, grid, grid)]))
    assert out.shape == (2, 15, size, size)
    with pytest.raises(ValueError, match="expected 1 taps"):
        head(HeadInput(torch.rand(1, 3, size, size), [torch.randn(1, 32, grid, grid)] * 4))


def test_a_head_that_reads_no_image_gives_the_same_logits_without_it() -> None:
    torch.manual_seed(0)
    image, taps = torch.rand(2, 3, 64, 64), [torch.randn(2, 32, 4, 4) for _ in range(4)]
    for name in ("linear", "constant"):
        assert not HEADS.get(name).reads_image
        head = build_head(name, 32, 15, 16)
        without = head(HeadInput(None, taps[-1:], input_size=64))
        assert without.shape == (2, 15, 64, 64) and torch.equal(head(HeadInput(image, taps[-1:])), without)
    for name in ("unetr", "unetr-compact"):
        assert HEADS.get(name).reads_image
        head = build_head(name, 32, 15, 16)
        assert head(HeadInput(image, taps)).shape == (2, 15, 64, 64)
        with pytest.raises(ValueError, match="reads the image"):
            head(HeadInput(None, taps, input_size=64))
