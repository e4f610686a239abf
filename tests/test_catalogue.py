"""The bad-input catalogue of issue 11: every case exits 2 with a message naming the problem.

One parametrised case per input of the catalogue (its numbered sections are the prefixes of the case ids).
Each runs the CLI in-process on a private copy of a tiny synthetic export and asserts: exit status 2 (or 0
where the catalogue asks for a reported decision), no traceback, the message names the problem, no file
created or changed outside ``--out``, and the raw export unchanged.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import shutil
import socket
import struct
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import tifffile
from click.testing import CliRunner

from phenocell.cli import convert_main, main
from phenocell.synthetic import SynthOptions, synthesize

TABLE = "CRC_clusters_neighborhoods_markers.csv"
SMALL = ["--tile-size", "128", "--quiet"]


@dataclass
class Run:
    """One catalogue case: the command line, its --out, and what the output must say."""

    args: list[str]
    out: Path
    match: str
    command: object = main
    exit_code: int = 2
    env: dict[str, str] = field(default_factory=dict)


@dataclass
class Ws:
    """A case's workspace: a private raw export (TIFF or polygon) and a dataset copy, under ``root``."""

    root: Path
    raw: Path
    ds: Path
    monkeypatch: pytest.MonkeyPatch


@pytest.fixture(scope="module")
def polygon_export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    options = SynthOptions(
        fovs=6, patients=5, seed=1, mask_shape=(128, 160), scale=2, segmentation="polygons"
    )
    return synthesize(tmp_path_factory.mktemp("rawp") / "raw", options=options, progress=False)


# ------------------------------------------------------------------ helpers that damage a copy


def edit_table(raw: Path, change: Callable[[pd.DataFrame], pd.DataFrame | None]) -> None:
    """Rewrite the cell table: ``change`` edits it in place or returns a new frame."""
    table = pd.read_csv(raw / TABLE)
    changed = change(table)
    (table if changed is None else changed).to_csv(raw / TABLE, index=False)


def rename_region(raw: Path, old: str, new: str) -> None:
    def change(t: pd.DataFrame) -> None:
        t["File Name"] = t["File Name"].astype(str).replace(old, new)

    edit_table(raw, change)


def edit_geojson(raw: Path, change: Callable[[dict], None], region: str = "reg001_A") -> None:
    path = raw / "polygons" / f"{region}.geojson"
    doc = json.loads(path.read_text())
    change(doc)
    path.write_text(json.dumps(doc))


def square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def write_tiff(path: Path, array: np.ndarray, mpp: float) -> None:
    tifffile.imwrite(
        path,
        array,
        resolution=(1e4 / mpp, 1e4 / mpp),
        resolutionunit="CENTIMETER",
        photometric="rgb" if array.ndim == 3 else "minisblack",
    )


def mask_mpp(path: Path) -> float:
    with tifffile.TiffFile(path) as tif:
        num, den = tif.pages[0].tags["XResolution"].value
    return 1e4 * den / num


def huge_header_tiff(path: Path, height: int, width: int, rgb: bool) -> None:
    """A tiny TIFF whose header claims ``height`` x ``width`` pixels."""
    write_tiff(path, np.zeros((8, 8, 3) if rgb else (8, 8), np.uint8 if rgb else np.uint16), 0.377442)
    with tifffile.TiffFile(path) as tif:
        offsets = [tif.pages[0].tags[n].valueoffset for n in ("ImageLength", "ImageWidth")]
    data = bytearray(path.read_bytes())
    for offset, value in zip(offsets, (height, width), strict=True):
        data[offset : offset + 4] = struct.pack("<I", value)
    path.write_bytes(bytes(data))


def shards(ds: Path) -> list[Path]:
    return sorted((ds / "data").glob("*.parquet"))


def convert(ws: Ws, *extra: str, match: str, exit_code: int = 2, out: Path | None = None) -> Run:
    out = ws.root / "out" if out is None else out
    return Run([str(ws.raw), "--out", str(out), *SMALL, *extra], out, match, convert_main, exit_code)


def bench(ws: Ws, match: str, *extra: str) -> Run:
    out = ws.root / "run"
    args = ["benchmark", "run", "--data", str(ws.ds), "--family", "base", "--encoder", "test/vit-tiny"]
    return Run([*args, "--steps", "1", "--batch-size", "2", "--out", str(out), *extra], out, match)


