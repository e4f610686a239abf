"""The CLI is a thin layer: its options match the Python API."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import fields
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

import phenocell
from phenocell.cli import convert_cmd, convert_main, main
from phenocell.cli_options import field_info, literal_choices
from phenocell.constants import CellTableColumns, PatientColumns
from phenocell.converters import FORMATS, source_type
from phenocell.converters.options import ExecutionOptions
from phenocell.synthetic import SynthOptions

#: Every source's options dataclass, in table order.
OPTIONS = tuple(source_type(name).options_type for name in FORMATS)


def _names(command) -> set[str]:
    return {p.name for p in command.params}


def _convert_field(param: str) -> tuple[type, str] | None:
    """The dataclass field behind a convert CLI parameter, or None for CLI-only ones."""
    if param.endswith("_column"):
        return CellTableColumns, param.removesuffix("_column")
    if param.startswith("ptcol_"):
        return PatientColumns, param.removeprefix("ptcol_")
    for options in OPTIONS:
        if param in {f.name for f in fields(options)}:
            return options, param
    if param in {f.name for f in fields(ExecutionOptions)}:
        return ExecutionOptions, param
    return None


def misalignments(command: click.Command, field_of) -> list[str]:
    """Every CLI parameter whose default or choices differ from its dataclass field."""
    problems = []
    for param in command.params:
        target = field_of(param.name)
        if target is None:
            continue
        annotation, default = field_info(*target)
        choices = literal_choices(annotation)
        cli_choices = list(param.type.choices) if isinstance(param.type, click.Choice) else None
        if choices is not None and cli_choices != [str(c) for c in choices]:
            problems.append(f"{param.name}: choices {cli_choices} != {list(choices)}")
        expected = str(default) if choices is not None and default is not None else default
        if param.default != expected and not (param.is_flag and bool(param.default) == bool(default)):
            problems.append(f"{param.name}: default {param.default!r} != {expected!r}")
    return problems


def test_convert_options_match_convert_options_dataclass() -> None:
    api = {f.name for options in OPTIONS for f in fields(options)} | {"source"}
    api -= {"columns", "patient_columns", "progress", "execution"}
    api |= {f"ptcol_{f.name}" for f in fields(PatientColumns)} | {f.name for f in fields(ExecutionOptions)}
    columns = {f"{f.name}_column" for f in fields(CellTableColumns)} - {
        "group_column",
        "size_column",
        "cell_id_column",
    }
    cli = _names(convert_main) - {"raw_dir", "out", "quiet", "debug"}
    assert cli == api | columns
    assert _names(convert_cmd) == _names(convert_main)
    assert misalignments(convert_main, _convert_field) == []


def test_alignment_check_fails_on_a_changed_default_or_choice() -> None:
    @click.command()
    @click.option("--tile-size", "tile_size", type=int, default=512)
    @click.option("--base-by", "base_by", type=click.Choice(["patient", "region", "x"]), default="patient")
    @click.option("--seed", "seed", type=int, default=0)
    def drifted(**kw) -> None:  # pragma: no cover - never invoked
        pass

    problems = misalignments(drifted, _convert_field)
    assert len(problems) == 2
    assert problems[0].startswith("tile_size: default 512 != 256")
    assert problems[1].startswith("base_by: choices")


def test_qc_and_export_read_options_match_convert() -> None:
    read = {"min_cell_area_um2", "class_map", "mask_mpp", "he_mpp", "patient_table", "ptcol_stage"}
    read |= {"workers", "scheduler"}
    for command in (main.commands["qc"], main.commands["export"].commands["geojson"]):  # type: ignore[attr-defined]
        assert read <= _names(command)
        assert misalignments(command, _convert_field) == []


#: The cell-table columns only a CODEX export reads (the other FoV sources read --region/--patient-column).
CODEX_ONLY_COLUMNS = ("--cluster-column", "--label-column", "--x-column", "--y-column")


@pytest.mark.parametrize(
    ("fixture", "source"), [("hdf5_raw", "phenobench-hdf5"), ("spatialdata_raw", "spatialdata")]
)
def test_codex_cell_table_columns_are_refused_for_other_sources(
    fixture: str, source: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    raw = request.getfixturevalue(fixture)
    raw = raw[1] if isinstance(raw, tuple) else raw  # spatialdata_raw: (codex, store)
    for flag in CODEX_ONLY_COLUMNS:
        result = CliRunner().invoke(convert_main, [str(raw), "--out", str(tmp_path / "pc"), flag, "foo"])
        assert result.exit_code == 2, (flag, result.output)
        assert f"--source {source} does not read" in result.output and flag in result.output
    shared = ["--region-column", "File Name", "--patient-column", "patients", "--tile-size", "0"]
    result = CliRunner().invoke(convert_main, [str(raw), "--out", str(tmp_path / "pc"), *shared])
    assert result.exit_code == 2 and "invalid tile size" in result.output  # the columns pass, the size fails
    assert not (tmp_path / "pc").exists()


def test_tile_size_without_grid_tiling_says_it_is_ignored(raw_export: Path, tmp_path: Path) -> None:
    """--tile-size / --stride cut only --tiling grid; with the default phenobench crops a run says so."""
    result = CliRunner().invoke(
        convert_main, [str(raw_export), "--out", str(tmp_path / "pc"), "--tile-size", "7", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    assert "--tile-size is ignored" in result.output and "--tiling grid" in result.output
    options = json.loads((tmp_path / "pc" / "manifest.json").read_text())["options"]
    assert options["tiling"] == "phenobench" and "tile_size" not in options and "stride" not in options
    assert "`tile_size`" not in (tmp_path / "pc" / "README.md").read_text()  # the card names no 7 px tiles
    grid = ["--tile-size", "128", "--tiling", "grid", "--quiet"]
    result = CliRunner().invoke(convert_main, [str(raw_export), "--out", str(tmp_path / "grid"), *grid])
    assert result.exit_code == 0 and "ignored" not in result.output, result.output
    options = json.loads((tmp_path / "grid" / "manifest.json").read_text())["options"]
    assert options["tile_size"] == 128 and options["stride"] is None
    assert "- `tile_size`: `128`" in (tmp_path / "grid" / "README.md").read_text()


def _synth_field(param: str) -> tuple[type, str] | None:
    return (SynthOptions, param) if param in {f.name for f in fields(SynthOptions)} - {"mask_shape"} else None


def test_synth_and_demo_options_match_synth_options() -> None:
    for command in (main.commands["synth"], main.commands["demo"]):  # type: ignore[attr-defined]
        assert {"fovs", "patients", "seed"} <= _names(command)
        assert misalignments(command, _synth_field) == []
    height, width = SynthOptions().mask_shape
    assert {p.name: p.default for p in main.commands["synth"].params}["mask_shape"] == f"{height}x{width}"  # type: ignore[attr-defined]


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
    result = runner.invoke(main, ["synth", str(tmp_path / "r2"), "--mask-size", "big"])
    assert result.exit_code == 2 and "invalid --mask-size" in result.output


#: What the local workers' server imports (0.1 s to seconds each), and the CLI may not before it starts it.
HEAVY = ("datasets", "pandas", "torch", "skimage")

LIGHT = """
import json, sys
import phenocell.cli, phenocell.converters.workers, phenocell.converters.options
print(json.dumps(sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)))
"""

#: ``convert --workers 2`` up to the workers' start: what is imported when ``warm_up`` is called, with what.
AT_WARM_UP = """
import json, os, sys
import phenocell.converters.workers as workers
def warm_up(execution, *modules):
    heavy = sorted(m for m in json.loads(sys.argv[1]) if m in sys.modules)
    print(json.dumps([heavy, list(modules)]), flush=True)
    os._exit(0)
workers.warm_up = warm_up
from phenocell.cli import main
main(["convert", sys.argv[2], "--out", sys.argv[3], "--workers", "2"])
"""


def _run(code: str, *args: str) -> object:
    env = {"PYTHONPATH": str(Path(phenocell.__file__).parents[1]), "PATH": ""}
    done = subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True, env=env)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_cli_workers_and_options_import_no_heavy_package() -> None:
    """Importing the CLI, the worker pool and the options imports none of datasets, pandas, torch, skimage."""
    assert _run(LIGHT, json.dumps(HEAVY)) == []


def test_convert_starts_the_workers_before_importing_heavy_packages(tmp_path: Path) -> None:
    """The workers' server imports the driver and the source while the CLI does, not after it."""
    (tmp_path / "raw").mkdir()  # empty: read as CODEX (the stubbed warm-up ends the run before any read)
    heavy, modules = _run(AT_WARM_UP, json.dumps(HEAVY), str(tmp_path / "raw"), str(tmp_path / "out"))
    assert heavy == []
    assert modules == ["phenocell.converters.driver", "phenocell.converters.codex"]
