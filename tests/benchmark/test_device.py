"""Device and precision choice: CUDA where asked and present, a typed error naming CUDA where absent."""

from __future__ import annotations

import pytest
import torch

from phenocell.benchmark.device import DeviceUnavailableError, resolve_device, resolve_precision
from phenocell.errors import InvalidOptionError


def test_auto_and_cpu() -> None:
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert resolve_device("auto").type == expected
    assert resolve_device("cpu") == torch.device("cpu")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has CUDA")
@pytest.mark.parametrize("spec", ["cuda", "cuda:1"])
def test_cuda_without_cuda_is_a_typed_error(spec: str) -> None:
    with pytest.raises(DeviceUnavailableError, match="CUDA"):
        resolve_device(spec)


def test_precision_defaults() -> None:
    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu).name == "fp32"
    assert resolve_precision("bf16", cpu).dtype == torch.bfloat16
    assert resolve_precision("auto", torch.device("cuda")).name == "fp16"
    assert resolve_precision("fp16", torch.device("cuda")).scaled
    with pytest.raises(InvalidOptionError, match="fp16 autocast needs a CUDA device"):
        resolve_precision("fp16", cpu)
