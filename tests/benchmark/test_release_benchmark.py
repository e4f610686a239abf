"""Acceptance 5: ``benchmark run`` with test/vit-tiny and baseline/hovernext (test size) on a converted Lizard
mock, and ``benchmark compare`` with one column per dataset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from phenocell.benchmark.cli import benchmark
from phenocell.benchmark.dataset_table import column_of

FAST = ["--steps", "2", "--batch-size", "2", "--val-every", "2", "--warmup", "1", "--workers", "0"]


def _run(data: Path, family: str, encoder: str, out: Path, *extra: str) -> dict:
    args = ["run", "--data", str(data), "--family", family, "--encoder", encoder, "--out", str(out), *FAST]
    result = CliRunner().invoke(benchmark, [*args, *extra])
    assert result.exit_code == 0, result.output
    return json.loads((out / "results.json").read_text())


@pytest.fixture(scope="module")
def runs(release_dataset, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    lizard, arctique = release_dataset("lizard"), release_dataset("arctique")
    _run(lizard, "rotation1", "test/vit-tiny", root / "lizard-vit")
    _run(lizard, "rotation1", "baseline/hovernext", root / "lizard-hovernext", "--small")
    _run(lizard, "holdout_glas", "test/vit-tiny", root / "glas-vit")
    _run(arctique, "base", "test/vit-tiny", root / "arctique-vit")
    return {p.name: p for p in root.iterdir()}


def _per_class_f1(confusion: list[list[int]]) -> list[float]:
    """F1 of every class of a confusion matrix, written out: 2 TP / (2 TP + FP + FN); NaN when absent."""
    cm = np.asarray(confusion, dtype=np.float64)
    out = []
    for c in range(len(cm)):
        tp, fp, fn = cm[c, c], cm[:, c].sum() - cm[c, c], cm[c, :].sum() - cm[c, c]
        out.append(2 * tp / (2 * tp + fp + fn) if tp + fp + fn else float("nan"))
    return out


def _present_macro_f1(confusion: list[list[int]]) -> float:
    """The authors' cell macro F1 by hand: mean F1 over the foreground classes in truth or prediction."""
    f1 = _per_class_f1(confusion)[1:]
    present = [v for v in f1 if not np.isnan(v)]
    return float(np.mean(present)) if present else 0.0


def test_runs_score_the_datasets_classes(runs: dict[str, Path]) -> None:
    for name in ("lizard-vit", "lizard-hovernext"):
        doc = json.loads((runs[name] / "results.json").read_text())
        assert doc["dataset"] == "lizard" and doc["class_names"][5] == "Eosinophil"
        test = doc["metrics"]["test"]
        assert len(test["pixel_confusion"]) == 7  # background + 6 Lizard classes
        assert list(test["pixel_per_class_f1"]) == doc["class_names"][1:]
    for run in runs.values():  # every run's scores, recomputed by hand from its own confusion matrices
        test = json.loads((run / "results.json").read_text())["metrics"]["test"]
        assert test["cell_macro_f1"] == pytest.approx(_present_macro_f1(test["cell_confusion"]))
        pixel_f1 = _per_class_f1(test["pixel_confusion"])
        assert list(test["pixel_per_class_f1"].values()) == pytest.approx(pixel_f1[1:], nan_ok=True)
    assert any(
        json.loads((r / "results.json").read_text())["metrics"]["test"]["cell_macro_f1"] > 0
        for r in runs.values()
    )
    hovernext = json.loads((runs["lizard-hovernext"] / "results.json").read_text())
    assert hovernext["head"] == "end-to-end" and hovernext["weights_id"] == "random:seed=42"
    assert hovernext["encoder_config"]["decoder_channels"] == [256, 128, 64, 32]


def test_compare_puts_datasets_side_by_side(runs: dict[str, Path]) -> None:
    result = CliRunner().invoke(benchmark, ["compare", *map(str, runs.values())])
    assert result.exit_code == 0, result.output
    header = next(line for line in result.output.splitlines() if line.startswith("| encoder"))
    assert header == "| encoder | head | lizard | lizard holdout_glas | arctique |"
    rows = {
        line.split(" | ")[0].strip("| "): line for line in result.output.splitlines() if "| test/" in line
    }
    assert rows["test/vit-tiny"].count("—") == 0
    scores = {
        name: json.loads((runs[name] / "results.json").read_text())["metrics"]["test"]["cell_macro_f1"]
        for name in ("lizard-vit", "glas-vit", "arctique-vit")
    }
    # the release fixtures are --tiling grid conversions: every number carries the not-comparable mark
    shown = "| test/vit-tiny | linear | " + " | ".join(f"{scores[n]:.4f}†" for n in scores) + " |"
    assert shown in result.output  # each column holds that run's own test score
    assert "not comparable with the published numbers" in result.output
    assert "| baseline/hovernext | end-to-end |" in result.output
    assert "lizard 0.725" in result.output


def test_a_family_the_card_lacks_is_a_clear_error(release_dataset, tmp_path: Path) -> None:
    args = ["run", "--data", str(release_dataset("lizard")), "--family", "tumor_type"]
    result = CliRunner().invoke(
        benchmark, [*args, "--encoder", "test/vit-tiny", "--out", str(tmp_path), *FAST]
    )
    assert result.exit_code != 0 and "rotation1" in result.output


def test_column_names() -> None:
    assert column_of({"dataset": "lizard", "family": "rotation1"}) == "lizard"
    assert column_of({"dataset": "lizard", "family": "holdout_glas"}) == "lizard holdout_glas"
    assert column_of({"dataset": "pannuke", "family": "standard"}) == "pannuke"
    assert column_of({"dataset": "pannuke", "family": "rotation1"}) == "pannuke rotation1"
    assert column_of({"family": "tumor_type"}) == "phenocell tumor_type"


def test_compare_of_one_other_dataset_gives_its_columns(runs: dict[str, Path]) -> None:
    result = CliRunner().invoke(benchmark, ["compare", str(runs["lizard-vit"]), str(runs["glas-vit"])])
    assert result.exit_code == 0, result.output
    assert "| encoder | head | lizard | lizard holdout_glas |" in result.output