def verify(ws: Ws, match: str) -> Run:
    return Run(["verify", str(ws.ds)], ws.ds, match)


def publish(ws: Ws, match: str) -> Run:
    return Run(["publish", str(ws.ds), "--repo-id", "lab/x", "--dry-run"], ws.ds, match)


def card(ws: Ws, match: str) -> Run:
    return Run(["card", str(ws.ds)], ws.ds, match)


def damaged(
    damage: Callable[[Ws], None], command: Callable[[Ws, str], Run], match: str
) -> Callable[[Ws], Run]:
    """A case that applies ``damage`` to the dataset, then runs ``command`` expecting ``match`` in its output.

    The case takes the name of the module variable it is assigned to (see ``_cases``).
    """

    def case(ws: Ws) -> Run:
        damage(ws)
        return command(ws, match)

    return case


# ------------------------------------------------------------------ 1. region names used as paths


def c1_dotdot_convert(ws: Ws) -> Run:
    (ws.root / "x.geojson").write_text((ws.raw / "polygons" / "reg001_A.geojson").read_text())
    shutil.copy(ws.raw / "he" / "reg001_A.tif", ws.root / "x.tif")
    rename_region(ws.raw, "reg001_A", "../../x")
    return convert(ws, match="region name '../../x'")


def c1_dotdot_qc(ws: Ws) -> Run:
    rename_region(ws.raw, "reg001_A", "../../x")
    out = ws.root / "qc"
    return Run(["qc", str(ws.raw), "--out", str(out)], out, "region name '../../x'")


def c1_dotdot_export_geojson(ws: Ws) -> Run:
    rename_region(ws.raw, "reg001_A", "../../x")
    out = ws.root / "gj"
    return Run(["export", "geojson", str(ws.raw), "--out", str(out)], out, "region name '../../x'")


def c1_absolute_name(ws: Ws) -> Run:
    rename_region(ws.raw, "reg001_A", "/some/where")
    return convert(ws, match="an absolute path")


def c1_subdirectory_name(ws: Ws) -> Run:
    rename_region(ws.raw, "reg001_A", "sub/reg001_A")
    return convert(ws, match="a path separator")


def c1_nul_in_name(ws: Ws) -> Run:
    rename_region(ws.raw, "reg001_A", "reg\x00001_A")
    return convert(ws, match="NUL")


# ------------------------------------------------------------------ 2. --out overlapping RAW


def c2_out_is_raw_overwrite(ws: Ws) -> Run:
    return convert(ws, "--overwrite", match="is the raw export itself", out=ws.raw)


def c2_out_inside_raw(ws: Ws) -> Run:
    return convert(ws, match="lies inside the raw export", out=ws.raw / "phenocell")


def c2_out_contains_raw(ws: Ws) -> Run:
    outer = ws.root / "outer"  # --out holds the raw export, and the dataset copy lies outside it
    outer.mkdir()
    ws.raw = Path(shutil.move(ws.raw, outer / "raw"))
    return convert(ws, "--overwrite", match="contains the raw export", out=outer)


def c2_overwrite_onto_a_file(ws: Ws) -> Run:
    (ws.root / "notes.txt").write_text("my notes")
    run = convert(ws, "--overwrite", match="notes.txt is a file of 8 bytes", out=ws.root / "notes.txt")
    return Run(run.args, ws.root / "(nothing)", run.match, run.command)  # the file itself must stay as it was


def c2_overwrite_onto_a_folder_of_other_files(ws: Ws) -> Run:
    (ws.root / "thesis").mkdir()
    (ws.root / "thesis" / "chapter1.tex").write_text("mine")
    run = convert(
        ws, "--overwrite", match="holds chapter1.tex and no PhenoCell manifest.json", out=ws.root / "thesis"
    )
    return Run(run.args, ws.root / "(nothing)", run.match, run.command)


def c2_qc_out_inside_raw(ws: Ws) -> Run:
    out = ws.raw / "qc"
    return Run(["qc", str(ws.raw), "--out", str(out)], out, "lies inside the raw export")


def c2_export_out_is_raw(ws: Ws) -> Run:
    return Run(["export", "geojson", str(ws.raw), "--out", str(ws.raw)], ws.raw, "is the raw export itself")


