"""Patient metadata for a conversion: the patient table, and which patient each FoV belongs to.

The FoV → patient link comes from the cell table's patient column, or, for tables without one, from a
region → patient mapping file (``--region-patients``), which then replaces the column.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from phenocell.constants import PATIENT_TABLE_FILE, CellTableColumns, RegionPatientColumns
from phenocell.converters.options import CodexOptions, FovOptions
from phenocell.errors import InvalidInputError
from phenocell.readers.patients import read_patient_table, read_region_patients
from phenocell.records import NormalisationLog, Patient
from phenocell.splits import Splits, make_splits
from phenocell.splits.authors import AuthorsSplits, splits_from_files


def patient_table_path(raw_dir: Path, options: FovOptions) -> Path:
    """The patient table: ``--patients FILE`` or ``RAW_DIR/patients.csv``."""
    return Path(options.patient_table) if options.patient_table else Path(raw_dir) / PATIENT_TABLE_FILE


def read_patients(
    raw_dir: Path, options: FovOptions, log: NormalisationLog | None = None
) -> dict[str, Patient]:
    """Read the patient table named by the options (CSV or spreadsheet, configured columns)."""
    path = patient_table_path(raw_dir, options)
    return read_patient_table(path, columns=options.patient_columns, sheet=options.patients_sheet, log=log)


def cell_table_columns(options: CodexOptions) -> CellTableColumns:
    """The cell-table columns to require: no patient column when a mapping file supplies the patients."""
    return replace(options.columns, patient=None) if options.region_patients else options.columns


def mapped_fov_patients(
    path: Path, options: FovOptions, regions: list[str], log: NormalisationLog | None = None
) -> dict[str, str]:
    """FoV → patient from a region → patient mapping file (columns: --region-column, --patient-column).

    Raises:
        InvalidInputError: a region to convert has no row in the mapping.

    """
    patient = options.columns.patient or RegionPatientColumns.patient
    columns = RegionPatientColumns(region=options.columns.region, patient=patient)
    mapping = read_region_patients(path, columns=columns, log=log)
    unmapped = [r for r in regions if r not in mapping]
    if unmapped:
        raise InvalidInputError(
            f"regions missing from the region → patient mapping {path}",
            expected="a patient for every region of the cell table",
            found=f"no row for {len(unmapped)} regions, e.g. {unmapped[:5]}",
            fix="add the regions to the mapping, or leave them out with --exclude",
        )
    return {r: mapping[r] for r in regions}


def build_splits(
    fov_patient: dict[str, str],
    patients: dict[str, Patient],
    authors: AuthorsSplits | None,
    all_fovs: dict[str, int],
    options: FovOptions,
) -> Splits:
    """The split families: the authors' files when given (``--splits-from``), else drawn (``--base-by``)."""
    if authors is not None:
        return splits_from_files(authors, fov_patient, patients, known=set(all_fovs), seed=options.seed)
    return make_splits(fov_patient, patients, seed=options.seed, base_by=options.base_by)


def external_inputs(raw_dir: Path, options: FovOptions) -> list[Path]:
    """Input files named by options that may lie outside ``raw_dir`` (patient table, mapping, split files)."""
    named = [options.patient_table, options.region_patients]
    files = [Path(p) for p in named if p is not None]
    if options.splits_from is not None:
        files += sorted(Path(options.splits_from).rglob("*.csv"))
    root = Path(raw_dir).resolve()
    return [f for f in files if f.is_file() and root not in f.resolve().parents]
