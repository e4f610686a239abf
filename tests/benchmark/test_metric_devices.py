"""Metric accumulators on a CUDA device, simulated on this CPU (``simulated_device``): no device mixing.

On a GPU, ``evaluate`` hands the metrics CUDA probabilities and masks; a host tensor mixed into a device
computation raises there. These tests feed the same code simulated CUDA tensors, which raise the same
error, and check the results equal those of CPU tensors.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.evaluate import SplitScores
from phenocell.benchmark.metrics import fragment_samples
from phenocell.benchmark.objective import ClassWeightedLoss
from phenocell.loaders.tiles import TileDataset, load_index, make_loader
from tests.benchmark.simulated_device import on_cuda, simulated_cuda


def _tile(seed: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    instance = torch.randint(0, 6, (16, 16), generator=gen, dtype=torch.int32)
    semantic = torch.randint(0, 15, (16, 16), generator=gen).to(torch.uint8)
    semantic[0, :4] = 255  # ignore pixels
    probs = torch.rand(15, 16, 16, generator=gen).softmax(dim=0)
    return instance, semantic, probs


def test_the_simulated_device_raises_on_mixed_devices_as_cuda_does() -> None:
    with simulated_cuda(), pytest.raises(RuntimeError, match="same device"):
        torch.stack([on_cuda(torch.zeros(3)), torch.zeros(3)])
    with pytest.raises(RuntimeError):
        on_cuda(torch.zeros(3)).numpy()


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fragment_samples_on_cuda_tensors_equal_the_cpu_result(seed: int) -> None:
    instance, semantic, probs = _tile(seed)
    expected = fragment_samples(instance, semantic, probs)
    assert len(expected) > 0
    with simulated_cuda():
        got = fragment_samples(on_cuda(instance), on_cuda(semantic), on_cuda(probs))
    assert isinstance(got, np.ndarray) and np.array_equal(got, expected)


def test_class_weighted_loss_on_cuda_tensors_equals_the_cpu_loss() -> None:
    _, semantic, probs = _tile(3)
    logits, target = probs.log().unsqueeze(0), semantic.long().unsqueeze(0)
    loss_cpu = ClassWeightedLoss(TrainConfig(), 15)
    expected = loss_cpu(logits, target)
    loss_cuda = ClassWeightedLoss(TrainConfig(), 15)
    with simulated_cuda():
        got = loss_cuda(on_cuda(logits), on_cuda(target))
        assert got.device.type == "cuda"
        value = got.cpu()
    assert torch.allclose(value, expected)
    assert torch.equal(loss_cuda.ema, loss_cpu.ema)  # the EMA accumulator stays on the host


def test_split_scores_of_a_cuda_batch_equal_those_of_the_cpu_batch(dataset_dir: Path) -> None:
    index = load_index(dataset_dir, "base", "test")
    batch = next(iter(make_loader(TileDataset(index), batch_size=4, workers=0, pin_memory=False)))
    semantic, instance = batch["semantic"], batch["instance"]
    probs = torch.rand(len(semantic), 15, *semantic.shape[-2:], generator=torch.Generator().manual_seed(0))
    probs = probs.softmax(dim=1)
    cpu = SplitScores(index, 15)
    cpu.add_batch(batch, probs, semantic, instance)
    cuda = SplitScores(index, 15)
    with simulated_cuda():
        cuda.add_batch(batch, on_cuda(probs), on_cuda(semantic), on_cuda(instance))
    expected, got = cpu.result(), cuda.result()
    assert expected["cell_confusion"].sum() > 0
    for name in ("cell_confusion", "cell_unique_confusion", "pixel_confusion"):
        assert np.array_equal(got[name], expected[name]), name
