"""Readers for patient metadata: the patient table and the region → patient mapping (CSV or ``.xlsx``).

The patient table has one row per patient: id, tumor type (histology), UICC stage group, group (CLR / DII)
and, optionally, MSI status. The stage comes from the ``p_TNM`` stage group (``I``..``IV`` with an optional
``A``/``B``/``C`` sub-stage, Roman or Arabic), never from ``pT``: pT is the depth of the primary tumour, so
``pT3 N0 M0`` is stage IIA and any ``M1`` is stage IV.
"""

from __future__ import annotations

import re
import zipfile
from collections.abc import Mapping
from pathlib import Path

import pandas as pd

from phenocell.constants import SPREADSHEET_SUFFIXES, PatientColumns, RegionPatientColumns
from phenocell.errors import CorruptInputError, InvalidInputError, require_file
from phenocell.records import NormalisationLog, Patient

_TUMOR_ALIASES = {
    "adenocarcinoma": "adenocarcinoma",
    "adeno": "adenocarcinoma",
    "adenocarcinoma nos": "adenocarcinoma",
    "mucinous": "mucinous",
    "mucinous adenocarcinoma": "mucinous",
    "mucinous carcinoma": "mucinous",
    "adenocarcinoma, mucinous": "mucinous",
}
_MSI_ALIASES = {
    "msi": "MSI",
    "msi-h": "MSI",
    "msi-high": "MSI",
    "msi high": "MSI",
    "mss": "MSS",
    "msi-l": "MSS",
    "msi-low": "MSS",
}
_GROUP_ALIASES = {"clr": "1", "dii": "2"}
_ROMAN = {"i": 1, "ii": 2, "iii": 3, "iv": 4}
_STAGE = re.compile(r"^(?:(?:uicc\s*)?stage\s*)?(iv|iii|ii|i|[1-4])\s*([abc])?$")
_PT = re.compile(r"^y?p?t\s*(\d|is|x)")


def _corrupt(path: Path, what: str, is_sheet: bool, err: Exception) -> CorruptInputError:
    return CorruptInputError(
        f"cannot parse {what} {path}",
        expected="an .xlsx workbook" if is_sheet else "CSV with a header row",
        found=f"{type(err).__name__}: {err}",
        fix=f"re-export the {what} as .xlsx or UTF-8 CSV",
    )


def _read_frame(path: Path, what: str, sheet: str | None) -> pd.DataFrame:
    """Read a CSV or spreadsheet as strings; typed errors for unreadable files and missing sheets."""
    is_sheet = path.suffix.lower() in SPREADSHEET_SUFFIXES
    try:
        if is_sheet:
            sheet_name = sheet if sheet is not None else 0
            return pd.read_excel(path, sheet_name=sheet_name, dtype=str, engine="openpyxl")
        return pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError, zipfile.BadZipFile) as err:
        raise _corrupt(path, what, is_sheet, err) from err
    except (ValueError, KeyError, OSError) as err:  # openpyxl: unknown sheet name, or a damaged workbook
        if not is_sheet or "not found" not in str(err):
            raise _corrupt(path, what, is_sheet, err) from err
        raise InvalidInputError(
            f"cannot read sheet {sheet!r} of {path}",
            expected="an existing worksheet (--patients-sheet)",
            found=str(err),
            fix="pass the name of the sheet that holds the table, or leave it out for the first sheet",
        ) from err


def _require_columns(frame: pd.DataFrame, need: list[str], path: Path, what: str, flags: str) -> None:
    missing = [c for c in need if c not in frame.columns]
    if missing or frame.empty:
        raise InvalidInputError(
            f"{what} {path} is incomplete",
            expected=f"columns {need} and at least one row",
            found=f"missing columns {missing}, {len(frame)} rows; present: {list(frame.columns)}",
            fix=f"rename the columns or pass their names with {flags}",
        )