# ------------------------------------------------------------------ 3. concurrent runs


def c3_out_locked_by_live_run(ws: Ws) -> Run:
    (ws.root / ".out.lock").write_text(f"{os.getpid()} {socket.gethostname()}\n")
    return convert(ws, match="another phenocell run is writing")


# ------------------------------------------------------------------ 4. silent acceptances


def c4_negative_labels_int32_mask(ws: Ws) -> Run:
    path = ws.raw / "masks" / "reg001_A.tif"
    labels = tifffile.imread(path).astype(np.int32)
    labels[labels % 7 == 1] *= -1
    write_tiff(path, labels, mask_mpp(path))
    return convert(ws, match="labels out of range")


def c4_negative_polygon_label(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d["features"][0]["properties"].update(label=-5))
    return convert(ws, match="bad label in feature 0")


def c4_fractional_polygon_label(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d["features"][0]["properties"].update(label=3.7))
    return convert(ws, match="bad label in feature 0")


def c4_polygon_label_2_pow_40(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d["features"][0]["properties"].update(label=2**40))
    return convert(ws, match="bad label in feature 0")


def c4_duplicate_polygon_labels(ws: Ws) -> Run:
    def dup(d: dict) -> None:
        d["features"][1]["properties"]["label"] = d["features"][0]["properties"]["label"]

    edit_geojson(ws.raw, dup)
    return convert(ws, match="several outlines share a label")


def c4_polygon_outside_image(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d["features"][0].update(geometry=square(5000, 5000, 5010, 5010)))
    return convert(ws, match="outlines outside the image")


def c4_polygon_covering_1e9(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d["features"][0].update(geometry=square(-1e9, -1e9, 1e9, 1e9)))
    return convert(ws, match="outlines outside the image")


def c4_point_geometry(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d["features"][0].update(geometry={"type": "Point", "coordinates": [5, 5]}))
    return convert(ws, match="is a Point")


def _centroid(ws: Ws, value: float) -> None:
    edit_table(ws.raw, lambda t: t.__setitem__("X:X", t["X:X"].where(t.index != 3, value)))


def c4_inf_centroid(ws: Ws) -> Run:
    _centroid(ws, float("inf"))
    return convert(ws, "--label-column", "none", match="infinite or negative values")


def c4_huge_centroid(ws: Ws) -> Run:
    _centroid(ws, 1e12)
    return convert(ws, "--label-column", "none", match="line 5: (X, Y) = (1e+12, ")


def c4_garbage_centroid_id_join(ws: Ws) -> Run:
    _centroid(ws, 1e300)
    return convert(ws, match="centroid outside the FoV's mask")


def c4_negative_centroid(ws: Ws) -> Run:
    _centroid(ws, -40.0)
    return convert(ws, "--label-column", "none", match="infinite or negative values")


def c4_mask_without_table_rows(ws: Ws) -> Run:
    edit_table(ws.raw, lambda t: t[t["File Name"] != "reg002_B"])
    return convert(ws, match="segmentations without cell-table rows")


def c4_mask_without_rows_allowed(ws: Ws) -> Run:
    edit_table(ws.raw, lambda t: t[t["File Name"] != "reg002_B"])
    return convert(ws, "--allow-unlabelled-fovs", match="wrote", exit_code=0)


def c4_pT3_stage(ws: Ws) -> Run:
    table = pd.read_csv(ws.raw / "patients.csv", dtype=str)
    table["stage"] = table["stage"].map({"3": "pT3", "4": "pT4"}).fillna(table["stage"])
    table.to_csv(ws.raw / "patients.csv", index=False)
    return convert(ws, match="pT category")


def c4_rgba_he(ws: Ws) -> Run:
    path = ws.raw / "he" / "reg001_A.tif"
    rgb = tifffile.imread(path)
    rgba = np.concatenate([rgb, np.full((*rgb.shape[:2], 1), 255, np.uint8)], axis=2)
    tifffile.imwrite(
        path,
        rgba,
        resolution=(1e4 / mask_mpp(path),) * 2,
        resolutionunit="CENTIMETER",
        photometric="rgb",
        extrasamples=["unassalpha"],
    )
    return convert(ws, match="alpha channel")


# ------------------------------------------------------------------ 5. ordinary faults


