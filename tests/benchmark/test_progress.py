"""A run a person can watch: default workers, the CPU cost estimate, the bar and the run's lines."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from phenocell.benchmark import progress
from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.progress import Progress, full_protocol_on_cpu
from phenocell.loaders.tiles import TileDataset, load_index, make_loader


@pytest.mark.parametrize(("cores", "workers"), [(1, 1), (2, 2), (16, 4)])
def test_default_workers_are_the_authors_4_or_the_usable_cores(
    monkeypatch: pytest.MonkeyPatch, cores: int, workers: int
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: set(range(cores)), raising=False)
    assert TrainConfig().workers == workers
    assert "workers" not in TrainConfig().departures()


def test_default_workers_on_two_cores_raise_no_dataloader_warning(
    dataset_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(os, "sched_getaffinity", lambda _: {0, 1}, raising=False)
    index = load_index(dataset_dir, "base", "validation")
    loader = make_loader(TileDataset(index), batch_size=2, workers=TrainConfig().workers, pin_memory=False)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # torch: "This DataLoader will create 4 worker processes ..."
        batch = next(iter(loader))
    assert len(batch["index"]) == 2


def test_full_protocol_on_cpu_only() -> None:
    assert full_protocol_on_cpu(TrainConfig(), "cpu")
    assert not full_protocol_on_cpu(TrainConfig(), "cuda")
    assert not full_protocol_on_cpu(TrainConfig(steps=200), "cpu")
    assert not full_protocol_on_cpu(TrainConfig(batch_size=16), "cpu")


def test_cpu_estimate_prints_once_from_the_first_steps(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([0.0, 10.0, 12.0, 14.0, 16.0, 18.0, 20.0])  # step 1 at 10 s, then 2 s per step
    monkeypatch.setattr(progress.time, "perf_counter", lambda: next(clock))
    lines: list[str] = []
    shown = Progress(TrainConfig(), lines.append, bar=False, estimate=True)
    for step in range(1, 7):
        shown.step(step, 1.0)
    shown.close()
    assert len(lines) == 1
    assert "2.0 s per step of 128 tiles" in lines[0] and "20000 steps take about 11.1 h" in lines[0]
    assert "phenocell demo" in lines[0] and "--steps" in lines[0] and "unchanged" in lines[0]
