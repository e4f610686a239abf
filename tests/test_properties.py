"""Property test: whatever one mutation does to a valid raw export, convert exits 0 or 2, never a traceback.

Hypothesis mutates one input of a tiny valid export (cell table, patient table, label mask, GeoJSON
outlines) and runs ``phenocell-convert`` in-process. Each example must end with exit status 0 or 2 (2 with
an expected/found/fix message), leave nothing outside ``--out`` and leave the raw export unchanged.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import tifffile
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from phenocell.cli import convert_main
from phenocell.synthetic import SynthOptions, synthesize

TABLE = "CRC_clusters_neighborhoods_markers.csv"
#: Examples per input kind (4 kinds); PHENOCELL_PROPERTY_EXAMPLES=N explores more, with a random seed.
EXAMPLES = int(os.environ.get("PHENOCELL_PROPERTY_EXAMPLES", "12"))
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    derandomize="PHENOCELL_PROPERTY_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
RUNS: list[int] = []  # exit status of every example, checked by test_examples_ran

odd_text = st.sampled_from(
    ["", " ", "../x", "/abs", "a/b", "reg001_A", "dirt", "IV", "pT3", "nan", "1;2", "é"]
)
values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**40), 2**40),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=6),
    odd_text,
)


@pytest.fixture(scope="module")
def polygon_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    options = SynthOptions(
        fovs=6, patients=5, seed=0, mask_shape=(128, 160), scale=2, segmentation="polygons"
    )
    return synthesize(tmp_path_factory.mktemp("prop") / "raw", options=options, progress=False)


def tree(root: Path) -> dict[str, str]:
    return {
        p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def check_convert(source: Path, mutate: Callable[[Path], None]) -> None:
    """Copy ``source``, mutate the copy, convert it, and assert the contract of the module docstring."""
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        raw = Path(shutil.copytree(source, root / "raw"))
        mutate(raw)
        before, out = tree(root), root / "out"
        result = CliRunner().invoke(
            convert_main, [str(raw), "--out", str(out), "--tile-size", "128", "--quiet"]
        )
        RUNS.append(result.exit_code)
        assert result.exit_code in (0, 2), result.output
        assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
        assert "Traceback" not in result.output
        assert result.exit_code == 0 or ("expected:" in result.output and "fix:" in result.output)
        after = {k: v for k, v in tree(root).items() if not k.startswith("out/")}
        assert after == before, "a file outside --out was created, or the raw export changed"
        assert sorted(p.name for p in root.iterdir()) == sorted(["raw"] + ["out"] * (result.exit_code == 0))


def _set(frame: pd.DataFrame, row: int, column: str, value: Any) -> pd.DataFrame:
    frame[column] = frame[column].astype(object)
    frame.loc[row % len(frame), column] = value
    return frame


@SETTINGS
@given(
    column=st.sampled_from(
        ["File Name", "Index in File", "ClusterName", "patients", "X:X", "Y:Y", "size:size"]
    ),
    row=st.integers(0, 10_000),
    value=values,
)
def test_mutated_cell_table(raw_export: Path, column: str, row: int, value: Any) -> None:
    def mutate(raw: Path) -> None:
        _set(pd.read_csv(raw / TABLE), row, column, value).to_csv(raw / TABLE, index=False)

    check_convert(raw_export, mutate)


@SETTINGS
@given(
    column=st.sampled_from(["patients", "tumor_type", "stage", "groups", "msi"]),
    row=st.integers(0, 100),
    value=values,
)
def test_mutated_patient_table(raw_export: Path, column: str, row: int, value: Any) -> None:
    def mutate(raw: Path) -> None:
        frame = pd.read_csv(raw / "patients.csv", dtype=str)
        _set(frame, row, column, value).to_csv(raw / "patients.csv", index=False)

    check_convert(raw_export, mutate)


@st.composite
def mask_edits(draw: st.DrawFn) -> tuple[str, str, tuple[int, int, int, int], float]:
    dtype = draw(st.sampled_from(["uint16", "uint32", "int16", "int32", "int64", "float32", "uint8"]))
    info = np.finfo(dtype) if dtype.startswith("float") else np.iinfo(dtype)
    value = draw(
        st.floats(-1e6, 1e6) if dtype.startswith("float") else st.integers(int(info.min), int(info.max))
    )
    y0, x0 = draw(st.integers(0, 127)), draw(st.integers(0, 159))
    box = (y0, x0, draw(st.integers(y0, 128)), draw(st.integers(x0, 160)))
    return draw(st.sampled_from(["reg001_A", "reg002_B"])), dtype, box, value


@SETTINGS
@given(edit=mask_edits())
def test_mutated_label_mask(
    raw_export: Path, edit: tuple[str, str, tuple[int, int, int, int], float]
) -> None:
    region, dtype, (y0, x0, y1, x1), value = edit

    def mutate(raw: Path) -> None:
        path = raw / "masks" / f"{region}.tif"
        with tifffile.TiffFile(path) as tif:
            resolution = tif.pages[0].tags["XResolution"].value
            labels = tif.asarray()
        changed = labels.astype(np.float64)
        changed[y0:y1, x0:x1] = value
        mpp_cm = resolution[0] / resolution[1]
        with np.errstate(invalid="ignore", over="ignore"):  # a narrower dtype wraps: one more mutation
            changed = changed.astype(dtype)
        tifffile.imwrite(path, changed, resolution=(mpp_cm, mpp_cm), resolutionunit="CENTIMETER")

    check_convert(raw_export, mutate)


geometry = st.one_of(
    st.sampled_from(
        [{"type": "Point", "coordinates": [1, 1]}, {"type": "LineString", "coordinates": [[0, 0], [5, 5]]}]
    ),
    st.builds(
        lambda x, y, s: {
            "type": "Polygon",
            "coordinates": [[[x, y], [x + s, y], [x + s, y + s], [x, y + s], [x, y]]],
        },
        st.floats(allow_nan=True, allow_infinity=False, width=32),
        st.floats(allow_nan=True, allow_infinity=False, width=32),
        st.floats(-10, 200),
    ),
    st.just({"type": "Polygon", "coordinates": [[[0, 0], [9, 9], [9, 0], [0, 9], [0, 0]]]}),  # self-crossing
    values,
)
geojson_edits = st.one_of(
    st.tuples(st.just("label"), st.integers(0, 1000), values),
    st.tuples(st.just("geometry"), st.integers(0, 1000), geometry),
    st.tuples(st.just("grid"), st.sampled_from(["mpp", "height", "width"]), values),
    st.tuples(st.just("drop"), st.sampled_from(["properties", "geometry", "type"]), st.integers(0, 1000)),
)


@SETTINGS
@given(edit=geojson_edits)
def test_mutated_geojson(polygon_export: Path, edit: tuple[str, Any, Any]) -> None:
    kind, where, what = edit

    def mutate(raw: Path) -> None:
        path = raw / "polygons" / "reg001_B.geojson"
        doc = json.loads(path.read_text())
        feats = doc["features"]
        if kind == "label":
            feats[where % len(feats)]["properties"]["label"] = what
        elif kind == "geometry":
            feats[where % len(feats)]["geometry"] = what
        elif kind == "grid":
            doc["phenocell"][where] = what
        else:
            feats[what % len(feats)].pop(where)
        path.write_text(json.dumps(doc))

    check_convert(polygon_export, mutate)


def test_examples_ran() -> None:
    """Runs last in this module: every property test ran its examples, and some conversions succeeded."""
    if len(RUNS) < 4 * EXAMPLES:
        pytest.skip("run with the whole module to count the examples")
    print(f"{len(RUNS)} conversions: {RUNS.count(0)} exit 0, {RUNS.count(2)} exit 2")
    assert set(RUNS) <= {0, 2} and 0 in RUNS and 2 in RUNS
