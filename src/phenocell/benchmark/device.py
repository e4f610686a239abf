"""Device choice and mixed precision: ``auto`` picks CUDA when present; asking for CUDA without one fails."""

from __future__ import annotations

import contextlib
import ctypes
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch

from phenocell.errors import InvalidOptionError


class DeviceUnavailableError(InvalidOptionError):
    """The requested device does not exist on this machine (e.g. ``--device cuda`` without a CUDA GPU)."""


def resolve_device(spec: str) -> torch.device:
    """``auto`` → ``cuda`` when available else ``cpu``; ``cuda`` / ``cuda:N`` must exist."""
    if spec == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(spec)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                f"CUDA device {spec!r} requested but CUDA is not available",
                expected="a machine with an NVIDIA GPU and a CUDA build of torch",
                found=f"torch {torch.__version__}, torch.cuda.is_available() is False",
                fix="run with --device cpu (or auto), or install a CUDA build of torch on a GPU machine",
            )
        index = device.index or 0
        if index >= torch.cuda.device_count():
            raise DeviceUnavailableError(
                f"CUDA device {spec!r} does not exist",
                expected=f"cuda:0 .. cuda:{torch.cuda.device_count() - 1}",
                found=spec,
                fix="pick an existing GPU index",
            )
    return device


