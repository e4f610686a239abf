"""The format table: every source satisfies the contract, recognises its own input and no other's."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import phenocell
from phenocell.converters import FALLBACK, FORMATS, detect, options_type, source_type
from phenocell.converters.base import FovSource, Source
from phenocell.converters.options import FORMAT_OPTIONS
from phenocell.errors import InvalidOptionError, MissingInputError

#: Formats whose example needs an optional package this environment lacks.
UNBUILT = set() if importlib.util.find_spec("spatialdata") else {"spatialdata"}


@pytest.fixture()
def inputs(
    raw_export: Path, hdf5_raw: Path, authors_lmdb: Path, release_raw: Any, request: pytest.FixtureRequest
) -> dict[str, Path]:
    """One example input per format (of those this environment can build)."""
    found = {"codex": raw_export, "phenobench-hdf5": hdf5_raw, "authors-lmdb": authors_lmdb}
    if "spatialdata" not in UNBUILT:
        found["spatialdata"] = request.getfixturevalue("spatialdata_raw")[1]
    return found | {name: release_raw(name) for name in ("lizard", "pannuke", "arctique")}


def test_auto_detects_every_format_and_each_recognises_only_its_own(inputs: dict[str, Path]) -> None:
    assert set(inputs) == set(FORMATS) - UNBUILT
    for name, path in inputs.items():
        assert detect(path) == name
        others = [n for n in FORMATS if n != name and source_type(n).recognise(path)]
        assert others == [], f"{name}'s input is also recognised by {others}"


#: What reading some format's input needs, and recognising one must not: each costs 0.1 s to seconds.
HEAVY = ("h5py", "lmdb", "scipy", "spatialdata", "zarr", "tifffile", "pandas", "PIL", "pyarrow")

DETECT = """
import json, sys
from phenocell.converters import FORMATS, detect
name = detect(sys.argv[1])
modules = [f"phenocell.converters.{m}" for m in FORMATS.values()] + json.loads(sys.argv[2])
print(json.dumps([name, sorted(m for m in modules if m in sys.modules)]))
"""


def test_detect_imports_no_format_module_nor_heavy_package(inputs: dict[str, Path]) -> None:
    env = {"PYTHONPATH": str(Path(phenocell.__file__).parents[1]), "PATH": ""}
    for name, path in inputs.items():
        run = [sys.executable, "-c", DETECT, str(path), json.dumps(HEAVY)]
        done = subprocess.run(run, capture_output=True, text=True, env=env, check=True)
        assert json.loads(done.stdout) == [name, []], f"detecting {name} imported these"


def test_every_source_opens_to_the_contract(inputs: dict[str, Path]) -> None:
    for name, path in inputs.items():
        kind = source_type(name)
        assert kind.name == name and dict(FORMATS)[name] == kind.__module__.rpartition(".")[2]
        opened = kind.open(path, kind.options_type())
        assert isinstance(opened, Source)
        units = opened.units()
        assert units == sorted(units) and units
        assert opened.for_unit(units[0]).units() == [units[0]]
        assert isinstance(opened, FovSource) == hasattr(kind, "open_fov")


def test_each_format_options_table_entry_is_its_source_options_type() -> None:
    """The CLI reads a format's options from the table, without importing its module: the two agree."""
    assert list(FORMAT_OPTIONS) == list(FORMATS)
    for name in FORMATS:
        assert options_type(name) is source_type(name).options_type


def test_unknown_format_lists_the_valid_ones(tmp_path: Path) -> None:
    with pytest.raises(InvalidOptionError, match="pannuke") as info:
        source_type("consep")
    assert "auto" in info.value.expected
    with pytest.raises(InvalidOptionError, match="pannuke"):
        options_type("consep")
    with pytest.raises(InvalidOptionError, match="pannuke"):
        detect(tmp_path, "consep")
    assert detect(tmp_path) == FALLBACK  # nothing recognised: read as a CODEX export, whose errors say more


@pytest.mark.parametrize("source", ["auto", "codex", "spatialdata"])
def test_a_raw_input_that_does_not_exist_is_named_as_missing(tmp_path: Path, source: str) -> None:
    """Not 'missing cell table' (the fallback format's first file) but the path itself, whatever --source."""
    missing = tmp_path / "no-such-export"
    with pytest.raises(MissingInputError, match="raw input not found") as err:
        detect(missing, source)
    assert err.value.found == f"nothing at {missing}"
    assert not missing.exists()


def test_cli_convert_of_a_missing_raw_dir_exits_2_and_writes_nothing(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from phenocell.cli import main

    out = tmp_path / "out"
    result = CliRunner().invoke(main, ["convert", str(tmp_path / "nowhere"), "--out", str(out)])
    assert result.exit_code == 2, result.output
    assert "raw input not found" in result.output and "CRC_clusters" not in result.output
    assert not out.exists()
