"""Device and precision choice: CUDA where asked and present, a typed error naming CUDA where absent."""

from __future__ import annotations

import pytest
import torch

from phenocell.benchmark.device import DeviceUnavailableError, resolve_device, resolve_precision
from phenocell.errors import InvalidOptionError


@pytest.mark.parametrize(("cuda", "expected"), [(True, "cuda"), (False, "cpu")])
def test_auto_follows_cuda_availability_and_cpu_is_always_cpu(
    monkeypatch: pytest.MonkeyPatch, cuda: bool, expected: str
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda)
    assert resolve_device("auto") == torch.device(expected)
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_a_typed_error(monkeypatch: pytest.MonkeyPatch, spec: str) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(DeviceUnavailableError, match="CUDA"):
        resolve_device(spec)


def test_a_missing_gpu_index_names_the_existing_ones(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)
    assert resolve_device("cuda:1") == torch.device("cuda", 1)
    with pytest.raises(DeviceUnavailableError, match=r"(?s)cuda:3.*cuda:0 \.\. cuda:1"):
        resolve_device("cuda:3")


def test_precision_defaults() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu).name == "fp32"
    assert resolve_precision("bf16", cpu).dtype == torch.bfloat16
    assert resolve_precision("auto", torch.device("cuda")).name == "fp16"
    assert resolve_precision("fp16", torch.device("cuda")).scaled
    with pytest.raises(InvalidOptionError, match="fp16 autocast needs a CUDA device"):
        resolve_precision("fp16", cpu)