#: glibc ``malloc`` thresholds a CPU run sets (:func:`keep_host_memory`): blocks below ``MMAP`` come from the
#: heap, not from a fresh ``mmap``, and up to ``TRIM`` of free memory is kept at the heap's top.
HOST_MMAP_THRESHOLD = 64 << 20
HOST_TRIM_THRESHOLD = 128 << 20
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # mallopt parameters (glibc's malloc.h)
#: ``PHENOCELL_KEEP_HOST_MEMORY=0`` keeps glibc's defaults (:func:`keep_host_memory` does nothing).
KEEP_ENV = "PHENOCELL_KEEP_HOST_MEMORY"
#: What a user sets to tune glibc's allocator themselves; :func:`keep_host_memory` then does nothing.
_ALLOCATOR_SETTINGS = ("MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "MALLOC_TOP_PAD_")


def keep_host_memory(device: torch.device) -> bool:
    """On the CPU, make glibc keep freed memory for reuse instead of returning it to the OS; whether set.

    With glibc's defaults an encoder's activations are mapped afresh on every forward pass and each page is
    faulted in and zeroed again: about 12,000 page faults per batch of 16 for ``test/vit-tiny``, a third of
    its time on these CPUs (``benchmarks/bench_host_allocator.py``). Fixed thresholds
    (:data:`HOST_MMAP_THRESHOLD`, :data:`HOST_TRIM_THRESHOLD`) end that, for this process and the loader
    workers it forks later. Nothing is changed off the CPU, where glibc is not the C library, where the
    user chose the allocator (``MALLOC_*_`` settings, or a jemalloc / tcmalloc / mimalloc in ``LD_PRELOAD``),
    or with ``PHENOCELL_KEEP_HOST_MEMORY=0``.
    """
    chosen = any(name in os.environ for name in _ALLOCATOR_SETTINGS) or os.environ.get(KEEP_ENV) == "0"
    if device.type != "cpu" or chosen or "malloc" in os.environ.get("LD_PRELOAD", ""):  # jemalloc, tcmalloc..
        return False
    return _set_glibc_thresholds()


@functools.cache
def _set_glibc_thresholds() -> bool:
    """Set :data:`HOST_MMAP_THRESHOLD` and :data:`HOST_TRIM_THRESHOLD` once; whether glibc took them."""
    try:
        glibc = os.confstr("CS_GNU_LIBC_VERSION") or ""
    except (AttributeError, ValueError, OSError):  # no confstr (Windows), or not glibc (macOS, musl)
        return False
    if not glibc.startswith("glibc"):
        return False
    mallopt = ctypes.CDLL(None).mallopt
    return bool(mallopt(_M_MMAP_THRESHOLD, HOST_MMAP_THRESHOLD)) and bool(
        mallopt(_M_TRIM_THRESHOLD, HOST_TRIM_THRESHOLD)
    )


def pins_batches(device: torch.device) -> bool:
    """Whether loaders feeding ``device`` pin their batches: on CUDA (non_blocking copies then overlap)."""
    return device.type == "cuda"


#: Tiles per batch of the token-cache fill, by device type. On the CPU a small encoder runs fastest per tile
#: near 16 (``test/vit-tiny``: 16 tiles 1.08x as fast per tile as 64 in ``bench_pipeline.py --batch-size``);
#: a GPU is kept busy only by larger batches (``benchmarks/gpu_check.py`` times the fill there).
ENCODE_BATCH = {"cpu": 16, "cuda": 64}


def encode_batch(device: torch.device) -> int:
    """Tiles per batch the token cache encodes on ``device`` (:data:`ENCODE_BATCH`; the CPU's elsewhere)."""
    return ENCODE_BATCH.get(device.type, ENCODE_BATCH["cpu"])


def to_host(t: torch.Tensor) -> torch.Tensor:
    """``t`` on the CPU; from CUDA copied without waiting: read it after :func:`host_wait` on a later mark.

    The token-cache fill queues each batch's copy back and reads the next tiles while the GPU works, instead
    of waiting for every batch's features.
    """
    return t.to("cpu", non_blocking=t.device.type == "cuda")


def writes_behind(device: torch.device) -> bool:
    """Whether the token cache writes its FoV files in a background thread while it encodes: on CUDA.

    A FoV's file (its fp16 grids, about 100 MB for ViT-L with 4 UNETR taps) takes longer to join and write
    than the GPU takes to encode the next batch; on the CPU the encoder keeps the cores busy itself.
    """
    return device.type == "cuda"


def host_mark(device: torch.device) -> Any:
    """A mark after the work queued so far on ``device``: CUDA, an event on its current stream; else None."""
    if device.type != "cuda":
        return None
    event = torch.cuda.Event()
    event.record(torch.cuda.current_stream(device))
    return event


def host_wait(mark: Any) -> None:
    """Wait until the work queued before ``mark`` (:func:`host_mark`) is done, the copies back included."""
    if mark is not None:
        mark.synchronize()


def kernel_resize(device: torch.device) -> bool:
    """Whether tiles on ``device`` are resized by torch's ``interpolate`` kernel (CUDA).

    Elsewhere by banded matrix products with the same weights: torch's antialiased CPU kernel is slow.
    """
    return device.type == "cuda"


@dataclass(frozen=True)
class Precision:
    """Autocast dtype (``None`` = full fp32) and whether a GradScaler is needed (fp16 only)."""

    dtype: torch.dtype | None
    device_type: str

    @property
    def scaled(self) -> bool:
        """fp16 needs loss scaling; bf16 and fp32 do not."""
        return self.dtype == torch.float16

    @property
    def name(self) -> str:
        """``fp16``, ``bf16`` or ``fp32``."""
        return {torch.float16: "fp16", torch.bfloat16: "bf16"}.get(self.dtype, "fp32")  # type: ignore[arg-type]

    @contextlib.contextmanager
    def autocast(self) -> Iterator[None]:
        """Autocast to ``dtype`` on the device, or nothing for fp32."""
        if self.dtype is None:
            yield
        else:
            with torch.autocast(self.device_type, dtype=self.dtype):
                yield

    def scaler(self) -> torch.amp.GradScaler:
        """A GradScaler, enabled only for fp16."""
        return torch.amp.GradScaler(self.device_type, enabled=self.scaled)


def resolve_precision(spec: str, device: torch.device) -> Precision:
    """``auto`` → fp16 on CUDA (the authors' autocast), fp32 on CPU; else the named precision."""
    if spec == "auto":
        spec = "fp16" if device.type == "cuda" else "fp32"
    if spec == "fp16" and device.type != "cuda":
        raise InvalidOptionError(
            "fp16 autocast needs a CUDA device",
            expected="--precision bf16 or fp32 on CPU",
            found=f"fp16 on {device}",
            fix="pass --precision bf16 or fp32, or --device cuda",
        )
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(spec)
    return Precision(dtype, device.type)
