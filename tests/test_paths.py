"""Region names are identifiers; outputs stay inside their folder and away from the raw export."""

from __future__ import annotations

from pathlib import Path

import pytest

from phenocell.errors import OutputExistsError, UnsafePathError
from phenocell.paths import check_inside, check_out_vs_raw, check_region_name, ensure_empty_output_dir


@pytest.mark.parametrize("name", ["reg001_A", "reg-12.b", "TMA 1 (A)", "x" * 200])
def test_plain_names_pass(name: str) -> None:
    assert check_region_name(name) == name


@pytest.mark.parametrize(
    ("name", "problem"),
    [
        ("../../x", "parent-directory"),
        ("..", "parent-directory"),
        ("a/../b", "parent-directory"),
        ("/some/where", "absolute path"),
        ("sub/reg001_A", "path separator"),
        ("sub\\reg001_A", "path separator"),
        ("reg\x00001", "NUL"),
        ("reg\n1", "control"),
        (".hidden", "leading '.'"),
        ("", "empty"),
        ("  ", "empty"),
        (" reg", "surrounding spaces"),
        ("reg*1", "characters outside"),
        ("x" * 201, "characters outside"),
    ],
)
def test_unsafe_names_are_refused(name: str, problem: str) -> None:
    with pytest.raises(UnsafePathError, match="not a plain identifier") as info:
        check_region_name(name)
    assert problem in str(info.value)


def test_check_inside(tmp_path: Path) -> None:
    assert check_inside(tmp_path / "a" / "b.png", tmp_path) == tmp_path / "a" / "b.png"
    with pytest.raises(UnsafePathError, match="outside"):
        check_inside(tmp_path / "a" / ".." / ".." / "x.png", tmp_path / "a")
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "link").symlink_to(tmp_path)
    with pytest.raises(UnsafePathError, match="outside"):
        check_inside(tmp_path / "out" / "link" / "x.png", tmp_path / "out")


@pytest.mark.parametrize(
    ("out", "problem"),
    [
        ("raw", "is the raw export itself"),
        ("raw/ds", "lies inside"),
        (".", "contains"),
        ("raw/../raw", "itself"),
    ],
)
def test_out_overlapping_raw_is_refused(tmp_path: Path, out: str, problem: str) -> None:
    (tmp_path / "raw").mkdir()
    with pytest.raises(UnsafePathError, match=problem):
        check_out_vs_raw(tmp_path / "raw", tmp_path / out)


def test_out_through_a_link_into_raw_is_refused(tmp_path: Path) -> None:
    (tmp_path / "raw").mkdir()
    (tmp_path / "alias").symlink_to(tmp_path / "raw")
    with pytest.raises(UnsafePathError, match="itself"):
        check_out_vs_raw(tmp_path / "raw", tmp_path / "alias")
    check_out_vs_raw(tmp_path / "raw", tmp_path / "phenocell")


def test_ensure_empty_output_dir(tmp_path: Path) -> None:
    out = tmp_path / "out"
    assert ensure_empty_output_dir(str(out)) == out  # missing is fine
    out.mkdir()
    assert ensure_empty_output_dir(out) == out  # empty is fine
    (out / "x").write_text("x")
    with pytest.raises(OutputExistsError, match="is not empty"):
        ensure_empty_output_dir(out)
    assert ensure_empty_output_dir(out, overwrite=True) == out
