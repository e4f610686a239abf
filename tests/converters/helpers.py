"""Helpers the converter tests share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from phenocell.converters.driver import convert
from phenocell.converters.options import RunOptions


def import_lmdb(release: Path, out: Path, **options: Any) -> Path:
    """``phenocell import-lmdb RELEASE --out OUT`` through the Python API (``RunOptions`` keywords)."""
    return convert(release, out, source="authors-lmdb", options=RunOptions(**options))
