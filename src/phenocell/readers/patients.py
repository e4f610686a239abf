"""Reader for the patient table: patient id, tumor type, pTNM stage, group (and optional MSI status)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from phenocell.constants import PatientColumns
from phenocell.errors import CorruptInputError, InvalidInputError, require_file
from phenocell.records import Patient

_TUMOR_ALIASES = {
    "adenocarcinoma": "adenocarcinoma",
    "adeno": "adenocarcinoma",
    "mucinous": "mucinous",
    "mucinous adenocarcinoma": "mucinous",
}
_MSI_ALIASES = {"msi": "MSI", "msi-h": "MSI", "mss": "MSS", "msi-l": "MSS"}
_STAGE_ALIASES = {"3": 3, "iii": 3, "pt3": 3, "4": 4, "iv": 4, "pt4": 4}


def _normalise(value: object, aliases: Mapping[str, object], column: str, path: Path, patient: str) -> object:
    key = str(value).strip().lower()
    if key not in aliases:
        raise InvalidInputError(
            f"patient {patient}: bad {column!r} in {path}",
            expected=f"one of {sorted(set(aliases))}",
            found=repr(value),
            fix=f"correct the {column!r} value of patient {patient}",
        )
    return aliases[key]


def read_patient_table(path: Path, *, columns: PatientColumns | None = None) -> dict[str, Patient]:
    """Read the patient table into ``{patient id: Patient}``.

    Tumor types are normalised to ``adenocarcinoma`` / ``mucinous`` and stages to 3 / 4.

    Raises:
        MissingInputError: the file is absent.
        CorruptInputError: the file is not parsable CSV.
        InvalidInputError: a column is missing, a value is not a known tumor type or stage, or a patient
            is listed twice.

    """
    columns = columns or PatientColumns()
    require_file(Path(path), "patient table", "add patients.csv with tumor type and pTNM stage per patient")
    try:
        frame = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorruptInputError(
            f"cannot parse patient table {path}",
            expected="CSV with a header row",
            found=f"{type(err).__name__}: {err}",
            fix="re-export the patient table as UTF-8 CSV",
        ) from err
    need = [columns.patient, columns.tumor_type, columns.stage, columns.group]
    missing = [c for c in need if c not in frame.columns]
    if missing or frame.empty:
        raise InvalidInputError(
            f"patient table {path} is incomplete",
            expected=f"columns {need} and one row per patient",
            found=f"missing columns {missing}, {len(frame)} rows",
            fix="add the missing columns / rows",
        )
    dupes = frame[columns.patient][frame[columns.patient].duplicated()].tolist()
    if dupes:
        raise InvalidInputError(
            f"patient table {path} lists patients twice",
            expected="one row per patient",
            found=f"duplicates {dupes}",
            fix="remove the duplicate rows",
        )
    out: dict[str, Patient] = {}
    for values in frame.to_dict("records"):
        pid = str(values[columns.patient]).strip()
        tumor = _normalise(values[columns.tumor_type], _TUMOR_ALIASES, columns.tumor_type, path, pid)
        stage = _normalise(values[columns.stage], _STAGE_ALIASES, columns.stage, path, pid)
        msi = None
        if "msi" in columns.optional and isinstance(values.get("msi"), str) and values["msi"].strip():
            msi = str(_normalise(values["msi"], _MSI_ALIASES, "msi", path, pid))
        out[pid] = Patient(pid, str(tumor), int(str(stage)), str(values[columns.group]).strip(), msi)
    return out
