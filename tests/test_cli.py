"""The CLI is a thin layer: its options match the Python API."""

from __future__ import annotations

from dataclasses import fields
from pathlib import Path

from click.testing import CliRunner

from phenocell.cli import convert_cmd, convert_main, main
from phenocell.constants import CellTableColumns
from phenocell.pipeline.convert import ConvertOptions


def _names(command) -> set[str]:
    return {p.name for p in command.params}


def test_convert_options_match_convert_options_dataclass() -> None:
    api = {f.name for f in fields(ConvertOptions)} - {"columns", "progress"}
    columns = {f"{f.name}_column" for f in fields(CellTableColumns)} - {
        "group_column",
        "size_column",
        "cell_id_column",
    }
    cli = _names(convert_main) - {"raw_dir", "out", "quiet"}
    assert cli == api | columns
    assert _names(convert_cmd) == _names(convert_main)


def test_benchmark_run_options_match_train_config() -> None:
    from phenocell.benchmark.train import TrainConfig

    run = main.commands["benchmark"].commands["run"]  # type: ignore[attr-defined]
    api = {f.name for f in fields(TrainConfig)} - {"warmup_steps", "eta_min", "label_smoothing", "background"}
    cli = _names(run) - {"data", "family", "encoder", "head", "out", "weights", "cache_dir"}
    assert cli == api


def test_synth_and_convert_via_cli(tmp_path: Path) -> None:
    runner = CliRunner()
    raw, out = tmp_path / "raw", tmp_path / "phenocell"
    result = runner.invoke(
        main, ["synth", str(raw), "--fovs", "4", "--patients", "4", "--mask-size", "128x160"]
    )
    assert result.exit_code == 0, result.output
    result = runner.invoke(convert_main, [str(raw), "--out", str(out), "--tile-size", "128", "--quiet"])
    assert result.exit_code == 0, result.output
    assert (out / "README.md").exists() and (out / "splits.json").exists()
    result = runner.invoke(main, ["synth", str(raw), "--patients", "2"])
    assert result.exit_code == 2 and "patients >= 4" in result.output
