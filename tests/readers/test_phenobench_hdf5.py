"""The per-FoV HDF5 reader: happy path, dtype handling, missing / corrupted input, bad content."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import h5py
import numpy as np
import pytest

from phenocell.errors import (
    CorruptInputError,
    InvalidInputError,
    MissingDependencyError,
    MissingInputError,
)
from phenocell.readers.phenobench_hdf5 import channel_names, marker_means, read_phenobench_hdf5, to_uint8


def _write(path: Path, **overrides: np.ndarray) -> Path:
    rng = np.random.default_rng(0)
    data = {
        "img": rng.integers(0, 256, (3, 8, 10), dtype=np.uint8),
        "ifl": rng.integers(0, 1000, (2, 8, 10), dtype=np.uint16),
        "gt_ct": np.zeros((1, 8, 10), np.uint8),
        "gt_inst": np.zeros((1, 8, 10), np.int32),
    }
    data["gt_inst"][0, 2:5, 3:6] = 9
    data["gt_ct"][0, 2:5, 3:6] = 17
    data.update(overrides)
    with h5py.File(path, "w") as handle:
        for key, value in data.items():
            if value is not None:
                handle[key] = value
    return path


def test_reads_maps_and_moves_channels_last(tmp_path: Path) -> None:
    path = _write(tmp_path / "reg001_A.hdf")
    fov = read_phenobench_hdf5(path)
    with h5py.File(path) as handle:
        img = handle["img"][()]
    assert fov.he.shape == (8, 10, 3) and fov.he.dtype == np.uint8
    np.testing.assert_array_equal(fov.he, np.moveaxis(img, 0, -1))
    assert fov.fine.shape == fov.instances.shape == (8, 10)
    assert set(np.unique(fov.instances).tolist()) == {0, 9}
    assert fov.channels == 2


def test_uint16_he_scales_by_257_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    img8 = rng.integers(0, 256, (3, 8, 10), dtype=np.uint8)
    path = _write(tmp_path / "a.hdf", img=img8.astype(np.uint16) * 257)
    np.testing.assert_array_equal(read_phenobench_hdf5(path).he, np.moveaxis(img8, 0, -1))
    edges = np.array([0, 128, 129, 385, 65535], dtype=np.uint16)
    assert to_uint8(edges, path).tolist() == [0, 0, 1, 1, 255]


def test_float_he_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.hdf", img=np.zeros((3, 8, 10), np.float32))
    with pytest.raises(InvalidInputError, match="dtype float32"):
        read_phenobench_hdf5(path)


def test_marker_means_are_per_instance_channel_means(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.hdf")
    with h5py.File(path) as handle:
        ifl = handle["ifl"][()].astype(float)
    fov = read_phenobench_hdf5(path)
    means = marker_means(path, fov.instances, np.array([9]))
    np.testing.assert_allclose(means[0], ifl[:, 2:5, 3:6].mean(axis=(1, 2)), rtol=1e-6)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match="missing HDF5 file"):
        read_phenobench_hdf5(tmp_path / "nothing.hdf")


def test_corrupted_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.hdf")
    path.write_bytes(path.read_bytes()[:300])
    with pytest.raises(CorruptInputError, match="cannot open HDF5"):
        read_phenobench_hdf5(path)


def test_missing_dataset_is_named(tmp_path: Path) -> None:
    path = _write(tmp_path / "a.hdf", gt_inst=None)
    with pytest.raises(InvalidInputError, match=r"lacks datasets \['gt_inst'\]"):
        read_phenobench_hdf5(path)


def test_out_of_range_fine_ids_and_mismatched_shapes(tmp_path: Path) -> None:
    bad_ids = _write(tmp_path / "a.hdf", gt_ct=np.full((1, 8, 10), 30, np.uint8))
    with pytest.raises(InvalidInputError, match=r"outside 0\.\.29"):
        read_phenobench_hdf5(bad_ids)
    bad_shape = _write(tmp_path / "b.hdf", gt_inst=np.zeros((1, 8, 9), np.int32))
    with pytest.raises(InvalidInputError, match="differ in size"):
        read_phenobench_hdf5(bad_shape)


def test_channel_names_default_and_count_check(tmp_path: Path) -> None:
    assert channel_names(None, tmp_path / "a.hdf", 3) == ["ifl_00", "ifl_01", "ifl_02"]
    names = tmp_path / "channel_names.txt"
    names.write_text("CD3\nCD8\n")
    assert channel_names(names, tmp_path / "a.hdf", 2) == ["CD3", "CD8"]
    with pytest.raises(InvalidInputError, match="3 distinct names"):
        channel_names(names, tmp_path / "a.hdf", 3)


def test_missing_h5py_is_a_typed_error_naming_the_extra(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = importlib.util.find_spec

    def fake(name: str, *args: object) -> object:
        return None if name == "h5py" else real(name, *args)

    monkeypatch.setattr(importlib.util, "find_spec", fake)
    with pytest.raises(MissingDependencyError, match=r"phenocell\[phenobench\]"):
        read_phenobench_hdf5(tmp_path / "a.hdf")


def test_declared_size_is_checked_before_reading(tmp_path: Path) -> None:
    from phenocell.errors import ResourceLimitError

    path = tmp_path / "reg009_A.hdf"
    with h5py.File(path, "w") as handle:  # a 60000 x 60000 H&E declared, nothing written (chunked, empty)
        handle.create_dataset("img", shape=(3, 60_000, 60_000), dtype=np.uint8, chunks=(3, 256, 256))
        handle.create_dataset("ifl", shape=(2, 60_000, 60_000), dtype=np.uint16, chunks=(1, 256, 256))
        for name in ("gt_ct", "gt_inst"):
            handle.create_dataset(name, shape=(1, 60_000, 60_000), dtype=np.uint8, chunks=(1, 256, 256))
    with pytest.raises(ResourceLimitError, match="too large"):
        read_phenobench_hdf5(path, max_pixels=250_000_000)
    small = _write(tmp_path / "reg001_A.hdf")
    with pytest.raises(ResourceLimitError, match="80 pixels"):
        read_phenobench_hdf5(small, max_pixels=79)
    assert read_phenobench_hdf5(small, max_pixels=80).he.shape[:2] == (8, 10)
