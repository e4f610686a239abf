"""``phenocell cells embed``: rows, hand-computed embeddings, pixel statistics, the AnnData, every profile."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from phenocell.benchmark.cells.config import EmbedConfig
from phenocell.benchmark.cells.embed import by_fov, embed_cells
from phenocell.benchmark.cells.table import embedding_key, import_anndata
from phenocell.errors import InvalidOptionError, MissingDependencyError, SystemResourceError
from phenocell.loaders.tiles import SplitIndex, TileRef
from tests.benchmark.cells_helpers import cells_with_pixels, rows_of, split_units

anndata = pytest.importorskip("anndata")


@pytest.fixture(scope="module")
def tiny_cells(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """test/vit-tiny mean embeddings of every base split, with the token cache it filled."""
    root = tmp_path_factory.mktemp("cells")
    out, cache = root / "cells.h5ad", root / "tokens"
    embed_cells(dataset_dir, encoder="test/vit-tiny", out=out, cache_dir=cache, log=lambda _: None)
    return out, cache


@pytest.fixture(scope="module")
def stats_cells(dataset_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """pixel-stats features of the base train and test splits only."""
    out = tmp_path_factory.mktemp("stats") / "stats.h5ad"
    config = EmbedConfig(splits="train,test")
    embed_cells(dataset_dir, encoder="baseline/pixel-stats", out=out, config=config, log=lambda _: None)
    return out


def _expected_ids(data: Path, family: str, splits: tuple[str, ...]) -> dict[int, str]:
    rows = rows_of(data, split_units(data, family, splits))
    return {cid: tiles[0][0]["split"] for cid, tiles in cells_with_pixels(rows).items()}


def test_rows_are_the_cells_with_a_pixel_in_a_tile_of_the_chosen_splits(
    dataset_dir: Path, tiny_cells: tuple[Path, Path], stats_cells: Path
) -> None:
    for path, splits in ((tiny_cells[0], ("train", "validation", "test")), (stats_cells, ("train", "test"))):
        adata = anndata.read_h5ad(path)
        expected = _expected_ids(dataset_dir, "base", splits)
        assert adata.n_obs == len(expected) > 50
        assert (
            dict(zip(adata.obs["cell_id"].tolist(), adata.obs["split"].astype(str), strict=True)) == expected
        )


def _tokens(cache: Path) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    grids = {}
    for path in cache.glob("*/*.safetensors"):
        with safe_open(str(path), framework="np") as handle:
            ids = json.loads(handle.metadata()["tile_ids"])
            grids.update(zip(ids, handle.get_tensor("tap0").astype(np.float32), strict=True))
    return grids


def test_three_cells_equal_a_hand_computed_overlap_weighted_token_mean(
    dataset_dir: Path, tiny_cells: tuple[Path, Path]
) -> None:
    out, cache = tiny_cells
    adata = anndata.read_h5ad(out)
    x = adata.obsm[embedding_key("test/vit-tiny")]
    assert x.dtype == np.float32 and x.shape[1] == 96
    grids = _tokens(cache)
    found = cells_with_pixels(rows_of(dataset_dir))
    spanning = sorted(found, key=lambda c: (-len(found[c]), c))[:3]
    assert len(found[spanning[-1]]) >= 2  # each of the three cells lies in two tiles or more
    for cell_id in spanning:
        total, pixels = np.zeros(x.shape[1]), 0
        for row, local in found[cell_id]:
            grid = grids[row["tile_id"]]
            g_h, g_w = grid.shape[1:]
            height, width = row["instance"].shape
            for y, x_ in zip(*np.nonzero(row["instance"] == local), strict=True):
                total += grid[:, int((y + 0.5) * g_h / height), int((x_ + 0.5) * g_w / width)]
                pixels += 1
        row_of = adata.obs_names.get_loc(str(cell_id))
        np.testing.assert_allclose(x[row_of], total / pixels, rtol=1e-5, atol=1e-5)


def test_center_pooling_takes_the_token_under_the_centroid(
    dataset_dir: Path, tiny_cells: tuple[Path, Path], tmp_path: Path
) -> None:
    out = tmp_path / "center.h5ad"
    cfg = EmbedConfig(pooling="center", splits="train")
    uns = embed_cells(
        dataset_dir, encoder="test/vit-tiny", out=out, config=cfg, cache_dir=tiny_cells[1], log=lambda _: None
    )
    assert uns["cache"]["misses"] == 0 and uns["cache"]["hits"] > 0  # the first run's cache is read back
    adata = anndata.read_h5ad(out)
    grids = _tokens(tiny_cells[1])
    found = cells_with_pixels(rows_of(dataset_dir, split_units(dataset_dir, "base", ("train",))))
    single = [c for c, tiles in found.items() if len(tiles) == 1][:3]
    for cell_id in single:
        row, local = found[cell_id][0]
        record = next(c for c in row["cells"] if c["instance_id"] == local)
        grid = grids[row["tile_id"]]
        height, width = row["instance"].shape
        r = int((record["centroid_y"] + 0.5) * grid.shape[1] / height)
        c = int((record["centroid_x"] + 0.5) * grid.shape[2] / width)
        got = adata.obsm[embedding_key("test/vit-tiny")][adata.obs_names.get_loc(str(cell_id))]
        np.testing.assert_allclose(got, grid[:, r, c], rtol=1e-6)


def test_pixel_stats_are_colour_and_area_over_each_fov_pixel_once(
    dataset_dir: Path, stats_cells: Path
) -> None:
    from skimage.color import rgb2hed

    adata = anndata.read_h5ad(stats_cells)
    names = list(adata.uns["phenocell"]["names"])
    x = adata.obsm[embedding_key("baseline/pixel-stats")]
    found = cells_with_pixels(rows_of(dataset_dir, split_units(dataset_dir, "base", ("test",))))
    for cell_id in sorted(found, key=lambda c: (-len(found[c]), c))[:2]:
        pixels: dict[tuple[int, int], np.ndarray] = {}
        for row, local in found[cell_id]:
            for y, x_ in zip(*np.nonzero(row["instance"] == local), strict=True):
                pixels[(row["tile_y"] + y, row["tile_x"] + x_)] = row["rgb"][y, x_] / 255.0
        rgb = np.array(list(pixels.values()))
        i = adata.obs_names.get_loc(str(cell_id))
        assert adata.obs["area"].iloc[i] == len(pixels)
        np.testing.assert_allclose(x[i, names.index("log_area")], np.log(len(pixels)), rtol=1e-6)
        np.testing.assert_allclose(x[i, :3], rgb.mean(axis=0), rtol=1e-5)
        hed = rgb2hed(rgb[None])[0]
        np.testing.assert_allclose(x[i, names.index("H_mean")], hed[:, 0].mean(), rtol=1e-4, atol=1e-6)


def test_h5ad_opens_with_anndata_and_holds_obs_markers_and_provenance(
    dataset_dir: Path, tiny_cells: tuple[Path, Path]
) -> None:
    adata = anndata.read_h5ad(tiny_cells[0])
    for column in (
        "cell_id",
        "fov",
        "patient",
        "split",
        "class_id",
        "class_name",
        "granular_name",
        "centroid_x",
        "centroid_y",
        "area",
        "tumor_type",
        "stage",
        "group",
    ):
        assert column in adata.obs.columns
    assert set(adata.obs["tumor_type"].astype(str)) <= {"adenocarcinoma", "mucinous"}
    assert (adata.obs["area"] > 0).all()
    named = adata.obs[adata.obs["class_id"] >= 1]
    assert {n for n in named["class_name"].astype(str)} <= set(adata.uns["phenocell"]["class_names"])
    markers = json.loads((dataset_dir / "manifest.json").read_text())["markers"]
    assert list(adata.var_names) == markers and adata.layers["markers"].shape == (adata.n_obs, len(markers))
    meta = adata.uns["phenocell"]
    assert meta["encoder"] == "test/vit-tiny" and meta["weights_id"] == "random:seed=0"
    assert meta["tiling"]["tile_size"] == 128 and meta["mpp"] == pytest.approx(adata.obs["mpp"].iloc[0])
    assert meta["embedding"] == "X_test-vit-tiny"


@pytest.mark.parametrize("name", ["lizard", "pannuke", "arctique"])
def test_every_dataset_profile_embeds(release_dataset, name: str, tmp_path: Path) -> None:
    data = release_dataset(name)
    out = tmp_path / "cells.h5ad"
    uns = embed_cells(data, encoder="baseline/pixel-stats", out=out, log=lambda _: None)
    adata = anndata.read_h5ad(out)
    family = uns["family"]
    expected = _expected_ids(data, family, ("train", "validation", "test"))
    assert adata.n_obs == len(expected) > 0
    assert adata.uns["phenocell"]["dataset"] == name and adata.n_vars == 0  # no markers
    assert set(adata.obs["class_name"].astype(str)) - {"ignore"} <= set(uns["class_names"][1:])


def test_fov_tiles_stream_together_whatever_the_index_order() -> None:
    refs = [TileRef("s", 0, i, f"t{i}", fov, 0, 0, 8) for i, fov in enumerate("ABAB")]
    ordered = by_fov(SplitIndex(Path("."), "base", "train", tuple(refs)))
    assert [r.tile_id for r in ordered.tiles] == ["t0", "t2", "t1", "t3"]


def test_bad_options_and_missing_anndata_are_typed_errors(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(InvalidOptionError, match="'mean', 'center'"):
        EmbedConfig(pooling="max")  # type: ignore[arg-type]
    with pytest.raises(InvalidOptionError, match="'train', 'validation', 'test'"):
        EmbedConfig(splits="train,dev")
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda n, *a: None if n == "anndata" else real(n, *a))
    with pytest.raises(MissingDependencyError, match=r"phenocell\[cells\]"):
        import_anndata()


def test_an_out_that_cannot_be_written_is_refused_before_any_cell_is_embedded(
    dataset_dir: Path, tmp_path: Path
) -> None:
    """--out under a file: refused at once (no split embedded, nothing written), naming --out."""
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    said: list[str] = []
    with pytest.raises(SystemResourceError, match="cannot write --out") as err:
        embed_cells(dataset_dir, encoder="baseline/pixel-stats", out=blocker / "cells.h5ad", log=said.append)
    assert said == [] and f"{blocker} is a file" in err.value.found
    assert blocker.read_text() == "not a folder"


def test_a_failed_h5ad_write_leaves_no_file(
    dataset_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The .h5ad appears whole or not at all: a write failing half-way leaves neither it nor a temp file."""

    def half_then_fail(self: object, path: object, *args: object, **kwargs: object) -> None:
        Path(str(path)).write_bytes(b"\x89HDF\r\n")  # the first bytes, then the disk fills
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(anndata.AnnData, "write_h5ad", half_then_fail)
    out = tmp_path / "runs" / "cells.h5ad"
    with pytest.raises(OSError, match="No space left"):
        embed_cells(dataset_dir, encoder="baseline/pixel-stats", out=out, log=lambda _: None)
    assert not out.exists() and list(out.parent.iterdir()) == []
