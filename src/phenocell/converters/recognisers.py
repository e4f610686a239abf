"""How ``--source auto`` recognises each input format, from file names alone.

Each function here is one format's ``Source.recognise``, named like its module in
:data:`phenocell.converters.FORMATS` (``detect`` finds it by that name). The module imports the standard
library and :mod:`phenocell.constants` only, so detecting a format costs a few ``stat`` calls: no format
module, no reader and none of their packages (h5py, lmdb, scipy, spatialdata, zarr, tifffile, pandas) is
imported until the detected format's own module is.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from phenocell.constants import (
    ARCTIQUE_SUBSETS,
    CELL_TABLE_FILE,
    HDF5_SUFFIXES,
    LIZARD_LABEL_DIR,
    LMDB_LABEL_DICT_FILE,
    LMDB_SUBDIR,
    PANNUKE_FOLD_PATTERN,
)

_FOLD = re.compile(PANNUKE_FOLD_PATTERN, re.IGNORECASE)


def hdf5_files(raw_dir: Path) -> dict[str, Path]:
    """``{region: file}`` of the HDF5 files directly in ``raw_dir`` (region = file name without suffix)."""
    raw_dir = Path(raw_dir)
    if not raw_dir.is_dir():
        return {}
    return {p.stem: p for p in sorted(raw_dir.iterdir()) if p.suffix in HDF5_SUFFIXES and p.is_file()}


def phenobench_hdf5(path: Path) -> bool:
    """A folder holding ``*.hdf`` files (or ``.h5``, ``.hdf5``)."""
    return bool(hdf5_files(path))


def authors_lmdb(path: Path) -> bool:
    """A folder holding ``label_dict.json`` and an LMDB (``lmdb/data.mdb`` or ``data.mdb``)."""
    path = Path(path)
    has_env = any((p / "data.mdb").is_file() for p in (path / LMDB_SUBDIR, path))
    return has_env and (path / LMDB_LABEL_DICT_FILE).is_file()


def lizard(path: Path) -> bool:
    """A folder holding ``Lizard_Labels/`` (directly or one level down)."""
    path = Path(path)
    return any(p.is_dir() for p in (path / LIZARD_LABEL_DIR, *path.glob(f"*/{LIZARD_LABEL_DIR}")))


def pannuke(path: Path) -> bool:
    """A folder holding fold folders (``fold1`` or ``Fold 1``) with ``images/``."""
    path = Path(path)
    children = sorted(path.iterdir()) if path.is_dir() else []
    return any(_FOLD.match(c.name) and (c / "images").is_dir() for c in children)


def arctique(path: Path) -> bool:
    """A folder holding ``images/img_<i>.png`` (flat) or ``train/images/`` / ``test/images/``."""
    roots = [Path(path), *(Path(path) / s for s in ARCTIQUE_SUBSETS)]
    return any(any((root / "images").glob("img_*.png")) for root in roots)


def spatialdata(path: Path) -> bool:
    """A folder whose zarr root carries spatialdata's attributes (zarr v3), or a v2 spatialdata layout."""
    root = Path(path)
    if (root / "zarr.json").is_file():
        try:
            attrs = json.loads((root / "zarr.json").read_text(encoding="utf-8")).get("attributes", {})
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, AttributeError):
            return False
        return isinstance(attrs, dict) and "spatialdata_attrs" in attrs
    return (root / ".zgroup").is_file() and any((root / d).is_dir() for d in ("images", "labels", "tables"))


def codex(path: Path) -> bool:
    """A folder holding the cell table."""
    return (Path(path) / CELL_TABLE_FILE).is_file()

