from __future__ import annotations

import pytest
import torch

from phenocell.benchmark.heads import HeadInput, LinearHead, UNETRHead, build_head


@pytest.mark.parametrize("patch", [8, 14, 16])
@pytest.mark.parametrize("size", [224, 256, 512])
def test_unetr_and_linear_output_the_image_size(patch: int, size: int) -> None:
    grid = size // patch
    taps = [torch.randn(1, 32, grid, grid) for _ in range(4)]
    image = torch.rand(1, 3, size, size)
    head = UNETRHead(32, 15, width=16, patch_size=patch)
    assert head(HeadInput(image, taps)).shape == (1, 15, size, size)
    assert LinearHead(32, 15)(HeadInput(image, taps[-1:])).shape == (1, 15, size, size)


def test_heads_check_ranks_and_counts() -> None:
    with pytest.raises(ValueError, match="expected 4 taps"):
        UNETRHead(8, 15)(HeadInput(torch.rand(1, 3, 32, 32), [torch.rand(1, 8, 2, 2)]))
    with pytest.raises(ValueError, match="image must be"):
        LinearHead(8, 15)(HeadInput(torch.rand(3, 32, 32), [torch.rand(1, 8, 2, 2)]))
    with pytest.raises(ValueError, match="one of 'linear', 'unetr'"):
        build_head("mlp", 8, 15)
