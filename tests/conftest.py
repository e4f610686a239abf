from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

from phenocell.pipeline.convert import ConvertOptions, convert

_spec = importlib.util.spec_from_file_location(
    "codex_data", Path(__file__).parent / "data" / "codex" / "data.py"
)
assert _spec and _spec.loader
codex_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(codex_data)


@pytest.fixture(scope="session")
def raw_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny synthetic raw export (read-only: copy it before corrupting)."""
    return codex_data.make_raw(tmp_path_factory.mktemp("raw") / "raw")


@pytest.fixture(scope="session")
def dataset_dir(raw_export: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The tiny export converted, in a directory named ``phenocell``."""
    out = tmp_path_factory.mktemp("converted") / "phenocell"
    return convert(raw_export, out, options=ConvertOptions(tile_size=codex_data.TILE, progress=False))


@pytest.fixture()
def raw_copy(raw_export: Path, tmp_path: Path) -> Path:
    """A private copy of the raw export that a test may damage."""
    return Path(shutil.copytree(raw_export, tmp_path / "raw"))
