"""Input values read other than as written are counted, shown by the run, and recorded in qc/ and the card.

One folding rule for every vocabulary column (cluster names, tumor type, MSI): case and spacing are ignored
and each such value is counted; identifiers (region, patient, group) lose surrounding spaces only, and a
spreadsheet id ``3.0`` is read as ``3`` (counted); ``03`` stays ``03``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pandas as pd
from click.testing import CliRunner

from phenocell.cli import convert_main, main

TABLE = "CRC_clusters_neighborhoods_markers.csv"


def _damage(raw: Path) -> None:
    table = pd.read_csv(raw / TABLE)
    tumor = table.index[table["ClusterName"] == "tumor cells"]
    table.loc[tumor[:3], "ClusterName"] = "tumor cells  "  # 3 trailing-space values
    table.loc[tumor[3:5], "ClusterName"] = "Tumor  Cells"  # 2 of another case and spacing
    table.to_csv(raw / TABLE, index=False)
    patients = pd.read_csv(raw / "patients.csv", dtype=str)
    patients.loc[0, "tumor_type"] = "ADENOCARCINOMA"
    patients.loc[1, "tumor_type"] = "Adenocarcinoma "
    patients.loc[2, "patients"] = "3.0"
    patients.to_csv(raw / "patients.csv", index=False)


EXPECTED = [
    "stripped surrounding spaces from 3 'ClusterName' values (e.g. 'tumor cells  ' → 'tumor cells')",
    "dropped a trailing '.0' from 1 'patients' id (e.g. '3.0' → '3')",
    "matched 2 'tumor_type' values to their vocabulary ignoring case and spacing "
    "(e.g. 'ADENOCARCINOMA' → 'adenocarcinoma')",
    "matched 2 'ClusterName' values to their vocabulary ignoring case and spacing "
    "(e.g. 'Tumor  Cells' → 'tumor cells')",
]


def test_each_normalisation_is_one_counted_line_in_the_run_qc_and_card(
    raw_copy: Path, tmp_path: Path
) -> None:
    _damage(raw_copy)
    out = tmp_path / "out"
    result = CliRunner().invoke(
        convert_main, [str(raw_copy), "--out", str(out), "--tile-size", "128", "--quiet"]
    )
    assert result.exit_code == 0, result.output
    shown = [
        line.removeprefix("normalised: ")
        for line in result.output.splitlines()
        if line.startswith("normalised")
    ]
    assert shown == EXPECTED
    recorded = json.loads((out / "qc" / "normalisations.json").read_text())
    assert [(e["column"], e["kind"], e["count"]) for e in recorded] == [
        ("ClusterName", "spaces", 3),
        ("patients", "decimal", 1),
        ("tumor_type", "case", 2),
        ("ClusterName", "case", 2),
    ]
    card = (out / "README.md").read_text()
    assert all(f"- {line}\n" in card for line in EXPECTED)
    qc = CliRunner().invoke(main, ["qc", str(raw_copy), "--out", str(tmp_path / "qc"), "--workers", "1"])
    assert qc.exit_code == 0, qc.output
    shown = [
        line.removeprefix("normalised: ") for line in qc.output.splitlines() if line.startswith("normalised")
    ]
    assert shown == EXPECTED  # the QC page's run shows them too (its progress bar aside)


def test_a_clean_export_reports_none(dataset_dir: Path) -> None:
    assert json.loads((dataset_dir / "qc" / "normalisations.json").read_text()) == []
    assert "## Input values normalised" in (dataset_dir / "README.md").read_text()


def test_a_leading_zero_id_is_not_folded(raw_copy: Path, tmp_path: Path) -> None:
    patients = pd.read_csv(raw_copy / "patients.csv", dtype=str)
    patients.loc[2, "patients"] = "03"
    patients.to_csv(raw_copy / "patients.csv", index=False)
    result = CliRunner().invoke(convert_main, [str(raw_copy), "--out", str(tmp_path / "o"), "--quiet"])
    assert result.exit_code == 2 and "no row for patients ['3']" in result.output
