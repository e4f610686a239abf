"""``benchmarks/gpu_check.py``: without CUDA it exits 2 and says so; ``--help`` lists every check.

The checks themselves need minutes (``--device cpu --small`` dry-runs them); they are not run here.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_check.py"


def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gpu_check", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["gpu_check"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_without_cuda_it_exits_2_and_says_how_to_dry_run(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert _script().main([]) == 2
    err = capsys.readouterr().err
    assert "no CUDA device" in err and "--device cpu --small" in err


def test_help_lists_every_check(capsys: pytest.CaptureFixture[str]) -> None:
    gpu_check = _script()
    with pytest.raises(SystemExit) as exit_info:
        gpu_check.main(["--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    names = (
        "convert",
        "linear",
        "unetr",
        "cache",
        "augment",
        "vit-l",
        "loader",
        "fill",
        "hovernext",
        "metric",
    )
    assert set(gpu_check.CHECKS) == set(gpu_check.RUNNERS) == set(names)
    assert all(f"  {name} " in out for name in names)
    assert "peak GPU memory" in out and "--tiling phenobench" in out
