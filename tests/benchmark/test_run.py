"""End-to-end benchmark runs on the tiny converted dataset (CPU, few steps)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from phenocell.benchmark.report import compare
from phenocell.benchmark.run import run_benchmark
from phenocell.benchmark.train import TrainConfig
from phenocell.cli import main

FAST = TrainConfig(steps=6, batch_size=4, lr=1e-3, warmup=2, val_every=3, patience=2)
REPORT_FILES = {"results.json", "report.md", "confusion_pixel.png", "confusion_cell.png", "per_class_f1.png"}


@pytest.fixture(scope="module")
def runs(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, str], Path]:
    root = tmp_path_factory.mktemp("runs")
    out = {}
    for family in ("base", "tumor_type", "tumor_stage"):
        for head in ("linear", "unetr"):
            if head == "unetr" and family != "base":
                continue
            path = root / f"{family}-{head}"
            run_benchmark(
                dataset_dir,
                family=family,
                encoder="test/vit-tiny",
                head=head,
                out=path,
                config=FAST,
                log=lambda _: None,
            )
            out[(family, head)] = path
    return out


def test_runs_write_every_report_file(runs: dict[tuple[str, str], Path]) -> None:
    for path in runs.values():
        assert {p.name for p in path.iterdir()} >= REPORT_FILES
        doc = json.loads((path / "results.json").read_text())
        assert set(doc["metrics"]["test"]) >= {
            "pixel_macro_f1",
            "cell_macro_f1",
            "pixel_per_class_f1",
            "pixel_confusion",
        }
        assert len(doc["metrics"]["test"]["pixel_per_class_f1"]) == 14
        assert doc["encoder_config"]["patch_size"] == 8 and doc["seed"] == 0


def test_compare_prints_domain_shift_table(runs: dict[tuple[str, str], Path], tmp_path: Path) -> None:
    table = compare(list(runs.values()))
    assert "| test/vit-tiny | linear |" in table and "tumor_stage" in table and "per-class drop" in table
    result = CliRunner().invoke(
        main, ["benchmark", "compare", *map(str, runs.values()), "--out", str(tmp_path / "t.md")]
    )
    assert result.exit_code == 0 and (tmp_path / "t.md").read_text() == table


def test_same_seed_same_metrics_and_cache_reuse(dataset_dir: Path, tmp_path: Path) -> None:
    kw = {
        "family": "base",
        "encoder": "test/vit-tiny",
        "head": "linear",
        "config": FAST,
        "log": lambda _: None,
    }
    live = run_benchmark(dataset_dir, out=tmp_path / "live", **kw)
    first = run_benchmark(dataset_dir, out=tmp_path / "c1", cache_dir=tmp_path / "cache", **kw)
    second = run_benchmark(dataset_dir, out=tmp_path / "c2", cache_dir=tmp_path / "cache", **kw)
    assert first["cache"]["misses"] > 0 and second["cache"]["misses"] == 0 and second["cache"]["hits"] > 0
    for split in ("validation", "test"):
        for name in ("pixel_macro_f1", "cell_macro_f1"):
            assert (
                live["metrics"][split][name]
                == first["metrics"][split][name]
                == second["metrics"][split][name]
            )
    # a cache whose shard hashes no longer match is detected and re-encoded, never reused
    manifest_path = Path(second["cache"]["dir"]) / "manifest.json"
    manifest = json.loads(manifest_path.read_text())
    fov = sorted(manifest["shards"])[0]
    manifest["shards"][fov] = "0" * 64
    manifest_path.write_text(json.dumps(manifest))
    third = run_benchmark(dataset_dir, out=tmp_path / "c3", cache_dir=tmp_path / "cache", **kw)
    assert third["cache"]["stale"] == 1
    assert third["metrics"]["test"]["pixel_macro_f1"] == live["metrics"]["test"]["pixel_macro_f1"]


def test_training_beats_majority_class_and_untrained_head(dataset_dir: Path, tmp_path: Path) -> None:
    cfg = TrainConfig(
        steps=120, batch_size=8, lr=3e-3, warmup=10, val_every=40, patience=5, class_weighting="none"
    )
    kw = {"family": "base", "encoder": "test/vit-tiny", "head": "linear", "log": lambda _: None}
    trained = run_benchmark(dataset_dir, out=tmp_path / "t", config=cfg, **kw)
    untrained = run_benchmark(
        dataset_dir,
        out=tmp_path / "u",
        config=TrainConfig(steps=1, lr=1e-12, warmup=1, val_every=1, batch_size=1),
        **kw,
    )
    score = trained["metrics"]["test"]["pixel_macro_f1"]
    assert score > trained["majority_class_pixel_macro_f1"] + 0.02
    assert score > untrained["metrics"]["test"]["pixel_macro_f1"] + 0.02


def test_cli_run_and_bad_choices(dataset_dir: Path, tmp_path: Path) -> None:
    args = [
        "benchmark",
        "run",
        "--data",
        str(dataset_dir),
        "--family",
        "tumor_type",
        "--encoder",
        "test/vit-tiny",
        "--steps",
        "2",
        "--batch-size",
        "2",
        "--warmup",
        "1",
        "--val-every",
        "1",
        "--out",
        str(tmp_path / "r"),
    ]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    assert "test       pixel_macro_f1" in result.output
    result = CliRunner().invoke(main, [*args[:7], "pathology/nope"])
    assert result.exit_code == 2 and "test/vit-tiny" in result.output
