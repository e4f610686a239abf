"""What the two FoV sources (a CODEX export, the authors' per-FoV HDF5 files) share.

Both read a patient table, link each FoV to a patient, apply the class merges and exclusions, draw (or read
with ``--splits-from``) the split families over patients, and cut each opened :class:`PanopticFov` into
tiles the same way. A subclass says how its input is read (``open``) and how one FoV opens (``open_fov``).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from phenocell.converters.base import ManifestParts, PanopticFov, UnitStats
from phenocell.converters.options import FovOptions
from phenocell.converters.outputs import input_hashes, write_normalisations
from phenocell.converters.patients import build_splits, external_inputs
from phenocell.converters.tile_parts import check_tiling
from phenocell.errors import InvalidInputError
from phenocell.panoptic.class_merges import ClassMap
from phenocell.panoptic.tile_layouts import resample_he
from phenocell.panoptic.tiling import TileSpec, iter_tiles
from phenocell.profiles import PHENOCELL, DatasetProfile
from phenocell.readers.pairs import read_exclusions, write_exclusions
from phenocell.records import NormalisationLog, Patient
from phenocell.splits import Splits
from phenocell.splits.authors import AuthorsSplits, read_authors_splits
from phenocell.storage.writer import sha256_file


def select_fovs(options: FovOptions, fovs: list[str]) -> tuple[dict[str, str], AuthorsSplits | None]:
    """The FoVs left out (``--exclude``, and those ``--splits-from`` files do not list) and those files."""
    excluded = read_exclusions(options.exclude) if options.exclude else {}
    authors = read_authors_splits(options.splits_from) if options.splits_from else None
    if authors:
        check_tiling(authors, options.tiling)
        excluded.update(authors.exclusions([f for f in fovs if f not in excluded]))
    return excluded, authors


def check_patients(fov_patient: dict[str, str], patients: dict[str, Patient], table: Path) -> None:
    """Every FoV's patient must have a row in the patient table."""
    unknown = sorted(set(fov_patient.values()) - set(patients))
    if unknown:
        raise InvalidInputError(
            "patients missing from the patient table",
            expected=f"every patient of the FoVs in {table}",
            found=f"no row for patients {unknown[:5]}",
            fix="add their tumor type and stage to the patient table, or exclude their FoVs",
        )


@dataclass
class FovSourceBase:
    """A FoV source opened on its input: patients, class merges, kept FoVs and their indices."""

    name: ClassVar[str]
    unit_word: ClassVar[str] = "FoVs"
    profile: ClassVar[DatasetProfile] = PHENOCELL

    raw: Path
    options: FovOptions
    patients: dict[str, Patient]
    class_map: ClassMap
    fov_patient: dict[str, str]  # every kept FoV → its patient
    excluded: dict[str, str]  # FoV → why it is left out
    fov_index: dict[str, int]  # every FoV of the input (excluded too) → 1-based index for global cell ids
    markers: list[str]
    authors: AuthorsSplits | None  # the authors' split files (--splits-from)
    normalised: NormalisationLog  # input values read other than as written

    def units(self) -> list[str]:
        """The kept FoVs, sorted."""
        return sorted(self.fov_patient)

    def open_fov(self, unit: str) -> PanopticFov:
        """One FoV opened (the subclass's reader)."""
        raise NotImplementedError  # pragma: no cover - every subclass defines it

    def pixel_grid(self) -> str:
        """The grid tiles are cut on without ``--target-mpp`` (``mask`` or ``he``)."""
        return "he"

    def tiles(self, unit: str, stats: UnitStats) -> Iterator[dict[str, Any]]:
        """The FoV's tiles (``--tiling``, ``--target-mpp``); its cells and QC counts go into ``stats``."""
        opened = self.open_fov(unit)
        he, mask, cells = opened.he, opened.mask, opened.cells
        stats.add_cells(cells.class_ids.tolist())
        stats.qc.update({**cells.qc, **opened.outlines})
        patient = self.patients[self.fov_patient[unit]]
        meta = {
            "fov": unit,
            "patient": patient.patient,
            "group": patient.group,
            "tumor_type": patient.tumor_type,
            "stage": patient.stage,
        }
        options = self.options
        if options.target_mpp:
            he = resample_he(he, options.target_mpp)
        elif self.pixel_grid() == "mask" and he.mpp < mask.mpp:  # the authors' grid: area-average the H&E
            he = resample_he(he, mask.mpp)
        yield from iter_tiles(
            he,
            mask,
            cells,
            TileSpec(options.tile_size, options.stride),
            meta,
            layout=options.tiling,
            semantic_map=opened.semantic,
            png_level=options.png_level,
        )

    def splits(self) -> Splits:
        """The authors' split files (``--splits-from``), else drawn over patients (``--base-by``)."""
        return build_splits(self.fov_patient, self.patients, self.authors, self.fov_index, self.options)

    def options_record(self) -> dict[str, Any]:
        """The manifest's ``options``."""
        return self.options.record(self.name)

    def manifest_parts(self) -> ManifestParts:
        """Options, input hashes (and of the files options name outside the input), markers, merges."""
        return ManifestParts(
            options=self.options_record(),
            inputs=input_hashes(self.raw),
            external_inputs={str(p): sha256_file(p) for p in external_inputs(self.raw, self.options)},
            markers=self.markers,
            class_map=self.class_map.merged_names(),
        )

    def write_extras(self, folder: Path) -> None:
        """``qc/excluded.csv`` and ``qc/normalisations.json``."""
        write_exclusions(folder / "qc" / "excluded.csv", self.excluded)
        write_normalisations(folder, self.normalised)