def c5_nan_cluster_name(ws: Ws) -> Run:
    edit_table(ws.raw, lambda t: t.__setitem__("ClusterName", t["ClusterName"].where(t.index != 5, None)))
    return convert(ws, match="column 'ClusterName'")


def c5_nan_file_name(ws: Ws) -> Run:
    edit_table(ws.raw, lambda t: t.__setitem__("File Name", t["File Name"].where(t.index != 5, None)))
    return convert(ws, match="column 'File Name'")


def c5_disk_full(ws: Ws) -> Run:
    def full(path: Path, *args: object, **kwargs: object) -> int:
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    ws.monkeypatch.setattr("phenocell.storage.writer.write_shard", full)
    return convert(ws, "--workers", "1", match="the disk is full")  # the patch lives in this process only


def c5_out_under_a_file(ws: Ws) -> Run:
    (ws.root / "afile").write_text("not a folder")
    return convert(ws, match="under a file", out=ws.root / "afile" / "ds")


def c5_out_under_proc(ws: Ws) -> Run:
    out = Path("/proc/phenocell-out")
    return convert(ws, match=f"cannot create output directory {out}", out=out)


def c5_all_negative_int16_mask(ws: Ws) -> Run:
    path = ws.raw / "masks" / "reg001_A.tif"
    write_tiff(path, np.full(tifffile.imread(path).shape, -3, np.int16), mask_mpp(path))
    return convert(ws, match="labels out of range")


def c5_geojson_mpp_not_a_number(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d["phenocell"].update(mpp="x"))
    return convert(ws, match="bad grid 'mpp'")


def _corrupt_manifest(ws: Ws) -> None:
    (ws.ds / "manifest.json").write_text('{"shards": {')


c5_publish_corrupt_manifest = damaged(_corrupt_manifest, publish, "manifest.json does not parse")
c5_card_corrupt_manifest = damaged(_corrupt_manifest, card, "manifest.json does not parse")


def c5_card_missing_shard(ws: Ws) -> Run:
    shards(ws.ds)[0].unlink()
    return card(ws, "is missing")


def _truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def c5_card_truncated_shard(ws: Ws) -> Run:
    _truncate(shards(ws.ds)[0])
    return card(ws, "does not match the manifest")


def c5_benchmark_missing_shard(ws: Ws) -> Run:
    shards(ws.ds)[0].unlink()
    return bench(ws, "is missing")


def c5_benchmark_truncated_shard(ws: Ws) -> Run:
    _truncate(shards(ws.ds)[-1])
    return bench(ws, "does not match the manifest")


def c5_safetensors_header_too_long(ws: Ws) -> Run:
    path = ws.root / "w.safetensors"
    path.write_bytes(struct.pack("<Q", 2**40) + b"{}")
    return bench(ws, "cannot read safetensors file", "--weights", str(path))


def c5_pickle_renamed_safetensors(ws: Ws) -> Run:
    import torch

    path = ws.root / "w.safetensors"
    torch.save({"w": torch.zeros(2)}, path)
    return bench(ws, "pickled PyTorch checkpoint", "--weights", str(path))


def c5_publish_network_error(ws: Ws) -> Run:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        url = f"http://127.0.0.1:{sock.getsockname()[1]}"
    import huggingface_hub.constants as constants

    ws.monkeypatch.setattr(constants, "ENDPOINT", url)
    ws.monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
    env = {"HF_ENDPOINT": url, "HF_TOKEN": "hf_x", "HF_HUB_DISABLE_XET": "1", "HF_HUB_ETAG_TIMEOUT": "1"}
    return Run(["publish", str(ws.ds), "--repo-id", "lab/x"], ws.ds, "could not upload", env=env)


# ------------------------------------------------------------------ 6. sizes from headers


def c6_huge_tiff_headers(ws: Ws) -> Run:
    huge_header_tiff(ws.raw / "masks" / "reg001_A.tif", 50_000, 50_000, rgb=False)
    huge_header_tiff(ws.raw / "he" / "reg001_A.tif", 100_000, 100_000, rgb=True)
    return convert(ws, match="is too large")


def c6_huge_geojson_grid(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d["phenocell"].update(height=100_000, width=100_000))
    return convert(ws, match="is too large")


