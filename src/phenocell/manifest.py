"""A dataset's ``manifest.json``: a record that writes and reads itself (as :class:`phenocell.splits.Splits`).

It says what made the dataset and what it holds: the phenocell version, the dataset profile (``None`` for
PhenoCell, the default), the options, sha256 of every input file (and of inputs named by options outside
the raw folder), every shard (its FoV, sha256, rows, cells per class, and for a FoV cut by tile-level
split files its ``parts``), the marker names and the class merges.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from phenocell import __version__
from phenocell.errors import InvalidInputError, read_json_file
from phenocell.records import FovSummary

MANIFEST_FILE = "manifest.json"
CONVERT = "phenocell-convert"
#: Members every dataset manifest has (``profile`` and ``external_inputs`` are written only when set).
REQUIRED = ("options", "inputs", "shards", "markers", "class_map")


@dataclass
class Manifest:
    """The ``manifest.json`` of a dataset directory."""

    options: dict[str, Any]
    inputs: dict[str, str]
    shards: list[FovSummary]
    markers: list[str]
    class_map: dict[str, list[str]]
    profile: str | None = None  # None: PhenoCell
    external_inputs: dict[str, str] | None = None  # files named by options outside the raw folder
    phenocell_version: str = field(default=__version__)

    def shard_entries(self) -> dict[str, dict[str, Any]]:
        """The ``shards`` member: sha256, row count and cells per class of every shard (and its parts)."""
        return {
            f.shard: {"fov": f.fov, "sha256": f.sha256, "rows": f.tiles, "cells_per_class": f.cells_per_class}
            | ({"parts": f.parts} if f.parts else {})
            for f in self.shards
        }

    def to_json(self) -> dict[str, Any]:
        """The ``manifest.json`` document (members in a fixed order; optional ones only when set)."""
        doc: dict[str, Any] = {"phenocell_version": self.phenocell_version}
        doc |= {"profile": self.profile} if self.profile is not None else {}
        doc |= {"options": self.options, "inputs": self.inputs}
        doc |= {"external_inputs": self.external_inputs} if self.external_inputs is not None else {}
        return doc | {"shards": self.shard_entries(), "markers": self.markers, "class_map": self.class_map}

    def write(self, folder: Path) -> Path:
        """Write ``folder/manifest.json``; returns its path."""
        path = Path(folder) / MANIFEST_FILE
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        return path

    @classmethod
    def read(cls, folder: Path) -> Manifest:
        """Read ``folder/manifest.json``.

        Raises:
            MissingInputError / CorruptInputError: no manifest, or not JSON.
            InvalidInputError: a member a dataset manifest needs is missing or malformed.

        """
        path = Path(folder) / MANIFEST_FILE
        doc = read_json_file(path, "manifest.json of a dataset", f"pass a directory written by {CONVERT}")
        try:
            return cls.from_json(doc, folder=Path(folder))
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            raise InvalidInputError(
                f"{path} lacks what a dataset manifest needs",
                expected=f"members {', '.join(REQUIRED)}; per shard fov, sha256, rows and cells_per_class",
                found=f"{type(err).__name__}: {err} (manifest of phenocell {_version(doc)})",
                fix="re-run phenocell-convert with this version",
            ) from None

    @classmethod
    def read_if_present(cls, folder: Path) -> Manifest | None:
        """:meth:`read`, or ``None`` when ``folder`` holds no ``manifest.json`` at all."""
        return cls.read(folder) if (Path(folder) / MANIFEST_FILE).is_file() else None

    @classmethod
    def from_json(cls, doc: dict[str, Any], *, folder: Path | None = None) -> Manifest:
        """The record of a parsed document; ``folder`` (the dataset) fills in each shard's file size."""
        shards = [
            FovSummary(
                str(meta["fov"]),
                shard,
                str(meta["sha256"]),
                int(meta["rows"]),
                {int(k): int(v) for k, v in meta["cells_per_class"].items()},
                _size(folder, shard),
                dict(meta.get("parts", {})),
            )
            for shard, meta in sorted(doc["shards"].items())
        ]
        return cls(
            options=dict(doc["options"]),
            inputs=dict(doc["inputs"]),
            shards=shards,
            markers=list(doc["markers"]),
            class_map={k: list(v) for k, v in doc["class_map"].items()},
            profile=doc.get("profile"),
            external_inputs=doc.get("external_inputs"),
            phenocell_version=str(doc.get("phenocell_version", "")),
        )

    def shard_sha256(self) -> dict[str, str]:
        """``{shard: sha256}`` of every shard (paths relative to the dataset directory)."""
        return {s.shard: s.sha256 for s in self.shards}

    def shard_fovs(self) -> list[tuple[str, str]]:
        """``(fov, shard)`` of every shard, sorted."""
        return sorted((s.fov, s.shard) for s in self.shards)


def _size(folder: Path | None, shard: str) -> int:
    path = None if folder is None else folder / shard
    return path.stat().st_size if path is not None and path.is_file() else 0


def _version(doc: Any) -> str:
    return str(doc.get("phenocell_version")) if isinstance(doc, dict) else "unknown"


def manifest_profile(folder: Path) -> str | None:
    """The profile named by ``folder/manifest.json`` (``None``: PhenoCell, or no manifest at all)."""
    path = Path(folder) / MANIFEST_FILE
    if not path.is_file():
        return None
    doc = read_json_file(path, "manifest.json of a dataset", "pass a directory written by phenocell-convert")
    return doc.get("profile") if isinstance(doc, dict) else None
