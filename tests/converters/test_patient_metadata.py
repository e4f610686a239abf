"""Real metadata: the release's patient spreadsheet (p_TNM), stage I/II patients, region → patient map."""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from datasets import load_dataset

from phenocell.cli import main
from phenocell.constants import PatientColumns
from phenocell.converters.driver import convert
from phenocell.converters.options import CodexOptions
from phenocell.errors import InvalidInputError
from phenocell.splits import SPLITS
from phenocell.synthetic import SynthOptions, synthesize

P_TNM = ("IIA", "IIIB", "IIIC", "IV", "IVA")
XLSX = SynthOptions(
    fovs=6, patients=5, seed=0, mask_shape=(128, 160), scale=2, patient_format="xlsx", p_tnm=P_TNM
)
RELEASE = PatientColumns(
    patient="Patient", tumor_type="Histology", stage="p_TNM", group="Group", msi="MSI_PCR"
)


@pytest.fixture(scope="module")
def xlsx_raw(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(tmp_path_factory.mktemp("xlsx") / "raw", options=XLSX, progress=False)


@pytest.fixture(scope="module")
def xlsx_dataset(xlsx_raw: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("xlsx_out") / "phenocell"
    runner = CliRunner()
    args = [
        "convert", str(xlsx_raw), "--out", str(out), "--tile-size", "128", "--quiet",
        "--patients", str(xlsx_raw / "patients.xlsx"), "--patients-sheet", "patients",
        "--patient-id-column", "Patient", "--tumor-type-column", "Histology", "--stage-column", "p_TNM",
        "--group-column", "Group", "--msi-column", "MSI_PCR",
    ]  # fmt: skip
    result = runner.invoke(main, args)
    assert result.exit_code == 0, result.output
    return out


def test_release_spreadsheet_converts_and_stage_two_stays_in_base(xlsx_raw: Path, xlsx_dataset: Path) -> None:
    sheet = pd.read_excel(xlsx_raw / "patients.xlsx", dtype=str)
    assert list(sheet.columns) == ["Patient", "Group", "Histology", "pT", "p_TNM", "MSI_PCR"]
    assert sorted(sheet["p_TNM"]) == sorted(P_TNM)
    stage_two = sheet.loc[sheet["p_TNM"] == "IIA", "Patient"].item()
    base = {p for s in SPLITS for p in load_dataset(str(xlsx_dataset), "base", split=s)["patient"]}
    stage = {p for s in SPLITS for p in load_dataset(str(xlsx_dataset), "tumor_stage", split=s)["patient"]}
    assert stage_two in base and stage_two not in stage
    doc = json.loads((xlsx_dataset / "splits.json").read_text())
    assert doc["families"]["tumor_stage"]["outside_patients"] == [stage_two]
    test_stages = set(load_dataset(str(xlsx_dataset), "tumor_stage", split="test")["stage"])
    assert test_stages == {4}
    assert "dii_clr" in doc["families"]  # CLR / DII read from the Group column


def test_pt_in_the_stage_column_is_a_typed_error(xlsx_raw: Path, tmp_path: Path) -> None:
    columns = PatientColumns("Patient", "Histology", "pT", "Group", "MSI_PCR")
    options = CodexOptions(
        progress=False, patient_table=xlsx_raw / "patients.xlsx", patient_columns=columns
    )
    with pytest.raises(InvalidInputError, match="pT category, not a stage group") as err:
        convert(xlsx_raw, tmp_path / "out", options=options)
    assert "pT3 N0 M0 is stage IIA" in str(err.value) and "p_TNM" in str(err.value)
    assert not (tmp_path / "out").exists()


def test_region_patient_mapping_replaces_the_patient_column(
    raw_copy: Path, dataset_dir: Path, tmp_path: Path
) -> None:
    table_path = raw_copy / "CRC_clusters_neighborhoods_markers.csv"
    table = pd.read_csv(table_path)
    mapping = table[["File Name", "patients"]].drop_duplicates()
    mapping.to_csv(tmp_path / "region_patients.csv", index=False)
    table.drop(columns=["patients"]).to_csv(table_path, index=False)
    with pytest.raises(InvalidInputError, match="lacks required columns"):
        convert(
            raw_copy,
            tmp_path / "no_map",
            options=CodexOptions(tiling="grid", pixel_grid="he", tile_size=128, progress=False),
        )
    options = CodexOptions(
        tiling="grid",
        pixel_grid="he",
        tile_size=128,
        progress=False,
        region_patients=tmp_path / "region_patients.csv",
    )
    out = convert(raw_copy, tmp_path / "mapped", options=options)
    mapped = json.loads((out / "splits.json").read_text())["fov_patient"]
    assert mapped == json.loads((dataset_dir / "splits.json").read_text())["fov_patient"]
    mapping.iloc[1:].to_csv(tmp_path / "partial.csv", index=False)
    options = CodexOptions(
        tiling="grid",
        pixel_grid="he",
        tile_size=128,
        progress=False,
        region_patients=tmp_path / "partial.csv",
    )
    with pytest.raises(InvalidInputError, match="missing from the region → patient mapping"):
        convert(raw_copy, tmp_path / "partial", options=options)


def test_synth_cli_writes_the_release_spreadsheet(tmp_path: Path) -> None:
    runner = CliRunner()
    args = ["synth", str(tmp_path / "raw"), "--fovs", "4", "--patients", "4", "--mask-size", "64x64"]
    result = runner.invoke(main, [*args, "--patient-format", "xlsx", "--p-tnm", "IIA,IIIB,IV,IVA"])
    assert result.exit_code == 0, result.output
    sheet = pd.read_excel(tmp_path / "raw" / "patients.xlsx", dtype=str)
    assert (
        list(sheet["p_TNM"]) == ["IIA", "IIIB", "IV", "IVA"]
        and not (tmp_path / "raw" / "patients.csv").exists()
    )
    result = runner.invoke(main, ["synth", str(tmp_path / "r2"), "--p-tnm", "IIA,pT3"])
    assert result.exit_code == 2 and "invalid p_TNM stage groups" in result.output