def _clean_id(value: object) -> str:
    """Patient / region id as text; spreadsheet numbers like ``7.0`` become ``7``."""
    text = str(value).strip()
    return text[:-2] if re.fullmatch(r"\d+\.0", text) else text


def _normalise(value: object, aliases: Mapping[str, str], column: str, path: Path, patient: str) -> str:
    key = _vocabulary_key(value)
    if key not in aliases:
        raise InvalidInputError(
            f"patient {patient}: bad {column!r} in {path}",
            expected=f"one of {sorted(set(aliases))}",
            found=repr(value),
            fix=f"correct the {column!r} value of patient {patient}",
        )
    return aliases[key]


def parse_stage(value: object, *, patient: str, column: str, path: Path) -> tuple[int, str]:
    """The UICC stage group of a ``p_TNM`` value: ``(1..4, canonical text)``, e.g. ``IIIB`` → ``(3, "IIIB")``.

    Raises:
        InvalidInputError: the value is a pT category (tumour depth, not a stage group) or unparsable.

    """
    key = " ".join(str(value).strip().lower().split())
    match = _STAGE.match(key)
    if match:
        number = _ROMAN.get(match.group(1)) or int(match.group(1))
        roman = {v: k for k, v in _ROMAN.items()}[number].upper()
        return number, roman + (match.group(2) or "").upper()
    if _PT.match(key):
        raise InvalidInputError(
            f"patient {patient}: {column!r} holds a pT category, not a stage group, in {path}",
            expected="the UICC stage group from p_TNM: I, II, III, IV with optional A/B/C (Roman or Arabic)",
            found=f"{value!r}: pT is the depth of the primary tumour, not the stage (pT3 N0 M0 is stage IIA, "
            "any M1 is stage IV)",
            fix="point --stage-column at the p_TNM stage-group column instead of pT",
        )
    raise InvalidInputError(
        f"patient {patient}: unparsable stage in column {column!r} of {path}",
        expected="a UICC stage group: I, II, III, IV with optional A/B/C (e.g. IIIB, IVA, 2A, 3)",
        found=repr(value),
        fix=f"correct the {column!r} value of patient {patient}",
    )


def _vocabulary_key(value: object) -> str:
    """A vocabulary value compared ignoring case and spacing (the one folding rule, for every column)."""
    return " ".join(str(value).strip().lower().split())


def _note_ids(frame: pd.DataFrame, cols: list[str], log: NormalisationLog) -> None:
    """Count id values read other than as written: surrounding spaces, and ``3.0`` read as ``3``."""
    for col in cols:
        text = frame[col].dropna().astype(str)
        log.note(col, "spaces", text, text.str.strip())
        log.note(col, "decimal", text.str.strip(), text.map(_clean_id))


def _note_patient_values(
    frame: pd.DataFrame, columns: PatientColumns, has_msi: bool, log: NormalisationLog
) -> None:
    """Count the patient table's values read other than as written: ids and vocabulary columns."""
    _note_ids(frame, [columns.patient, columns.group], log)
    vocabulary = [(columns.tumor_type, _TUMOR_ALIASES)] + (
        [(str(columns.msi), _MSI_ALIASES)] if has_msi else []
    )
    for col, aliases in vocabulary:
        text = frame[col].dropna().astype(str)
        folded = text.map(_vocabulary_key)
        # known only after folding (an unknown value is an error, not a normalisation)
        changed = folded.isin(set(aliases)) & ~text.isin(set(aliases) | set(aliases.values()))
        log.note(col, "case", text[changed], folded[changed].map(aliases))


