"""Protocol presets: each preset against its paper, departures, epochs, and a vitoria run of 2 seeds."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from phenocell.benchmark.config import TrainConfig, epoch_steps
from phenocell.benchmark.presets import PRESETS, preset
from phenocell.benchmark.report import compare
from phenocell.benchmark.seed_runs import run_seeds
from phenocell.cli import main
from phenocell.errors import InvalidOptionError


def test_phenobench_preset_is_the_authors_public_protocol() -> None:
    # PhenoBench (Kainmueller lab), its public code: config_unetr_schuerch.yaml, utils.py (DESIGN.md)
    p = PRESETS["phenobench"]
    assert "PhenoBench" in p.paper and "Pathology-Foundation-Model-Benchmark" in p.paper
    assert p.head == "linear"
    o = p.options
    assert (o["loss"], o["class_weighting"], o["label_smoothing"], o["background"]) == (
        "ce",
        "ema_softmax",
        0.05,
        "exclude",
    )
    assert (o["optimizer"], o["lr"], o["weight_decay"], o["lr_schedule"], o["grad_clip"]) == (
        "adamw",
        3e-5,
        0.03,
        "warmup_cosine",
        2.0,
    )
    assert (o["augment"], o["sampling"], o["unit"], o["val_every"]) == (
        "reference",
        "class_pixels",
        "steps",
        200,
    )
    assert (o["selection"], o["seeds"]) == ("cell_macro_f1", 1)
    # the per-dataset values (steps, batch, warm-up, T_max, eta_min, early stop) are the dataset's config row
    assert not {"steps", "batch_size", "warmup", "eta_min", "early_stop"} & set(o)
    assert TrainConfig() == TrainConfig.preset("phenobench")  # the defaults are this preset


def test_vitoria_preset_is_the_papers_protocol() -> None:
    # Vitoria et al., "A Benchmark of Foundation Model Encoders for Histopathological Image Segmentation"
    p = PRESETS["vitoria"]
    assert "A Benchmark of Foundation Model Encoders for Histopathological Image Segmentation" in p.paper
    assert p.head == "constant"  # 1x1 conv d->256, ceil(log2(H/h)) x2 blocks at 256, 1x1 conv, resize
    o = p.options
    assert (o["loss"], o["optimizer"], o["lr"]) == ("ce_dice", "nadam", 1e-4)  # CE + Dice; NAdam lr 1e-4
    assert (o["lr_schedule"], o["t_max"], o["eta_min"], o["unit"]) == ("cosine_restarts", 10, 0.0, "epochs")
    assert (o["steps"], o["val_every"], o["batch_size"]) == (50, 10, 8)  # 50 epochs, validate every 10
    assert (o["selection"], o["seeds"]) == ("dice_macro", 10)  # mean per-class Dice; 10 seeds
    assert o["augment"] == "affine_jitter"  # random affine + brightness / colour jitter


def test_options_on_a_preset_are_named_departures_from_it() -> None:
    assert TrainConfig.preset("vitoria").departures() == {}
    deps = TrainConfig.preset("vitoria", lr=1e-3, seeds=3).departures()
    assert deps == {"lr": {"value": 1e-3, "reference": 1e-4}, "seeds": {"value": 3, "reference": 10}}
    assert TrainConfig.preset("phenobench", steps=4).departures()["steps"] == {
        "value": 4,
        "reference": 20_000,
    }
    with pytest.raises(InvalidOptionError, match="one of 'phenobench', 'vitoria'"):
        preset("eva")


def test_epochs_become_steps_of_our_sampler() -> None:
    assert epoch_steps(100, 8) == 13 and epoch_steps(96, 8) == 12 and epoch_steps(3, 8) == 1
    cfg = TrainConfig.preset("vitoria").in_steps(13)
    assert (cfg.unit, cfg.steps, cfg.val_every, cfg.t_max, cfg.warmup, cfg.early_stop) == (
        "steps",
        650,
        130,
        130,
        0,
        0,
    )
    same = TrainConfig(steps=7)
    assert same.in_steps(13) is same


def test_vitoria_run_of_two_seeds(dataset_dir: Path, tmp_path: Path) -> None:
    cfg = TrainConfig.preset("vitoria", steps=1, val_every=1, t_max=1, seeds=2, workers=0, device="cpu")
    kw = {"family": "base", "encoder": "test/vit-tiny", "head": None, "log": lambda _: None}
    summary = run_seeds(dataset_dir, out=tmp_path / "v", seeds=[3, 4], config=cfg, **kw)
    assert summary["seeds"] == [3, 4] and summary["head"] == "constant"
    runs = [json.loads((tmp_path / "v" / f"seed-{s}" / "results.json").read_text()) for s in (3, 4)]
    one = runs[0]
    assert one["protocol"]["preset"]["name"] == "vitoria" and one["seed"] == 3
    assert one["protocol"]["departures"]["steps"] == {"value": 1, "reference": 50}
    train_tiles = one["tiles"]["train"]
    assert one["protocol"]["options_in_steps"]["steps"] == epoch_steps(train_tiles, 8)
    assert one["training"]["steps_run"] == epoch_steps(train_tiles, 8)
    at = one["head_parameters"]["at_width"]
    assert set(at) == {"96", "1024"} and at["1024"] - at["96"] == (1024 - 96) * 256
    assert one["head_parameters"]["parameters"] == at["96"]
    for name in ("dice_macro", "cell_macro_f1"):
        values = [r["metrics"]["test"][name] for r in runs]
        assert summary["metrics"]["test"][name] == pytest.approx(sum(values) / 2)
    report = (tmp_path / "v" / "report.md").read_text()
    assert "2 seeds" in report and " ± " in report and "at encoder width 1024" in report
    table = compare([tmp_path / "v"], "dice_macro")
    assert "over seeds" in table and "| test/vit-tiny | constant | 2 |" in table


def test_cli_protocol_seed_list_and_head_default(dataset_dir: Path, tmp_path: Path) -> None:
    args = ["benchmark", "run", "--data", str(dataset_dir), "--family", "base", "--encoder", "test/vit-tiny"]
    args += ["--protocol", "vitoria", "--steps", "1", "--val-every", "1", "--t-max", "1", "--seed", "5,6"]
    args += ["--workers", "0", "--device", "cpu", "--quiet", "--out", str(tmp_path / "c")]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    doc = json.loads((tmp_path / "c" / "results.json").read_text())
    assert doc["seeds"] == [5, 6] and doc["head"] == "constant"
    seed5 = json.loads((tmp_path / "c" / "seed-5" / "results.json").read_text())
    training = set(seed5["protocol"]["departures"]) - set(seed5["protocol"]["data"]["departures"])
    assert training == {
        "steps",
        "val_every",
        "t_max",
        "seeds",
        "seed",
    }  # as given, and the seed (the preset's is 42)
    bad = CliRunner().invoke(main, [*args[:8], "--seed", "1,x"])
    assert bad.exit_code == 2 and "comma-separated" in bad.output
