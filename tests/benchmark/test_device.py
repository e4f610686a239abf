"""Device and precision choice: CUDA where asked and present, a typed error naming CUDA where absent."""

from __future__ import annotations

import os
import subprocess
import sys

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


FAULTS_PER_PASS = """
import resource, sys, torch
from phenocell.benchmark.device import keep_host_memory
from phenocell.benchmark.frozen import build_encoder, feature_spec
kept = keep_host_memory(torch.device(sys.argv[1]))
enc = build_encoder("test/vit-tiny")
spec = feature_spec(enc.cfg, "linear", linear_input="final_norm", unetr_taps="last4")
x = torch.rand(16, 3, enc.cfg.input_size, enc.cfg.input_size)
with torch.inference_mode():
    for _ in range(5):
        enc(x, spec)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(10):
        enc(x, spec)
print(kept, (resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before) / 10)
"""


def faults_per_pass(device: str) -> tuple[bool, float]:
    """In a fresh process: whether keep_host_memory set glibc's thresholds; page faults per vit-tiny pass."""
    run = subprocess.run([sys.executable, "-c", FAULTS_PER_PASS, device], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    out = run.stdout.split()
    return out[0] == "True", float(out[1])


@pytest.mark.skipif(sys.platform != "linux", reason="glibc's allocator")
def test_a_cpu_run_stops_refaulting_the_encoders_activations_on_every_pass() -> None:
    kept, faults = faults_per_pass("cpu")
    untouched, churn = faults_per_pass("cuda")  # not the CPU: glibc's defaults stay
    assert kept and not untouched
    assert faults < churn / 10, (
        f"{faults:.0f} page faults per forward pass with the thresholds set ({churn:.0f} without)"
    )


@pytest.mark.parametrize(
    "env",
    [
        {"MALLOC_MMAP_THRESHOLD_": "1048576"},
        {"LD_PRELOAD": "/nonexistent/libjemalloc.so.2"},
        {"PHENOCELL_KEEP_HOST_MEMORY": "0"},
    ],
)
def test_a_user_chosen_allocator_setting_is_left_alone(env: dict[str, str]) -> None:
    script = "import torch, phenocell.benchmark.device as d; print(d.keep_host_memory(torch.device('cpu')))"
    run = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env={**os.environ, **env}
    )
    assert run.stdout.split() == ["False"], run.stderr


def test_no_glibc_no_change(monkeypatch: pytest.MonkeyPatch) -> None:
    """Windows has no os.confstr; macOS and musl do not know CS_GNU_LIBC_VERSION."""
    import phenocell.benchmark.device as device

    calls: list[int] = []
    monkeypatch.setattr(device, "ctypes", type("C", (), {"CDLL": lambda *a: calls.append(1)}))
    for missing in (AttributeError, ValueError):

        def confstr(name: str, error: type[Exception] = missing) -> str:
            raise error(name)

        monkeypatch.setattr(device.os, "confstr", confstr)
        device._set_glibc_thresholds.cache_clear()
        assert device.keep_host_memory(torch.device("cpu")) is False
    device._set_glibc_thresholds.cache_clear()
    assert not calls


def test_the_fill_batch_and_host_copies_are_decided_per_device_type() -> None:
    """A GPU gets larger fill batches than the CPU; a device type without its own entry gets the CPU's; on
    the CPU the copy back is the tensor itself and there is nothing to wait for."""
    from phenocell.benchmark.device import encode_batch, host_mark, host_wait, to_host

    cpu, cuda = torch.device("cpu"), torch.device("cuda", 0)
    assert encode_batch(cpu) == 16 and encode_batch(cuda) == 64
    assert encode_batch(torch.device("mps")) == encode_batch(cpu)
    t = torch.arange(6.0)
    assert to_host(t) is t
    assert host_mark(cpu) is None  # no CUDA event on the CPU: its work is done when the call returns
    host_wait(None)
