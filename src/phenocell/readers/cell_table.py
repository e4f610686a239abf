"""Reader for the per-cell CODEX table (``CRC_clusters_neighborhoods_markers.csv`` style).

One row per cell with its region (``File Name``), its label id in that region's mask (``Index in File``)
or only its centroid (``X:X``, ``Y:Y`` in mask pixels), its granular ``ClusterName``, ``patients``,
``groups``, ``size:size`` and marker-intensity columns named like ``CD68 - macrophages:Cyc_18_ch_4``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from phenocell.constants import MARKER_COLUMN_PATTERN, CellTableColumns
from phenocell.errors import CorruptInputError, InvalidInputError, require_file


@dataclass
class CellTable:
    """The cell table with its column mapping and marker-column names (in file order)."""

    frame: pd.DataFrame
    columns: CellTableColumns
    markers: list[str]

    def regions(self) -> list[str]:
        """Sorted region keys present in the table."""
        return sorted(self.frame[self.columns.region].astype(str).unique())

    def for_region(self, region: str) -> pd.DataFrame:
        """Rows of one region."""
        return self.frame[self.frame[self.columns.region].astype(str) == region]


def read_cell_table(
    path: Path, *, columns: CellTableColumns | None = None, marker_pattern: str = MARKER_COLUMN_PATTERN
) -> CellTable:
    """Read and validate the per-cell table.

    Args:
        path: the CSV file.
        columns: column names; defaults match the public release.
        marker_pattern: regular expression that marker-intensity column names match.

    Returns:
        The validated table.

    Raises:
        MissingInputError: the file is absent.
        CorruptInputError: the file is not parsable CSV.
        InvalidInputError: required columns are missing, the table is empty, or values are malformed.

    """
    columns = columns or CellTableColumns()
    require_file(Path(path), "cell table", "export the per-cell CSV into the raw directory")
    try:
        frame = pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        frame = pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError) as err:
        raise CorruptInputError(
            f"cannot parse cell table {path}",
            expected="a comma-separated text file with a header row",
            found=f"{type(err).__name__}: {err}",
            fix="re-export the cell table as UTF-8 CSV",
        ) from err
    if frame.empty:
        raise InvalidInputError(
            f"cell table {path} is empty",
            expected="a header row and at least one cell",
            found=f"{len(frame.columns)} columns, 0 rows",
            fix="check the export; an empty table means nothing can be labelled",
        )
    missing = [c for c in columns.required() if c not in frame.columns]
    if missing:
        raise InvalidInputError(
            f"cell table {path} lacks required columns",
            expected=f"columns {columns.required()}",
            found=f"missing {missing}; present: {list(frame.columns)}",
            fix="rename the columns in the CSV or pass the names with --region-column/--label-column/"
            "--cluster-column/--patient-column (use --label-column none to join by centroid)",
        )
    numeric = [columns.x, columns.y] + ([columns.label] if columns.label else [])
    for col in numeric:
        if not pd.api.types.is_numeric_dtype(frame[col]) or frame[col].isna().any():
            raise InvalidInputError(
                f"column {col!r} of {path} must be numeric without gaps",
                expected="numbers in every row",
                found=f"dtype {frame[col].dtype}, {int(frame[col].isna().sum())} empty cells",
                fix="fill or drop the rows with missing values",
            )
    regex = re.compile(marker_pattern)
    markers = [c for c in frame.columns if regex.search(str(c))]
    frame[columns.cluster] = frame[columns.cluster].astype(str).str.strip()
    return CellTable(frame=frame, columns=columns, markers=markers)