def _patient(values: dict[str, object], columns: PatientColumns, path: Path, has_msi: bool) -> Patient:
    pid = _clean_id(values[columns.patient])
    tumor = _normalise(values[columns.tumor_type], _TUMOR_ALIASES, columns.tumor_type, path, pid)
    stage, stage_group = parse_stage(values[columns.stage], patient=pid, column=columns.stage, path=path)
    group = _clean_id(values[columns.group])
    msi = None
    raw_msi = values.get(columns.msi) if has_msi and columns.msi else None
    if isinstance(raw_msi, str) and raw_msi.strip():
        msi = _normalise(raw_msi, _MSI_ALIASES, str(columns.msi), path, pid)
    return Patient(pid, tumor, stage, _GROUP_ALIASES.get(group.lower(), group), msi, stage_group)


def read_patient_table(
    path: Path,
    *,
    columns: PatientColumns | None = None,
    sheet: str | None = None,
    log: NormalisationLog | None = None,
) -> dict[str, Patient]:
    """Read the patient table (CSV, or ``.xlsx`` through openpyxl) into ``{patient id: Patient}``.

    Tumor types are normalised to ``adenocarcinoma`` / ``mucinous``, stages to the UICC group 1..4 (with
    the sub-stage kept in ``Patient.stage_group``), groups ``CLR`` / ``DII`` to ``1`` / ``2``.

    Args:
        path: the table.
        columns: its column names.
        sheet: worksheet of a spreadsheet (default: the first).
        log: where values read other than as written are counted (spaces, case, ``3.0`` ids).

    Raises:
        MissingInputError: the file is absent.
        CorruptInputError: the file is not parsable.
        InvalidInputError: a column or sheet is missing, a value is not a known tumor type, a stage is
            unparsable or a pT category, or a patient is listed twice.

    """
    columns = columns or PatientColumns()
    path = Path(path)
    require_file(path, "patient table", "add patients.csv (or pass --patients FILE) with one row per patient")
    frame = _read_frame(path, "patient table", sheet)
    need = [columns.patient, columns.tumor_type, columns.stage, columns.group]
    flags = "--patient-id-column/--tumor-type-column/--stage-column/--group-column"
    _require_columns(frame, need, path, "patient table", flags)
    frame = frame.dropna(subset=[columns.patient])
    ids = frame[columns.patient].map(_clean_id)
    dupes = sorted(set(ids[ids.duplicated()]))
    if dupes:
        raise InvalidInputError(
            f"patient table {path} lists patients twice",
            expected="one row per patient",
            found=f"duplicates {dupes}",
            fix="remove the duplicate rows",
        )
    has_msi = columns.msi is not None and columns.msi in frame.columns
    patients = [_patient(values, columns, path, has_msi) for values in frame.to_dict("records")]
    if log is not None:
        _note_patient_values(frame, columns, has_msi, log)
    return {p.patient: p for p in patients}


def read_region_patients(
    path: Path,
    *,
    columns: RegionPatientColumns | None = None,
    sheet: str | None = None,
    log: NormalisationLog | None = None,
) -> dict[str, str]:
    """Read a region → patient mapping (``File Name`` → patient), for cell tables without a patient column.

    Raises:
        MissingInputError: the file is absent.
        CorruptInputError: the file is not parsable.
        InvalidInputError: a column is missing or a region is mapped to two patients.

    """
    columns = columns or RegionPatientColumns()
    path = Path(path)
    require_file(path, "region → patient mapping", "pass an existing file to --region-patients")
    frame = _read_frame(path, "region → patient mapping", sheet)
    flags = "--region-column/--patient-column"
    _require_columns(frame, [columns.region, columns.patient], path, "region → patient mapping", flags)
    if log is not None:
        _note_ids(frame, [columns.region, columns.patient], log)
    pairs = frame[[columns.region, columns.patient]].dropna().map(_clean_id).drop_duplicates()
    many = sorted(set(pairs[columns.region][pairs[columns.region].duplicated()]))
    if many:
        raise InvalidInputError(
            f"region → patient mapping {path} maps regions to several patients",
            expected="one patient per region",
            found=f"regions {many[:5]}",
            fix="keep one row (or one patient) per region",
        )
    return dict(zip(pairs[columns.region], pairs[columns.patient], strict=True))
