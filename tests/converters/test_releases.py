"""Acceptance 1: each mock release converts, and every tile's masks equal an independent recomputation.

The expected masks are computed here straight from the raw files (scipy/numpy/PIL/tifffile, none of the
package's readers): the semantic mask is each pixel's class, the instance mask numbers the nuclei present in
the tile 1..n in the order of their identity in the release (Lizard / Arctique label; PanNuke (channel, id),
the lowest channel owning a pixel claimed twice).
"""

from __future__ import annotations

import io
import json
from pathlib import Path

import datasets
import numpy as np
import pyarrow.parquet as pq
import pytest
import scipy.io
import tifffile
from PIL import Image

from phenocell.profiles import get_profile


def _lizard(raw: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image = np.array(Image.open(next(raw.glob(f"Lizard_Images*/{name}.png"))).convert("RGB"))
    mat = scipy.io.loadmat(raw / "Lizard_Labels" / "Labels" / f"{name}.mat")
    key = mat["inst_map"].astype(np.int64)
    semantic = np.zeros_like(key)
    for nucleus, cls in zip(mat["id"].ravel(), mat["class"].ravel(), strict=True):
        semantic[key == nucleus] = cls
    return image, key, semantic


def _pannuke(raw: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    fold, row = name.split("_")
    images = np.load(next(raw.glob(f"*/images/{fold}/images.npy")))
    masks = np.load(next(raw.glob(f"*/masks/{fold}/masks.npy")))[int(row)]
    key = np.zeros(masks.shape[:2], dtype=np.int64)
    semantic = np.zeros(masks.shape[:2], dtype=np.int64)
    for y, x in np.ndindex(*key.shape):
        for channel in range(5):  # first claiming channel wins
            if masks[y, x, channel] > 0:
                key[y, x] = (channel + 1) * 1_000_000 + int(masks[y, x, channel])
                semantic[y, x] = channel + 1
                break
    return images[int(row)].round().astype(np.uint8), key, semantic


def _arctique(raw: Path, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    subset, index = name.split("_")
    root = raw / subset
    image = np.array(Image.open(root / "images" / f"img_{int(index)}.png"))[..., :3]
    key = tifffile.imread(root / "masks" / "instance_indexing" / f"{int(index)}.tif").astype(np.int64)
    semantic = tifffile.imread(root / "masks" / "semantic_indexing" / f"{int(index)}.tif").astype(np.int64)
    return image, key, semantic


RAW_READERS = {"lizard": _lizard, "pannuke": _pannuke, "arctique": _arctique}


def _png(value: dict) -> np.ndarray:
    return np.array(Image.open(io.BytesIO(value["bytes"])))


def _expected_tile(raw: tuple, y0: int, x0: int, size: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    image, key, semantic = (a[y0 : y0 + size, x0 : x0 + size] for a in raw)
    order = sorted(set(key[key > 0].tolist()))
    rank = {k: i + 1 for i, k in enumerate(order)}
    instance = np.vectorize(lambda k: rank.get(k, 0))(key) if order else np.zeros_like(key)
    return image, instance, semantic


def _rows(dataset: Path) -> list[dict]:
    manifest = json.loads((dataset / "manifest.json").read_text())
    return [r for shard in sorted(manifest["shards"]) for r in pq.read_table(dataset / shard).to_pylist()]


@pytest.mark.parametrize("name", ["lizard", "pannuke", "arctique"])
def test_every_tile_matches_the_raw_release(name: str, release_raw, release_dataset) -> None:
    raw, dataset = release_raw(name), release_dataset(name)
    rows = _rows(dataset)
    cache: dict[str, tuple] = {}
    assert rows
    for row in rows:
        if row["fov"] not in cache:
            cache[row["fov"]] = RAW_READERS[name](raw, row["fov"])
        image, instance, semantic = _expected_tile(
            cache[row["fov"]], row["tile_y"], row["tile_x"], row["tile_size"]
        )
        assert np.array_equal(_png(row["image"]), image), row["tile_id"]
        assert np.array_equal(_png(row["instance_mask"]).astype(np.int64), instance), row["tile_id"]
        assert np.array_equal(_png(row["semantic_mask"]).astype(np.int64), semantic), row["tile_id"]
        cells = row["cells"]
        assert [c["instance_id"] for c in cells] == list(range(1, int(instance.max()) + 1))
        for cell in cells:  # each record's class is the class under its pixels
            assert set(np.unique(semantic[instance == cell["instance_id"]])) == {cell["label"]}
    assert json.loads((dataset / "manifest.json").read_text())["profile"] == name


def test_pannuke_crowded_tile_with_repeated_ids_round_trips(release_raw, release_dataset) -> None:
    raw = release_raw("pannuke")
    masks = np.load(next(raw.glob("*/masks/fold1/masks.npy")))[0]
    ids_per_channel = [set(np.unique(masks[..., c])) - {0} for c in range(5)]
    assert any(ids_per_channel[a] & ids_per_channel[b] for a in range(5) for b in range(a + 1, 5))
    row = next(r for r in _rows(release_dataset("pannuke")) if r["fov"] == "fold1_00000")
    assert _png(row["instance_mask"]).max() == len(row["cells"]) > 255


@pytest.mark.parametrize("name", ["lizard", "pannuke", "arctique"])
def test_card_and_features_carry_the_profile(name: str, release_dataset) -> None:
    dataset = release_dataset(name)
    profile = get_profile(name)
    readme = (dataset / "README.md").read_text()
    assert f"pretty_name: {profile.pretty_name}" in readme
    assert f"license: {profile.license}" in readme
    schema = pq.read_schema(next((dataset / "data").glob("*.parquet")))
    features = datasets.Features.from_arrow_schema(schema)
    assert features["cells"].feature["label"].names == list(profile.class_names)


def test_qc_refuses_a_release_source(release_raw, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from phenocell.cli import main

    result = CliRunner().invoke(main, ["qc", str(release_raw("lizard")), "--source", "lizard"])
    assert result.exit_code != 0 and "phenocell-convert only" in result.output


def test_pannuke_shards_hold_consecutive_images_of_one_fold(release_raw) -> None:
    from phenocell.converters.lizard import LizardSource
    from phenocell.converters.options import TileOptions
    from phenocell.converters.pannuke import PanNukeSource

    class PairsOfImages(PanNukeSource):
        shard_images = 2

    units = PairsOfImages.open(release_raw("pannuke"), TileOptions()).members
    assert {n: [r.name for r in m] for n, m in units.items() if n.startswith("fold1")} == {
        "fold1_part000": ["fold1_00000", "fold1_00001"],
        "fold1_part001": ["fold1_00002"],
    }
    lizard = LizardSource.open(release_raw("lizard"), TileOptions())
    assert all(len(m) == 1 and m[0].name == n for n, m in lizard.members.items())


def test_convert_refuses_options_a_release_does_not_use(release_raw, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from phenocell.cli import convert_main

    out = tmp_path / "ds"
    args = [str(release_raw("lizard")), "--out", str(out), "--source", "lizard", "--quiet"]
    result = CliRunner().invoke(convert_main, [*args, "--target-mpp", "0.5", "--seed", "3", "--workers", "2"])
    assert result.exit_code == 2, result.output
    assert "does not read" in result.output and "--seed, --target-mpp" in result.output
    assert not out.exists()
