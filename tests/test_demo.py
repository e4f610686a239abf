"""``phenocell demo`` (the README's first command) end to end, at its smallest size."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from phenocell.cli import main


@pytest.mark.slow
def test_demo_runs_every_step_at_its_smallest_size(tmp_path: Path) -> None:
    pytest.importorskip("torch")
    pytest.importorskip("anndata")
    work = tmp_path / "demo"
    args = ["demo", "--workdir", str(work), "--fovs", "4", "--patients", "4", "--mask-size", "128x128"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    for step in ("1/4", "2/4", "3/4", "4/4", "split sizes (tiles):", "cells per class"):
        assert step in result.output
    assert "test cell_macro_f1" in result.output and "cells as objects" in result.output
    runs = work / "runs"
    dense = json.loads((runs / "smoke-vit-tiny-linear-tumor_stage" / "results.json").read_text())
    cells = json.loads((runs / "cells-vit-tiny-logreg-tumor_stage" / "results.json").read_text())
    assert dense["encoder"] == cells["encoder"] == "test/vit-tiny"
    assert f"{cells['metrics']['test']['cell_macro_f1']:.4f}" in result.output
    assert f"vs dense linear head {dense['metrics']['test']['cell_macro_f1']:.4f}" in result.output
    assert dense["cache"]["misses"] > 0 and cells["cells"]["test"] > 0
    assert (work / "phenocell" / "README.md").is_file() and (
        runs / "cells-vit-tiny-tumor_stage.h5ad"
    ).is_file()
