"""``phenocell verify``: a converted dataset verifies; each kind of tampering is reported."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from phenocell.cards.verify import dataset_problems, verify_dataset
from phenocell.cli import main
from phenocell.errors import IntegrityError, MissingInputError
from phenocell.splits import Splits


@pytest.fixture()
def copy(dataset_dir: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(dataset_dir, tmp_path / "phenocell"))


def test_converted_dataset_verifies(dataset_dir: Path) -> None:
    assert dataset_problems(dataset_dir) == []
    result = CliRunner().invoke(main, ["verify", str(dataset_dir)])
    assert result.exit_code == 0 and "verified" in result.output


def _manifest(path: Path, change) -> None:
    doc = json.loads((path / "manifest.json").read_text())
    change(doc)
    (path / "manifest.json").write_text(json.dumps(doc))


def test_row_count_and_unlisted_and_escaping_shards(copy: Path) -> None:
    name = sorted(json.loads((copy / "manifest.json").read_text())["shards"])[0]
    _manifest(copy, lambda d: d["shards"][name].update(rows=999))
    (copy / "data" / "stray.parquet").write_bytes(b"x")
    _manifest(
        copy, lambda d: d["shards"].update({"data/../../x.parquet": {"fov": "x", "sha256": "0", "rows": 1}})
    )
    problems = dataset_problems(copy)
    assert any("the manifest lists 999" in p for p in problems)
    assert any("not in the manifest" in p and "stray" in p for p in problems)
    assert any("outside data/" in p for p in problems)
    with pytest.raises(IntegrityError, match="4 problems"):
        verify_dataset(copy)


def test_all_problems_are_listed_together(copy: Path) -> None:
    shards = sorted((copy / "data").glob("*.parquet"))
    shards[0].unlink()
    shards[1].write_bytes(shards[2].read_bytes())
    (copy / "splits.json").write_text("[]")
    problems = dataset_problems(copy)
    assert len(problems) == 3, problems
    result = CliRunner().invoke(main, ["verify", str(copy)])
    assert result.exit_code == 2 and "3 problems" in result.output and "Traceback" not in result.output


def test_not_a_dataset(tmp_path: Path) -> None:
    with pytest.raises(MissingInputError, match=r"manifest\.json is missing"):
        verify_dataset(tmp_path)


def test_a_missing_path_or_a_file_is_named_as_such(tmp_path: Path) -> None:
    """A typo'd path says "nothing at", not "is not a directory" (which reads as "it is a file")."""
    assert dataset_problems(tmp_path / "nope") == [f"nothing at {tmp_path / 'nope'}"]
    (tmp_path / "file").write_text("x")
    assert dataset_problems(tmp_path / "file") == [f"{tmp_path / 'file'} is a file, not a dataset directory"]


def test_card_skips_readme_but_not_shards(copy: Path) -> None:
    (copy / "README.md").write_text("no yaml at all")
    assert dataset_problems(copy, readme=False) == []
    assert dataset_problems(copy) == ["README.md has no YAML header (--- ... ---)"]
    result = CliRunner().invoke(main, ["card", str(copy)])
    assert result.exit_code == 0, result.output
    assert "README.md: README.md has no YAML header" in result.output and "re-rendered" in result.output
    assert dataset_problems(copy) == []
    again = CliRunner().invoke(main, ["card", str(copy)])  # a sound README: rendered, nothing to report
    assert again.exit_code == 0 and again.output.startswith("wrote ") and "re-rendered" not in again.output


def test_card_repairs_a_readme_whose_test_split_names_a_training_shard_and_says_so(copy: Path) -> None:
    readme = (copy / "README.md").read_text()
    train = Splits.read(copy / "splits.json").families["base"]["train"][0]
    test = Splits.read(copy / "splits.json").families["base"]["test"][0]
    shard = {m["fov"]: name for name, m in json.loads((copy / "manifest.json").read_text())["shards"].items()}
    (copy / "README.md").write_text(readme.replace(shard[test], shard[train], 1))
    assert any("split leak" in p for p in dataset_problems(copy))
    result = CliRunner().invoke(main, ["card", str(copy)])
    assert result.exit_code == 0 and "a split leak" in result.output and "re-rendered" in result.output
    assert (copy / "README.md").read_text() == readme and dataset_problems(copy) == []


def test_card_renders_nothing_when_a_shard_is_broken(copy: Path) -> None:
    (copy / "README.md").write_text("no yaml at all")
    next((copy / "data").glob("*.parquet")).write_bytes(b"truncated")
    result = CliRunner().invoke(main, ["card", str(copy)])
    assert result.exit_code == 2 and "nothing was rendered" in result.output
    assert (copy / "README.md").read_text() == "no yaml at all"


def test_card_tells_to_verify_before_load_dataset(dataset_dir: Path, release_dataset) -> None:
    for root in (dataset_dir, release_dataset("lizard")):
        text = (root / "README.md").read_text()
        assert "Run `phenocell verify DIR` on a local copy before loading it" in text
        assert "FileNotFoundError" in text and "Parquet magic bytes" in text and "ParserError" in text
