"""Reader for the per-cell CODEX table (``CRC_clusters_neighborhoods_markers.csv`` style).

One row per cell with its region (``File Name``), its label id in that region's mask (``Index in File``)
or only its centroid (``X:X``, ``Y:Y`` in mask pixels), its granular ``ClusterName``, ``patients``,
``groups``, ``size:size`` and marker-intensity columns named like ``CD68 - macrophages:Cyc_18_ch_4``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from phenocell.constants import MARKER_COLUMN_PATTERN, MAX_LABEL, CellTableColumns
from phenocell.errors import CorruptInputError, InvalidInputError, require_file
from phenocell.records import NormalisationLog


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


_GZIP_MAGIC = b"\x1f\x8b"


def _sniff(path: Path) -> None:
    """Name the usual wrong formats (gzip, another delimiter) instead of failing on them later."""
    with open(path, "rb") as handle:
        head = handle.read(4096)
    if head.startswith(_GZIP_MAGIC) or head.startswith(b"PK\x03\x04"):
        kind = "gzip" if head.startswith(_GZIP_MAGIC) else "zip/xlsx"
        raise CorruptInputError(
            f"cell table {path} is {kind}-compressed",
            expected="a plain comma-separated text file",
            found=f"{kind} data",
            fix=f"decompress it (or export the sheet as CSV) to {path.name}",
        )
    first = head.split(b"\n", 1)[0].decode("utf-8", errors="replace")
    for name, sep in (("semicolon", ";"), ("tab", "\t")):
        if "," not in first and first.count(sep) >= 2:
            raise CorruptInputError(
                f"cell table {path} is {name}-delimited",
                expected="comma-separated values",
                found=f"a header with {first.count(sep)} {name}s and no comma",
                fix=f"re-export with commas as the delimiter (e.g. pandas: read_csv(sep={sep!r}).to_csv())",
            )


def _find_nul(path: Path, chunk: int = 1 << 24) -> int | None:
    """The line number of the first NUL byte in ``path`` (pandas would silently cut a value there)."""
    lines = 1
    with open(path, "rb") as handle:
        while block := handle.read(chunk):
            at = block.find(b"\x00")
            if at >= 0:
                return lines + block.count(b"\n", 0, at)
            lines += block.count(b"\n")
    return None


def _parse(path: Path) -> pd.DataFrame:
    _sniff(path)
    line = _find_nul(path)
    if line is not None:
        raise CorruptInputError(
            f"cell table {path} holds a NUL byte",
            expected="plain text: no NUL or other control characters in names and values",
            found=f"a NUL byte on line {line} (a CSV reader would cut the value there, silently)",
            fix=f"remove the NUL characters from line {line} (check the region names of that row)",
        )
    try:
        return pd.read_csv(path, low_memory=False)
    except pd.errors.EmptyDataError:
        return pd.DataFrame()
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise CorruptInputError(
            f"cannot parse cell table {path}",
            expected="a comma-separated text file with a header row",
            found=f"{type(err).__name__}: {err}",
            fix="re-export the cell table as UTF-8 CSV",
        ) from err


def _check_columns(frame: pd.DataFrame, columns: CellTableColumns, path: Path) -> None:
    """An empty table, or one without the required columns, is an error."""
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


def _check_text_columns(frame: pd.DataFrame, columns: CellTableColumns, path: Path) -> None:
    def blank(values: pd.Series) -> pd.Series:
        return values.isna() | (values.astype(str).str.strip() == "")

    for col in [c for c in (columns.region, columns.cluster, columns.patient) if c is not None]:
        if blank(pd.Series(frame[col].unique())).any():  # few distinct names: check those, not every row
            empty = blank(frame[col])
            rows = (empty[empty].index[:5] + 2).tolist()  # file line numbers (header is line 1)
            raise InvalidInputError(
                f"column {col!r} of {path} has empty values",
                expected=f"a value in every row of {col!r}",
                found=f"{int(empty.sum())} empty cells, e.g. on lines {rows}",
                fix="fill or drop those rows",
            )


def _bad_numbers(
    col: str, path: Path, why: str, values: pd.Series, want: str, fix: str | None = None
) -> InvalidInputError:
    pairs = [f"line {i + 2}: {v!r}" for i, v in zip(values.index[:5], values.head(5).tolist(), strict=True)]
    return InvalidInputError(
        f"column {col!r} of {path} has {why}",
        expected=want,
        found=f"{len(values)} rows, e.g. {'; '.join(pairs)}" if len(values) else "none",
        fix=fix or f"correct or drop those rows of {col!r}",
    )


def _column_fix(col: str, columns: CellTableColumns) -> str:
    if col == columns.label:
        return (
            f"correct those rows: {col!r} holds each cell's integer mask label id; or join by centroid "
            "with --label-column none"
        )
    return f"correct or drop those rows: {col!r} holds the cell centroid in mask pixels"


def _as_numbers(frame: pd.DataFrame, col: str, path: Path, fix: str) -> pd.Series:
    """Column ``col`` as float64; text that is no number and empty cells are errors naming line and value."""
    raw = frame[col]
    values = pd.to_numeric(raw, errors="coerce").astype(np.float64)
    text = raw[values.isna() & raw.notna()]
    if len(text):
        raise _bad_numbers(col, path, "values that are not numbers", text, "a number in every row", fix)
    if values.isna().any():
        empty = raw[values.isna()]
        raise _bad_numbers(
            col, path, "empty cells", empty, "a number in every row", "fill or drop those rows"
        )
    return values


def _check_numeric_columns(frame: pd.DataFrame, columns: CellTableColumns, path: Path) -> None:
    numeric = [columns.x, columns.y] + ([columns.label] if columns.label else [])
    for col in numeric:
        fix = _column_fix(col, columns)
        values = _as_numbers(frame, col, path, fix)
        bad = frame[col][~np.isfinite(values) | (values < 0)]
        if len(bad):
            raise _bad_numbers(col, path, "infinite or negative values", bad, "finite values >= 0", fix)
        frame[col] = values
    if columns.label:
        values = frame[columns.label]
        bad = values[(values != np.floor(values)) | (values > MAX_LABEL)]
        if len(bad):
            raise _bad_numbers(
                columns.label,
                path,
                "labels that are not mask label ids",
                bad,
                f"integers 0..{MAX_LABEL}",
                _column_fix(columns.label, columns),
            )
        frame[columns.label] = values.astype(np.int64)


def read_cell_table(
    path: Path,
    *,
    columns: CellTableColumns | None = None,
    marker_pattern: str = MARKER_COLUMN_PATTERN,
    log: NormalisationLog | None = None,
) -> CellTable:
    """Read and validate the per-cell table.

    Args:
        path: the CSV file.
        columns: column names; defaults match the public release.
        marker_pattern: regular expression that marker-intensity column names match.
        log: where the surrounding spaces stripped from region / patient / cluster values are counted.

    Returns:
        The validated table.

    Raises:
        MissingInputError: the file is absent.
        CorruptInputError: the file is not parsable CSV (gzip and other delimiters are named as such).
        InvalidInputError: required columns are missing, the table is empty, or values are malformed (empty
            region / cluster / patient, non-finite or negative centroids, non-integer labels).

    """
    columns = columns or CellTableColumns()
    path = Path(path)
    require_file(path, "cell table", "export the per-cell CSV into the raw directory")
    frame = _parse(path)
    _check_columns(frame, columns, path)
    _check_text_columns(frame, columns, path)
    _check_numeric_columns(frame, columns, path)
    regex = re.compile(marker_pattern)
    markers = [c for c in frame.columns if regex.search(str(c))]
    for col in [c for c in (columns.region, columns.patient, columns.cluster) if c is not None]:
        text = frame[col].astype(str)
        if any(v != v.strip() for v in text.unique()):  # few distinct names: strip rows only if one needs it
            frame[col] = text.str.strip()
            if log is not None:
                log.note(col, "spaces", text, frame[col])
        else:
            frame[col] = text
    return CellTable(frame=frame, columns=columns, markers=markers)
