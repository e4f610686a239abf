"""Patient tables: CSV and .xlsx, UICC stage groups from p_TNM, pT refused, region → patient mapping."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from phenocell.constants import PatientColumns, RegionPatientColumns
from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError
from phenocell.readers.patients import parse_stage, read_patient_table, read_region_patients

RELEASE = PatientColumns(
    patient="Patient", tumor_type="Histology", stage="p_TNM", group="Group", msi="MSI_PCR"
)


def _sheet(tmp_path: Path, stages: list[str], **extra: list[str]) -> Path:
    n = len(stages)
    frame = pd.DataFrame(
        {
            "Patient": [str(i + 1) for i in range(n)],
            "Group": ["CLR", "DII"] * (n // 2) + ["CLR"] * (n % 2),
            "Histology": ["Adenocarcinoma"] * (n - 1) + ["Mucinous adenocarcinoma"],
            "pT": ["pT3"] * n,
            "p_TNM": stages,
            "MSI_PCR": ["MSS"] * (n - 1) + ["MSI-H"],
            **extra,
        }
    )
    path = tmp_path / "CRC_TMAs_patient_annotations.xlsx"
    with pd.ExcelWriter(path) as writer:
        pd.DataFrame({"note": ["cover sheet"]}).to_excel(writer, sheet_name="README", index=False)
        frame.to_excel(writer, sheet_name="patients", index=False)
    return path


@pytest.mark.parametrize(
    ("value", "number", "text"),
    [
        ("IIIB", 3, "IIIB"),
        ("IIIC", 3, "IIIC"),
        ("IVA", 4, "IVA"),
        ("IV", 4, "IV"),
        ("IIA", 2, "IIA"),
        ("I", 1, "I"),
        ("3", 3, "III"),
        ("4b", 4, "IVB"),
        (" Stage iiia ", 3, "IIIA"),
        ("2", 2, "II"),
    ],
)
def test_stage_groups_parse(value: str, number: int, text: str) -> None:
    assert parse_stage(value, patient="p", column="p_TNM", path=Path("t")) == (number, text)


@pytest.mark.parametrize("value", ["pT3", "pT4a", "T3", "ypT2", "pTis"])
def test_pt_categories_are_refused_with_an_explanation(value: str) -> None:
    with pytest.raises(InvalidInputError, match="pT category") as err:
        parse_stage(value, patient="7", column="pT", path=Path("t.xlsx"))
    assert "depth of the primary tumour" in str(err.value) and "pT3 N0 M0 is stage IIA" in str(err.value)
    assert "patient 7" in str(err.value)


@pytest.mark.parametrize("value", ["V", "IIID", "stage", "", "nan", "0"])
def test_unparsable_stage_names_patient_and_value(value: str) -> None:
    with pytest.raises(InvalidInputError, match="unparsable stage") as err:
        parse_stage(value, patient="12", column="p_TNM", path=Path("t"))
    assert "patient 12" in str(err.value) and repr(value) in str(err.value)


def test_release_spreadsheet_reads(tmp_path: Path) -> None:
    path = _sheet(tmp_path, ["IIA", "IIIB", "IIIC", "IV", "IVA"])
    patients = read_patient_table(path, columns=RELEASE, sheet="patients")
    assert [(p.stage, p.stage_group) for p in patients.values()] == [
        (2, "IIA"),
        (3, "IIIB"),
        (3, "IIIC"),
        (4, "IV"),
        (4, "IVA"),
    ]
    assert [p.group for p in patients.values()] == ["1", "2", "1", "2", "1"]  # CLR = 1, DII = 2
    assert patients["5"].tumor_type == "mucinous" and patients["5"].msi == "MSI"
    assert patients["1"].tumor_type == "adenocarcinoma" and patients["1"].msi == "MSS"


def test_spreadsheet_errors(tmp_path: Path) -> None:
    path = _sheet(tmp_path, ["IIA", "IIIB"])
    with pytest.raises(InvalidInputError, match="incomplete"):  # first sheet is the cover sheet
        read_patient_table(path, columns=RELEASE)
    with pytest.raises(InvalidInputError, match="cannot read sheet 'nope'"):
        read_patient_table(path, columns=RELEASE, sheet="nope")
    with pytest.raises(InvalidInputError, match="pT category"):
        read_patient_table(
            path, columns=PatientColumns("Patient", "Histology", "pT", "Group"), sheet="patients"
        )
    broken = tmp_path / "broken.xlsx"
    broken.write_bytes(b"not a zip archive")
    with pytest.raises(CorruptInputError, match="cannot parse patient table"):
        read_patient_table(broken, columns=RELEASE)
    with pytest.raises(MissingInputError):
        read_patient_table(tmp_path / "absent.xlsx")


def test_msi_column_is_optional(tmp_path: Path) -> None:
    path = tmp_path / "p.csv"
    path.write_text("patients,tumor_type,stage,groups\n1,adenocarcinoma,IIIB,DII\n2,mucinous,IV,CLR\n")
    patients = read_patient_table(path)
    assert {p.msi for p in patients.values()} == {None} and patients["1"].group == "2"


def test_region_patient_mapping(tmp_path: Path) -> None:
    path = tmp_path / "map.csv"
    path.write_text("File Name,patients\nreg001_A,1\nreg001_B,1\nreg002_A,2\n")
    assert read_region_patients(path) == {"reg001_A": "1", "reg001_B": "1", "reg002_A": "2"}
    path.write_text("File Name,patients\nreg001_A,1\nreg001_A,2\n")
    with pytest.raises(InvalidInputError, match="several patients"):
        read_region_patients(path)
    with pytest.raises(InvalidInputError, match="incomplete"):
        read_region_patients(path, columns=RegionPatientColumns(patient="Patient"))
    with pytest.raises(MissingInputError):
        read_region_patients(tmp_path / "none.csv")
