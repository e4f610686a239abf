"""``--overwrite`` replaces only what PhenoCell wrote, for every command that writes a folder."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from phenocell.cli import convert_main, main

FORBIDDEN = "--overwrite only replaces what PhenoCell wrote"


def _args(command: str, raw: Path, dataset: Path, release: Path, out: Path) -> list[str]:
    """The command line of ``command`` writing to ``out`` with ``--overwrite``."""
    return {
        "convert": ["convert", str(raw), "--tile-size", "128", "--quiet"],
        "qc": ["qc", str(raw), "--workers", "1"],
        "export geojson": ["export", "geojson", str(raw), "--workers", "1"],
        "export lmdb": ["export", "lmdb", str(dataset), "--quiet"],
        "import-lmdb": ["import-lmdb", str(release), "--quiet"],
    }[command] + ["--out", str(out), "--overwrite"]


def _snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


COMMANDS = ["convert", "qc", "export geojson", "export lmdb", "import-lmdb"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("target", ["file", "folder of other files"])
def test_overwrite_refuses_what_phenocell_did_not_write(
    command: str, target: str, raw_export: Path, dataset_dir: Path, exported_lmdb: Path, tmp_path: Path
) -> None:
    if target == "file":
        out = tmp_path / "notes.txt"
        out.write_text("my notes")
        named = "is a file of 8 bytes"
    else:
        out = tmp_path / "thesis"
        (out / "figures").mkdir(parents=True)
        (out / "notes.txt").write_text("my notes")
        (out / "manifest.json").write_text(json.dumps({"title": "not PhenoCell's"}))  # no phenocell_version
        named = "holds figures, manifest.json, notes.txt and no PhenoCell manifest.json"
    before = _snapshot(out)
    result = CliRunner().invoke(main, _args(command, raw_export, dataset_dir, exported_lmdb, out))
    assert result.exit_code == 2, result.output
    assert FORBIDDEN in result.output and named in result.output and "delete it yourself" in result.output
    assert _snapshot(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == [out.name]  # no lock, no partial left


@pytest.mark.parametrize("command", COMMANDS)
def test_overwrite_replaces_an_empty_folder_and_its_own_output(
    command: str, raw_export: Path, dataset_dir: Path, exported_lmdb: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args = _args(command, raw_export, dataset_dir, exported_lmdb, out)
    first = CliRunner().invoke(main, args)
    assert first.exit_code == 0, first.output
    (out / "stale.txt").write_text("left by the first run")  # a PhenoCell folder is replaced whole
    second = CliRunner().invoke(main, args)
    assert second.exit_code == 0, second.output
    assert not (out / "stale.txt").exists() and any(out.iterdir())


def test_convert_overwrites_a_real_dataset(raw_export: Path, dataset_dir: Path, tmp_path: Path) -> None:
    out = Path(shutil.copytree(dataset_dir, tmp_path / "phenocell"))
    result = CliRunner().invoke(
        convert_main,
        [str(raw_export), "--out", str(out), "--tiling", "grid", "--tile-size", "128", "--overwrite"],
    )
    assert result.exit_code == 0, result.output
    assert json.loads((out / "manifest.json").read_text())["options"]["tile_size"] == 128


def test_a_failed_export_leaves_no_folder_it_made(raw_copy: Path, tmp_path: Path) -> None:
    (raw_copy / "masks" / "reg002_A.tif").write_bytes(b"broken")
    out = tmp_path / "sub" / "deeper" / "geo"
    result = CliRunner().invoke(
        main, ["export", "geojson", str(raw_copy), "--out", str(out), "--workers", "1"]
    )
    assert result.exit_code == 2 and "cannot decode TIFF" in result.output
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raw"]
