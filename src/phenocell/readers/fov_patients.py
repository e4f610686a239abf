"""Reader for a FoV → patient table: a CSV with a region column and a patient column.

Used where the FoVs come without a per-cell table (the authors' per-FoV HDF5 files): ``fov_patients.csv``
with the cell table's column names (``File Name,patients`` by default), or the public cell table itself, of
which only those two columns are read.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from phenocell.errors import CorruptInputError, InvalidInputError, require_file


def read_fov_patients(path: Path, *, region: str = "File Name", patient: str = "patients") -> dict[str, str]:
    """``{region: patient}`` from a CSV; a region listed with two patients is an error.

    Raises:
        MissingInputError: the file is absent.
        CorruptInputError: the file is not parsable CSV.
        InvalidInputError: a column is missing, or a region has several patients.

    """
    path = Path(path)
    require_file(path, "FoV → patient table", f"add {path.name} with columns {region!r},{patient!r}")
    try:
        frame = pd.read_csv(path, dtype=str, usecols=lambda c: c in (region, patient))
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorruptInputError(
            f"cannot parse FoV → patient table {path}",
            expected="CSV with a header row",
            found=f"{type(err).__name__}: {err}",
            fix="re-export the table as UTF-8 CSV",
        ) from err
    missing = [c for c in (region, patient) if c not in frame.columns]
    if missing or frame.empty:
        raise InvalidInputError(
            f"FoV → patient table {path} is incomplete",
            expected=f"columns {[region, patient]} and one row per FoV",
            found=f"missing columns {missing}, {len(frame)} rows",
            fix="add the columns, or name them with --region-column / --patient-column",
        )
    pairs = frame[[region, patient]].dropna().astype(str).apply(lambda s: s.str.strip()).drop_duplicates()
    many = sorted(pairs[region][pairs[region].duplicated()].unique().tolist())
    if many:
        raise InvalidInputError(
            f"FoV → patient table {path} gives regions several patients",
            expected="one patient per region",
            found=f"regions {many[:5]}",
            fix=f"check the {patient!r} column",
        )
    return dict(zip(pairs[region], pairs[patient], strict=True))
