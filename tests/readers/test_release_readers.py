"""Readers of the Lizard, PanNuke and Arctique releases: missing, corrupted and invalid input, bad option."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import tifffile

from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError
from phenocell.readers.arctique import read_arctique, read_arctique_sample
from phenocell.readers.lizard import read_lizard, read_lizard_sample
from phenocell.readers.pannuke import instance_map, read_pannuke, read_pannuke_sample


def _copy(release_raw, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(release_raw(name), tmp_path / name))


def test_lizard_reads_folds_sources_and_classes(release_raw) -> None:
    raw = release_raw("lizard")
    refs = read_lizard(raw)
    assert refs["glas_1"].group == "glas" and refs["glas_1"].subset == "2"
    sample = read_lizard_sample(raw, refs["consep_1"])
    assert sample.image.dtype == np.uint8 and sample.instances.shape == sample.image.shape[:2]
    assert set(sample.classes.tolist()) <= set(range(1, 7))


def test_lizard_missing_label_file(release_raw, tmp_path: Path) -> None:
    raw = _copy(release_raw, "lizard", tmp_path)
    (raw / "Lizard_Labels" / "Labels" / "crag_1.mat").unlink()
    with pytest.raises(MissingInputError, match="crag_1"):
        read_lizard(raw)


def test_lizard_corrupt_mat_and_bad_class(release_raw, tmp_path: Path) -> None:
    raw = _copy(release_raw, "lizard", tmp_path)
    refs = read_lizard(raw)
    mat_path = raw / "Lizard_Labels" / "Labels" / "consep_1.mat"
    mat = scipy.io.loadmat(mat_path)
    mat["class"][0, 0] = 7
    scipy.io.savemat(mat_path, {k: v for k, v in mat.items() if not k.startswith("__")})
    with pytest.raises(InvalidInputError, match="labels and classes disagree"):
        read_lizard_sample(raw, refs["consep_1"])
    mat_path.write_bytes(b"MATLAB 5.0 but truncated")
    with pytest.raises(CorruptInputError, match="consep_1"):
        read_lizard_sample(raw, refs["consep_1"])


def test_pannuke_ids_repeat_across_channels_and_overlap() -> None:
    mask = np.zeros((4, 4, 6))
    mask[0, 0, 0] = mask[0, 1, 1] = 1  # id 1 in two channels: two nuclei
    mask[1, 1, 0] = mask[1, 1, 4] = 2  # one pixel claimed twice: the lower channel owns it
    labels, present, classes = instance_map(mask)
    assert present.tolist() == [1, 2, 3] and classes.tolist() == [1, 1, 2]
    assert labels[0, 0] != labels[0, 1] and classes[labels[1, 1] - 1] == 1


def test_pannuke_missing_and_mismatched_arrays(release_raw, tmp_path: Path) -> None:
    raw = _copy(release_raw, "pannuke", tmp_path)
    with pytest.raises(MissingInputError, match="no PanNuke folds"):
        read_pannuke(tmp_path / "nowhere")
    types = raw / "fold2" / "images" / "fold2" / "types.npy"
    np.save(types, np.load(types)[:-1])
    with pytest.raises(InvalidInputError, match="shapes disagree"):
        read_pannuke(raw)
    types.write_bytes(b"not numpy")
    with pytest.raises(CorruptInputError, match="fold2"):
        read_pannuke(raw)


def test_pannuke_pixels_out_of_range(release_raw, tmp_path: Path) -> None:
    raw = _copy(release_raw, "pannuke", tmp_path)
    images = raw / "fold1" / "images" / "fold1" / "images.npy"
    arr = np.load(images)
    arr[1, 0, 0, 0] = 300.0
    np.save(images, arr)
    refs = read_pannuke(raw)
    with pytest.raises(InvalidInputError, match="out of range"):
        read_pannuke_sample(raw, refs["fold1_00001"])


def test_arctique_both_layouts(release_raw, tmp_path: Path) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location(
        "arc", Path(__file__).parents[1] / "data" / "arctique" / "data.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    flat = module.make_arctique(tmp_path / "flat", layout="flat")
    generator = release_raw("arctique")
    a = read_arctique_sample(flat, read_arctique(flat)["all_00000"])
    b = read_arctique_sample(generator, read_arctique(generator)["train_00000"])
    assert a.image.shape == b.image.shape == (*module.SHAPE, 3)  # (H, W) kept, never transposed
    assert b.names and set(b.names) <= set(module.TYPES)


def test_arctique_transposed_mask_and_metadata_mismatch(release_raw, tmp_path: Path) -> None:
    raw = _copy(release_raw, "arctique", tmp_path)
    refs = read_arctique(raw)
    meta = raw / "train" / "metadata" / "metadata_1.json"
    meta.write_text(meta.read_text().replace('"ID_Type": 1', '"ID_Type": 4'))
    with pytest.raises(InvalidInputError, match="contradicts metadata"):
        read_arctique_sample(raw, refs["train_00001"])
    semantic = raw / "train" / "masks" / "semantic_indexing" / "0.tif"
    tifffile.imwrite(semantic, tifffile.imread(semantic).T.copy())
    with pytest.raises(InvalidInputError, match="do not transpose"):
        read_arctique_sample(raw, refs["train_00000"])
    (raw / "train" / "masks" / "instance_indexing" / "2.tif").unlink()
    with pytest.raises(MissingInputError, match="lacks its masks"):
        read_arctique(raw)


def test_lizard_names_are_identifiers_not_paths(release_raw, tmp_path: Path) -> None:
    from phenocell.errors import UnsafePathError

    raw = _copy(release_raw, "lizard", tmp_path)
    info = raw / "Lizard_Labels" / "info.csv"
    info.write_text(info.read_text().replace("crag_1,", "../../crag_1,"))
    with pytest.raises(UnsafePathError, match="not a plain identifier"):
        read_lizard(raw)