# ------------------------------------------------------------------ 7. a finished dataset trusted blindly


def _broken_yaml(ws: Ws) -> None:
    readme = ws.ds / "README.md"
    readme.write_text(readme.read_text().replace("configs:", "configs: [unclosed", 1))


def _leak(ws: Ws) -> None:
    readme = ws.ds / "README.md"
    text = readme.read_text()
    manifest = json.loads((ws.ds / "manifest.json").read_text())
    splits = json.loads((ws.ds / "splits.json").read_text())["families"]["base"]["splits"]
    shard_of = {m["fov"]: name for name, m in manifest["shards"].items()}
    test, train = shard_of[splits["test"][0]], shard_of[splits["train"][0]]
    head, sep, rest = text.partition("split: base_test")
    readme.write_text(head + sep + rest.replace(test, train, 1))


def _swap(ws: Ws) -> None:
    first, second = shards(ws.ds)[:2]
    shutil.copy(second, first)


c7_verify_broken_yaml = damaged(_broken_yaml, verify, "README.md YAML does not parse")
c7_publish_broken_yaml = damaged(_broken_yaml, publish, "README.md YAML does not parse")
c7_verify_split_leak = damaged(_leak, verify, "config 'default' split 'base_test' lists")
c7_publish_split_leak = damaged(_leak, publish, "a split leak")


def c7_verify_splits_json_leak(ws: Ws) -> Run:
    doc = json.loads((ws.ds / "splits.json").read_text())
    base = doc["families"]["base"]["splits"]
    base["test"].append(base["train"][0])
    (ws.ds / "splits.json").write_text(json.dumps(doc))
    return verify(ws, "split leak in 'base'")


c7_verify_swapped_shard = damaged(_swap, verify, "does not match the manifest")
c7_publish_swapped_shard = damaged(_swap, publish, "does not match the manifest")
c7_benchmark_swapped_shard = damaged(_swap, bench, "does not match the manifest")
c7_card_swapped_shard = damaged(_swap, card, "does not match the manifest")


# ------------------------------------------------------------------ 8. poor messages


def c8_fractional_table_label(ws: Ws) -> Run:
    edit_table(
        ws.raw,
        lambda t: t.__setitem__("Index in File", t["Index in File"].astype(float).where(t.index != 2, 12.7)),
    )
    return convert(ws, match="labels that are not mask label ids")


def c8_text_table_label(ws: Ws) -> Run:
    edit_table(ws.raw, lambda t: t.__setitem__("Index in File", t["Index in File"].where(t.index != 2, "4a")))
    match = "found:    1 rows, e.g. line 4: '4a'\n  fix:      correct those rows: 'Index in File' holds each"
    return convert(ws, match=match)


def c8_huge_table_label(ws: Ws) -> Run:
    edit_table(
        ws.raw,
        lambda t: t.__setitem__(
            "Index in File", t["Index in File"].astype(object).where(t.index != 2, 10**23)
        ),
    )
    return convert(ws, match="e.g. line 4: 1e+23\n  fix:      correct those rows: 'Index in File' holds each")


def c8_geojson_without_features(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d.update(features=[]))
    return convert(ws, match="no features in ")


def c8_semicolon_table(ws: Ws) -> Run:
    pd.read_csv(ws.raw / TABLE).to_csv(ws.raw / TABLE, index=False, sep=";")
    return convert(ws, match="semicolon-delimited")


def c8_gzip_table(ws: Ws) -> Run:
    import gzip

    (ws.raw / TABLE).write_bytes(gzip.compress((ws.raw / TABLE).read_bytes()))
    return convert(ws, match="gzip-compressed")


def c8_geojson_not_feature_collection(ws: Ws) -> Run:
    edit_geojson(ws.raw, lambda d: d.update(type="Feature"))
    return convert(ws, match="is not a FeatureCollection")


def _weights(ws: Ws, change: Callable[[dict], None]) -> Path:
    from safetensors.torch import save_file

    from phenocell.benchmark.frozen import build_encoder

    state = {k: v.clone() for k, v in build_encoder("test/vit-tiny").model.state_dict().items()}
    change(state)
    path = ws.root / "w.safetensors"
    save_file(state, str(path))
    return path


