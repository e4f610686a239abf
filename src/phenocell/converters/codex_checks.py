"""Checks run before any conversion work: region names, segmentations without table rows.

A segmentation whose region has no row in the cell table would silently produce no FoV; it is an error
unless ``--allow-unlabelled-fovs``, which skips it and reports it with the QC exclusions.
"""

from __future__ import annotations

from pathlib import Path

from phenocell.constants import IMAGE_SUFFIXES, MASK_DIR, POLYGON_DIR, POLYGON_SUFFIXES
from phenocell.errors import InvalidInputError
from phenocell.panoptic.class_merges import ClassMap
from phenocell.paths import check_region_name
from phenocell.readers.cell_table import CellTable
from phenocell.records import NormalisationLog

UNLABELLED_REASON = "no cell-table rows (skipped with --allow-unlabelled-fovs)"


def check_region_names(regions: list[str], source: Path) -> None:
    """Every region name of the cell table must be a plain identifier (never a path)."""
    for region in regions:
        check_region_name(region, source=str(source))


def canonical_cluster_names(
    table: CellTable, class_map: ClassMap, source: Path, log: NormalisationLog
) -> None:
    """Spell every cluster name of ``table`` as the class map does (case and spacing folded).

    The changed values are counted in ``log``; an unknown name is an error naming it.
    """
    column = table.columns.cluster
    names = table.frame[column]
    spelling = {n: class_map.canonical(n, context=f" in {source}") for n in sorted(names.unique())}
    if any(k != v for k, v in spelling.items()):
        table.frame[column] = names.map(spelling)
        log.note(column, "case", names, table.frame[column])


def segmentation_regions(raw_dir: Path) -> list[str]:
    """Regions that have a label mask or outline file in the raw export (hidden files ignored)."""
    found: set[str] = set()
    for folder, suffixes in ((MASK_DIR, IMAGE_SUFFIXES), (POLYGON_DIR, POLYGON_SUFFIXES)):
        if (raw_dir / folder).is_dir():
            found.update(
                p.stem
                for p in (raw_dir / folder).iterdir()
                if p.is_file() and p.suffix.lower() in suffixes and not p.name.startswith(".")
            )
    return sorted(found)


def unlabelled_fovs(
    raw_dir: Path, table_regions: list[str], excluded: dict[str, str], *, allow: bool
) -> dict[str, str]:
    """Segmented regions with no cell-table row (and not excluded): ``{fov: reason}`` when ``allow``.

    Raises:
        InvalidInputError: there are such regions and ``allow`` is false.
    """
    known = set(table_regions) | set(excluded)
    missing = [r for r in segmentation_regions(raw_dir) if r not in known]
    if missing and not allow:
        raise InvalidInputError(
            "segmentations without cell-table rows",
            expected="every region with a mask / outline file to have rows in the cell table",
            found=f"{len(missing)} regions with no rows: {missing[:5]}",
            fix="add their rows, exclude them with --exclude, or pass --allow-unlabelled-fovs to skip them "
            "(they are then listed with the QC exclusions)",
        )
    return {r: UNLABELLED_REASON for r in missing}
