"""What a conversion writes beside its shards, and the manifest of a QC page or GeoJSON export."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from pathlib import Path
from typing import Any

from phenocell import __version__
from phenocell.errors import InvalidInputError
from phenocell.manifest import Manifest
from phenocell.records import NormalisationLog
from phenocell.splits import Splits
from phenocell.storage.writer import sha256_file


def kept_regions(regions: list[str], excluded: Mapping[str, str], *, unit: str) -> list[str]:
    """``regions`` minus the excluded ones; none left is a typed error (``unit``: "regions", "FoVs")."""
    kept = [r for r in regions if r not in excluded]
    if not kept:
        raise InvalidInputError(
            "nothing to convert",
            expected=f"at least one {unit.rstrip('s')} not excluded",
            found=f"{len(regions)} {unit}, all excluded",
            fix="shorten the exclusion list",
        )
    return kept


def input_hashes(raw_dir: Path, *, exclude: Collection[str] = ()) -> dict[str, str]:
    """sha256 of every file under ``raw_dir`` not named in ``exclude``, keyed by relative path, sorted."""
    files = [p for p in sorted(raw_dir.rglob("*")) if p.is_file() and p.name not in exclude]
    return {str(p.relative_to(raw_dir)): sha256_file(p) for p in files}


def write_metadata_files(tmp: Path, splits: Splits, manifest: Manifest, qc: Mapping[str, Any]) -> None:
    """Write ``splits.json``, ``manifest.json`` and ``qc/fov_stats.json`` into the staging directory."""
    (tmp / "splits.json").write_text(json.dumps(splits.to_json(), indent=2) + "\n")
    manifest.write(tmp)
    (tmp / "qc" / "fov_stats.json").write_text(json.dumps(qc, indent=2, sort_keys=True) + "\n")


def write_output_manifest(
    tmp: Path, kind: str, raw_dir: Path, fovs: list[str], log: NormalisationLog
) -> None:
    """Write ``manifest.json`` of a QC page or GeoJSON export: it marks the folder as PhenoCell's own.

    ``--overwrite`` replaces only a folder holding one (:func:`phenocell.paths.check_replaceable`).
    ``normalised`` lists the input values read other than as written (``log``), as a dataset's
    ``qc/normalisations.json`` does.
    """
    doc: dict[str, Any] = {"phenocell_version": __version__, "kind": kind, "raw_dir": str(raw_dir)}
    doc |= {"fovs": fovs, "normalised": log.to_json()}
    (tmp / "manifest.json").write_text(json.dumps(doc, indent=2) + "\n")


#: Input values read other than as written (one entry per column and kind), beside the QC counts.
NORMALISATIONS_FILE = "normalisations.json"


def write_normalisations(tmp: Path, log: NormalisationLog) -> None:
    """Write ``qc/normalisations.json``: what the readers normalised, with counts (``[]`` when nothing)."""
    (tmp / "qc" / NORMALISATIONS_FILE).write_text(json.dumps(log.to_json(), indent=2) + "\n")
