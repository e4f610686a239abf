"""QC review page: every FoV rendered, links resolve, exclusion list round trip, bad FoVs shown not fatal."""

from __future__ import annotations

import re
import time
from pathlib import Path

from click.testing import CliRunner

from phenocell.cli import main
from phenocell.readers.pairs import read_exclusions


def _links(page: str) -> list[str]:
    return re.findall(r'(?:src|href)="([^"#:]+)"', page)


def test_qc_page_renders_every_fov_and_links_exist(raw_export: Path, tmp_path: Path) -> None:
    exclude = tmp_path / "exclude.csv"
    exclude.write_text("fov,reason\nreg002_B,tissue fold\n")
    start = time.perf_counter()
    result = CliRunner().invoke(
        main, ["qc", str(raw_export), "--out", str(tmp_path / "qc"), "--exclude", str(exclude)]
    )
    print(f"QC page for 6 FoVs: {time.perf_counter() - start:.1f} s")
    assert result.exit_code == 0, result.output
    page = (tmp_path / "qc" / "index.html").read_text()
    fovs = sorted(p.stem for p in (raw_export / "masks").glob("*.tif"))
    assert all(f"fovs/{fov}_thumb.png" in page for fov in fovs)
    links = _links(page)
    assert len(links) >= 2 * len(fovs) + 1
    assert all((tmp_path / "qc" / link).is_file() for link in links)
    assert "excluded: tissue fold" in page
    assert read_exclusions(tmp_path / "qc" / "exclude.csv") == {"reg002_B": "tissue fold"}  # same file format


def test_a_broken_fov_is_reported_on_the_page(raw_copy: Path, tmp_path: Path) -> None:
    (raw_copy / "masks" / "reg001_A.tif").write_bytes(b"broken")
    result = CliRunner().invoke(main, ["qc", str(raw_copy), "--out", str(tmp_path / "qc")])
    assert result.exit_code == 0, result.output
    page = (tmp_path / "qc" / "index.html").read_text()
    assert "cannot decode TIFF" in page and "fovs/reg001_B_thumb.png" in page
