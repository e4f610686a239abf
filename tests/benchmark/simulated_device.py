"""A CUDA device simulated on the CPU, to catch device mixing in code that no GPU here ever runs.

``on_cuda(t)`` wraps a CPU tensor in :class:`OnDevice`, a tensor subclass that reports ``device='cuda'``
while its values stay on the CPU. Inside :func:`simulated_cuda`, every torch operation goes through one
dispatcher that does what a real CUDA build checks: all tensor arguments (except 0-dim CPU scalars, which
CUDA kernels accept) must share one device, else "Expected all tensors to be on the same device" is raised.
The operation then runs on the CPU values and its results carry the inputs' device (or the ``device=`` it
was asked for: ``.cpu()``, ``.to(...)``, ``torch.zeros(..., device=...)``). ``.numpy()`` of a simulated
CUDA tensor raises, as it does on a GPU.

Why not ``FakeTensorMode``: it also reports CUDA devices on a CPU-only build, but it holds no values, so the
data-dependent operations of the metrics (``unique``, ``bincount``, ``bool(t.any())``) cannot run under
it. Limitation: modules cannot be moved onto the simulated device (``nn.Module.to('cuda')`` and plain
``tensor.to('cuda')`` fail in C++ before any dispatch), so tests hand the code device tensors directly.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_map

CPU = torch.device("cpu")


class OnDevice(torch.Tensor):
    """A CPU tensor ``elem`` that reports ``device`` (see the module docstring)."""

    elem: torch.Tensor

    @staticmethod
    def __new__(cls, elem: torch.Tensor, device: torch.device) -> OnDevice:
        r = torch.Tensor._make_wrapper_subclass(  # type: ignore[attr-defined]
            cls, elem.shape, strides=elem.stride(), dtype=elem.dtype, device=device
        )
        r.elem = elem
        return r  # type: ignore[no-any-return]

    @classmethod
    def __torch_dispatch__(cls, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return _run(func, args, kwargs or {})

    # indexing runs a C++ device guard before any dispatch, which a CPU build lacks for CUDA: index the
    # values instead, with CUDA's rule (indices may be on the host; an assigned tensor must be on the device)
    def __getitem__(self, index: Any) -> OnDevice:
        return OnDevice(self.elem[_values(index)], self.device)

    def __setitem__(self, index: Any, value: Any) -> None:
        if isinstance(value, torch.Tensor) and value.dim() > 0 and value.device != self.device:
            raise RuntimeError(
                f"Expected all tensors to be on the same device, but found {value.device} and {self.device}"
            )
        self.elem[_values(index)] = _values(value)

    def __repr__(self) -> str:  # type: ignore[override]
        return f"OnDevice({self.elem!r}, device={self.device})"


def _values(x: Any) -> Any:
    """``x`` (a tensor, scalar, slice or a tuple of them) with simulated tensors replaced by their values."""
    return tree_map(lambda t: t.elem if isinstance(t, OnDevice) else t, x)


def _run(func: Any, args: Any, kwargs: dict[str, Any]) -> Any:
    devices: set[torch.device] = set()

    def unwrap(t: Any) -> Any:
        if isinstance(t, OnDevice):
            devices.add(t.device)
            return t.elem
        if isinstance(t, torch.Tensor) and t.dim() > 0:  # 0-dim CPU scalars mix with CUDA tensors
            devices.add(t.device)
        return t

    args, kwargs = tree_map(unwrap, args), tree_map(unwrap, kwargs)
    if len(devices) > 1:
        raise RuntimeError(
            "Expected all tensors to be on the same device, but found at least two devices, "
            + ", ".join(sorted(map(str, devices)))
            + f" ({func})"
        )
    target = kwargs.get("device")
    if target is not None:
        kwargs["device"] = CPU
    out_device = torch.device(target) if target is not None else next(iter(devices), CPU)
    out = func(*args, **kwargs)
    if out_device.type == "cpu":
        return out
    return tree_map(lambda t: OnDevice(t, out_device) if isinstance(t, torch.Tensor) else t, out)


class _Mode(TorchDispatchMode):
    def __torch_dispatch__(self, func: Any, types: Any, args: Any = (), kwargs: Any = None) -> Any:
        return _run(func, args, kwargs or {})


@contextlib.contextmanager
def simulated_cuda() -> Iterator[None]:
    """Run torch operations through the device-checking dispatcher; factories may name ``cuda``."""
    lazy_init = torch.cuda._lazy_init
    torch.cuda._lazy_init = lambda: None  # a CPU build refuses CUDA factories before any dispatch
    try:
        with _Mode():
            yield
    finally:
        torch.cuda._lazy_init = lazy_init


def on_cuda(t: torch.Tensor) -> OnDevice:
    """``t``'s values, reported on ``cuda:0``."""
    return OnDevice(t.detach().clone(), torch.device("cuda", 0))
