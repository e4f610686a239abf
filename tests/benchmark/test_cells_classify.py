"""``phenocell cells classify``: scores against scikit-learn, selection, the run directory, compare, CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from phenocell.benchmark.cells.classify import GRIDS, scores
from phenocell.benchmark.cells.config import ClassifyConfig, EmbedConfig
from phenocell.benchmark.cells.embed import embed_cells
from phenocell.benchmark.cells.report import run_classify
from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.report import compare
from phenocell.benchmark.run import run_benchmark
from phenocell.cli import main
from phenocell.cli_options import cli_choices, cli_defaults
from phenocell.errors import InvalidOptionError
from phenocell.schema import CLASS_NAMES

pytest.importorskip("anndata")
sklearn_metrics = pytest.importorskip("sklearn.metrics")


@pytest.fixture(scope="module")
def stats_h5ad(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("classify") / "stats.h5ad"
    embed_cells(dataset_dir, encoder="baseline/pixel-stats", out=out, log=lambda _: None)
    return out


def test_scores_match_scikit_learn_present_and_all_class_macro_f1() -> None:
    rng = np.random.default_rng(0)
    truth, pred = rng.integers(1, 6, 200), rng.integers(1, 8, 200)
    got = scores(truth, pred, list(CLASS_NAMES))
    present = sorted(set(truth) | set(pred))
    f1 = sklearn_metrics.f1_score
    assert got["cell_macro_f1"] == pytest.approx(f1(truth, pred, labels=present, average="macro"))
    every = list(range(1, len(CLASS_NAMES)))
    assert got["cell_macro_f1_unique"] == pytest.approx(
        f1(truth, pred, labels=every, average="macro", zero_division=0)
    )
    assert got["cell_per_class_f1"]["Nerves"] is None  # class 8 is in neither


@pytest.mark.parametrize("classifier", ["logreg", "knn", "rf"])
def test_each_classifier_writes_a_run_and_beats_chance_on_pixel_stats(
    stats_h5ad: Path, tmp_path: Path, classifier: str
) -> None:
    doc = run_classify(stats_h5ad, out=tmp_path / "run", config=ClassifyConfig(classifier=classifier))
    assert {p.name for p in (tmp_path / "run").iterdir()} == {
        "results.json",
        "report.md",
        "embedding_pca.png",
        "confusion_cell.png",
    }
    report = (tmp_path / "run" / "report.md").read_text()
    assert "![embedding](embedding_pca.png)" in report and "![cells](confusion_cell.png)" in report
    saved = json.loads((tmp_path / "run" / "results.json").read_text())
    assert saved["mode"] == "cells" and saved["head"] == classifier
    tried = doc["selection"]["grid"]
    assert [t["params"] for t in tried] == GRIDS[classifier]
    best = max(t["validation_cell_macro_f1"] for t in tried)
    first_best = next(t["params"] for t in tried if t["validation_cell_macro_f1"] == best)
    assert doc["selection"]["chosen"] == first_best
    test = doc["metrics"]["test"]
    chance = doc["chance_cell_macro_f1"]
    # the synthetic classes differ in stain and size by construction
    assert test["cell_macro_f1"] > max(chance.values()) + 0.2
    assert np.asarray(test["cell_confusion"]).sum() == doc["cells"]["test"]


def test_compare_puts_dense_and_object_level_rows_in_one_table(dataset_dir: Path, tmp_path: Path) -> None:
    fast = TrainConfig(steps=2, batch_size=4, lr=1e-3, warmup=1, val_every=2, workers=0)
    dense = tmp_path / "dense"
    run_benchmark(
        dataset_dir,
        family="base",
        encoder="test/vit-tiny",
        head="linear",
        out=dense,
        config=fast,
        log=lambda _: None,
    )
    h5ad = tmp_path / "cells.h5ad"
    embed_cells(dataset_dir, encoder="test/vit-tiny", out=h5ad, log=lambda _: None)
    run_classify(h5ad, out=tmp_path / "cells")
    table = compare([dense, tmp_path / "cells"])
    first = table.split("\n\n## ")[0]
    assert "| test/vit-tiny | linear |" in first and "| test/vit-tiny | logreg (cells) |" in first
    assert "—" in compare([dense, tmp_path / "cells"], "pixel_macro_f1")  # objects have no pixel score


def test_cli_embed_and_classify(dataset_dir: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "c.h5ad"
    args = [
        "cells",
        "embed",
        "--data",
        str(dataset_dir),
        "--encoder",
        "baseline/pixel-stats",
        "--out",
        str(out),
    ]
    result = runner.invoke(main, [*args, "--splits", "train,validation,test"])
    assert result.exit_code == 0, result.output
    assert "wrote" in result.output and out.is_file()
    assert all(f"cells, {s}: embedding: 100%" in result.output for s in ("train", "validation", "test"))
    quiet = runner.invoke(main, [*args[:-1], str(tmp_path / "q.h5ad"), "--splits", "test", "--quiet"])
    assert quiet.exit_code == 0 and "wrote" in quiet.output and "embedding:" not in quiet.output
    run = tmp_path / "run"
    result = runner.invoke(main, ["cells", "classify", str(out), "--classifier", "knn", "--out", str(run)])
    assert result.exit_code == 0, result.output
    assert "test" in result.output and (run / "results.json").is_file()
    bad = runner.invoke(main, [*args, "--pooling", "max"])
    assert bad.exit_code == 2 and "mean" in bad.output and "center" in bad.output
    bad = runner.invoke(main, ["cells", "classify", str(out), "--classifier", "svm"])
    assert bad.exit_code == 2 and "logreg" in bad.output
    missing = runner.invoke(main, ["cells", "classify", str(tmp_path / "none.h5ad")])
    assert missing.exit_code == 2 and "cells embed" in missing.output


def test_cli_options_derive_from_the_configs() -> None:
    embed = main.commands["cells"].commands["embed"]  # type: ignore[attr-defined]
    classify = main.commands["cells"].commands["classify"]  # type: ignore[attr-defined]
    for command, config in ((embed, EmbedConfig()), (classify, ClassifyConfig())):
        defaults = cli_defaults(command)
        for name, value in vars(config).items():
            assert defaults[name] == value, name
    assert cli_choices(embed)["pooling"] == ["mean", "center"]
    assert cli_choices(classify)["classifier"] == ["logreg", "knn", "rf"]
    with pytest.raises(InvalidOptionError, match="'logreg', 'knn', 'rf'"):
        ClassifyConfig(classifier="svm")  # type: ignore[arg-type]
