"""The CPU's banded resampling against torch's kernels: bilinear upsampling, values and gradients."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from phenocell.benchmark.resample import upsample

SHAPES = [
    ((2, 15, 16, 16), (128, 128)),  # a linear head's patch-8 grid to a 128 px input
    ((2, 15, 128, 128), (256, 256)),  # a head's logits to a 256 px tile
    ((1, 7, 16, 16), (224, 224)),  # patch 14: a non-integer factor
    ((1, 3, 20, 30), (100, 64)),  # not square, different factors
    ((1, 5, 256, 256), (224, 224)),  # smaller: a ConstantHead's patch-14 overshoot, cut back to the input
    ((1, 2, 20, 30), (7, 64)),  # one axis smaller, the other larger
]


@pytest.mark.parametrize(("shape", "size"), SHAPES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_upsampling_and_its_gradient_equal_interpolate(shape, size, dtype) -> None:
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(shape, generator=generator, dtype=dtype, requires_grad=True)
    grad = torch.randn((*shape[:2], *size), generator=generator, dtype=dtype)
    expected = F.interpolate(x, size=size, mode="bilinear", align_corners=False)
    got = upsample(x, size)
    tol = 1e-5 if dtype == torch.float32 else 1e-12
    assert got.shape == expected.shape and got.dtype == dtype
    assert torch.allclose(got, expected, atol=tol, rtol=0), (got - expected).abs().max()
    (want,) = torch.autograd.grad(expected, x, grad)
    (have,) = torch.autograd.grad(got, x, grad)
    assert torch.allclose(have, want, atol=tol * 10, rtol=0), (have - want).abs().max()


def test_the_same_size_is_returned_as_it_is_and_autocast_gives_float32() -> None:
    x = torch.randn(1, 4, 8, 8)
    assert upsample(x, (8, 8)) is x
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = upsample(x.bfloat16(), (32, 32))
    expected = F.interpolate(x.bfloat16().float(), size=(32, 32), mode="bilinear", align_corners=False)
    assert out.dtype == torch.float32 and torch.allclose(out, expected, atol=1e-5, rtol=0)
    plain = upsample(x.bfloat16(), (32, 32))  # no autocast: the dtype it came in
    assert plain.dtype == torch.bfloat16 and torch.allclose(plain.float(), expected, atol=1e-2, rtol=0)


def test_cuda_takes_torch_kernels_and_the_cpu_the_bands(monkeypatch: pytest.MonkeyPatch) -> None:
    from phenocell.benchmark import resample
    from phenocell.benchmark.device import kernel_resize

    assert kernel_resize(torch.device("cuda:0")) and not kernel_resize(torch.device("cpu"))
    banded: list[int] = []
    real = resample._separable
    monkeypatch.setattr(resample, "_separable", lambda *a: banded.append(1) or real(*a))
    x = torch.rand(2, 3, 64, 64)
    resample.resize(x, 32)
    upsample(x, (96, 96))
    assert len(banded) == 2  # the CPU: both by bands
    monkeypatch.setattr(resample, "kernel_resize", lambda device: True)  # as on CUDA
    kernel = F.interpolate(x, size=(32, 32), mode="bicubic", antialias=True, align_corners=False)
    assert torch.equal(resample.resize(x, 32), kernel)
    assert torch.equal(
        upsample(x, (96, 96)), F.interpolate(x, size=(96, 96), mode="bilinear", align_corners=False)
    )
    assert len(banded) == 2
