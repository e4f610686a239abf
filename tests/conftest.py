from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path
from typing import Any

import pytest

from phenocell.converters import source_type
from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions, Hdf5Options

_spec = importlib.util.spec_from_file_location(
    "codex_data", Path(__file__).parent / "data" / "codex" / "data.py"
)
assert _spec and _spec.loader
codex_data = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(codex_data)


def _export_fixtures(
    generator: Any, raw: tuple[str, str], converted: tuple[str, str], options: Any
) -> tuple[Any, Any]:
    """Session fixtures for a raw export and it converted, each named by (fixture name, temporary folder)."""

    @pytest.fixture(scope="session", name=raw[0])
    def raw_fixture(tmp_path_factory: pytest.TempPathFactory) -> Path:
        """A generator's tiny synthetic raw export (read-only: copy it before corrupting)."""
        return generator.make_raw(tmp_path_factory.mktemp(raw[1]) / "raw")

    @pytest.fixture(scope="session", name=converted[0])
    def converted_fixture(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
        """That raw export converted (source auto-detected), in a directory named ``phenocell``.

        With the grid layout (``--tiling grid``; a CODEX export on the H&E's own pixels, ``--pixel-grid he``):
        the tests of tile geometry, joins and metrics were written for it; the default layout has its own.
        """
        out = tmp_path_factory.mktemp(converted[1]) / "phenocell"
        return convert(request.getfixturevalue(raw[0]), out, options=options)

    return raw_fixture, converted_fixture


@pytest.fixture(autouse=True, scope="session")
def _private_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Benchmark runs in tests keep their tile store in a temporary folder, never the user's cache."""
    patch = pytest.MonkeyPatch()
    patch.setenv("PHENOCELL_CACHE", str(tmp_path_factory.mktemp("phenocell_cache")))
    yield
    patch.undo()


#: The CODEX-layout export and it converted.
raw_export, dataset_dir = _export_fixtures(
    codex_data,
    ("raw_export", "raw"),
    ("dataset_dir", "converted"),
    CodexOptions(tile_size=codex_data.TILE, tiling="grid", pixel_grid="he", progress=False),
)


@pytest.fixture()
def raw_copy(raw_export: Path, tmp_path: Path) -> Path:
    """A private copy of the raw export that a test may damage."""
    return Path(shutil.copytree(raw_export, tmp_path / "raw"))


def _load(name: str, path: Path):
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


phenobench_data = _load("phenobench_data", Path(__file__).parent / "data" / "phenobench" / "data.py")
phenobench_lmdb = _load("phenobench_lmdb", Path(__file__).parent / "data" / "phenobench" / "lmdb_data.py")


#: The per-FoV HDF5 export and it converted.
hdf5_raw, hdf5_dataset = _export_fixtures(
    phenobench_data,
    ("hdf5_raw", "hdf5"),
    ("hdf5_dataset", "hdf5_converted"),
    Hdf5Options(tile_size=phenobench_data.TILE, tiling="grid", progress=False),
)


@pytest.fixture(scope="session")
def exported_lmdb(hdf5_dataset: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """``hdf5_dataset`` exported in the authors' LMDB layout (read-only)."""
    from phenocell.loaders.lmdb_export import export_lmdb

    return export_lmdb(hdf5_dataset, tmp_path_factory.mktemp("lmdb") / "release", progress=False)[0]


@pytest.fixture(scope="session")
def authors_lmdb(hdf5_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release written the authors' way from the HDF5 export (no phenocell extra keys; read-only)."""
    return phenobench_lmdb.make_authors_lmdb(hdf5_raw, tmp_path_factory.mktemp("authors") / "release")


def load_generator(name: str):
    """The seeded generator module ``tests/data/<name>/data.py``."""
    return _load(f"{name}_data", Path(__file__).parent / "data" / name / "data.py")


RELEASE_MAKERS = {"lizard": "make_lizard", "pannuke": "make_pannuke", "arctique": "make_arctique"}


@pytest.fixture(scope="session")
def release_raw(tmp_path_factory: pytest.TempPathFactory):
    """``release_raw(name)``: the tiny mock of a released dataset (read-only), generated once per session."""
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            module = load_generator(name)
            made[name] = getattr(module, RELEASE_MAKERS[name])(tmp_path_factory.mktemp(name) / "raw")
        return made[name]

    return make


@pytest.fixture(scope="session")
def release_dataset(release_raw, tmp_path_factory: pytest.TempPathFactory):
    """``release_dataset(name)``: that mock converted with ``--source name`` (``--tiling grid``, tile size of
    its generator)."""
    made: dict[str, Path] = {}

    def make(name: str) -> Path:
        if name not in made:
            tile = load_generator(name).TILE
            out = tmp_path_factory.mktemp(f"{name}_converted") / name
            options = source_type(name).options_type(tile_size=tile, tiling="grid", progress=False)
            made[name] = convert(release_raw(name), out, source=name, options=options)
        return made[name]

    return make


@pytest.fixture(scope="session")
def spatialdata_raw(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """``(codex, store)``: the tiny SpatialData store and the export it was made from (read-only)."""
    pytest.importorskip("spatialdata")
    data = load_generator("spatialdata")
    codex = data.make_codex(tmp_path_factory.mktemp("spatialdata") / "codex")
    return codex, data.make_store(codex, codex.parent / "store.zarr")