def c8_safetensors_wrong_keys(ws: Ws) -> Run:
    path = _weights(ws, lambda s: s.update(bogus=s.pop("cls_token")))
    return bench(ws, "unexpected ['bogus']", "--weights", str(path))


def c8_safetensors_wrong_shapes(ws: Ws) -> Run:
    import torch

    path = _weights(ws, lambda s: s.update(cls_token=torch.zeros(1, 1, 3)))
    return bench(ws, "wrong shapes ['cls_token: (1, 1, 3)", "--weights", str(path))


# ------------------------------------------------------------------ the catalogue and its runner

POLYGON_CASES = {
    c1_dotdot_convert,
    c1_dotdot_qc,
    c1_dotdot_export_geojson,
    c4_negative_polygon_label,
    c4_fractional_polygon_label,
    c4_polygon_label_2_pow_40,
    c4_duplicate_polygon_labels,
    c4_polygon_outside_image,
    c4_polygon_covering_1e9,
    c4_point_geometry,
    c5_geojson_mpp_not_a_number,
    c6_huge_geojson_grid,
    c8_geojson_not_feature_collection,
    c8_geojson_without_features,
}


def _cases() -> list[Callable[[Ws], Run]]:
    """Every ``cN_...`` case in definition order, each named after its module variable."""
    found = []
    for name, case in dict(globals()).items():
        if name[:2] in {f"c{i}" for i in range(1, 9)}:
            case.__name__ = name  # a case built by ``damaged`` is otherwise called "case"
            found.append(case)
    return found


CASES = _cases()
XFAIL: dict[str, str] = {}  # case name -> reason, for a case that waits on another change


def tree(root: Path, skip: Path | None) -> dict[str, str]:
    """sha256 of every file under ``root`` except under ``skip``."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_file() and (skip is None or skip not in (path, *path.parents)):
            out[path.relative_to(root).as_posix()] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def params() -> list[object]:
    marks = {name: pytest.mark.xfail(reason=why, strict=False) for name, why in XFAIL.items()}
    return [pytest.param(f, id=f.__name__, marks=marks.get(f.__name__, ())) for f in CASES]


@pytest.mark.parametrize("case", params())
def test_catalogue_case(
    case: Callable[[Ws], Run],
    tmp_path: Path,
    raw_export: Path,
    polygon_export: Path,
    dataset_dir: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    source = polygon_export if case in POLYGON_CASES else raw_export
    ws = Ws(tmp_path, Path(shutil.copytree(source, tmp_path / "raw")), tmp_path / "phenocell", monkeypatch)
    shutil.copytree(dataset_dir, ws.ds)
    run = case(ws)
    for key, value in run.env.items():
        monkeypatch.setenv(key, value)
    before, raw_before = tree(tmp_path, run.out), tree(ws.raw, None)
    siblings = sorted(p.name for p in tmp_path.parent.iterdir())
    result = CliRunner().invoke(run.command, run.args)  # type: ignore[arg-type]
    print(result.output)
    assert result.exit_code == run.exit_code, result.output
    assert "Traceback" not in result.output and not isinstance(result.exception, AssertionError)
    assert run.match in result.output, result.output
    if run.exit_code == 2:
        assert "expected:" in result.output and "fix:" in result.output
    assert tree(tmp_path, run.out) == before, "a file outside --out was created or changed"
    assert tree(ws.raw, None) == raw_before, "the raw export changed"
    assert sorted(p.name for p in tmp_path.parent.iterdir()) == siblings, "something was left beside --out"


def test_catalogue_covers_every_section() -> None:
    assert {f.__name__[:2] for f in CASES} == {f"c{i}" for i in range(1, 9)}
    assert len(CASES) >= 50


def test_allowed_unlabelled_fov_is_reported(raw_export: Path, tmp_path: Path) -> None:
    raw = Path(shutil.copytree(raw_export, tmp_path / "raw"))
    edit_table(raw, lambda t: t[t["File Name"] != "reg002_B"])
    args = [str(raw), "--out", str(tmp_path / "out"), *SMALL, "--allow-unlabelled-fovs"]
    assert CliRunner().invoke(convert_main, args).exit_code == 0
    assert "reg002_B,no cell-table rows" in (tmp_path / "out" / "qc" / "excluded.csv").read_text()
    assert "reg002_B" in (tmp_path / "out" / "README.md").read_text()
