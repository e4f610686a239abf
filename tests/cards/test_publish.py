"""Publishing, tested offline against a loopback stand-in for the Hub (HF_ENDPOINT)."""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from phenocell.cards.publish import upload_plan, verify_dataset
from phenocell.cli import main
from phenocell.errors import IntegrityError

from .fake_hub import FakeHub

TOKEN = "hf_TESTTOKEN_never_print_me"


@pytest.fixture()
def hub_env(monkeypatch: pytest.MonkeyPatch):
    with FakeHub() as hub:
        monkeypatch.setenv("HF_ENDPOINT", hub.url)
        monkeypatch.setenv("HF_TOKEN", TOKEN)
        monkeypatch.setenv("HF_HUB_DISABLE_XET", "1")  # the commit API path; xet needs a CAS server
        monkeypatch.setenv("HF_HUB_DISABLE_TELEMETRY", "1")
        import huggingface_hub.constants as constants

        monkeypatch.setattr(constants, "ENDPOINT", hub.url)
        monkeypatch.setattr(constants, "HF_HUB_DISABLE_XET", True)
        yield hub


def test_published_files_equal_the_dataset_directory(
    dataset_dir: Path, hub_env: FakeHub, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    args = ["publish", str(dataset_dir), "--repo-id", "lab/phenocell", "--private", "--revision", "v1"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output
    expected = {
        p.relative_to(dataset_dir).as_posix(): p.read_bytes() for p in dataset_dir.rglob("*") if p.is_file()
    }
    assert hub_env.files == expected
    paths = [path for _, path, _ in hub_env.requests]
    create = next(i for i, p in enumerate(paths) if p.startswith("/api/repos/create"))
    commit = next(i for i, p in enumerate(paths) if "/commit/v1" in p)
    assert create < commit and any("/branch/v1" in p for p in paths)
    assert hub_env.created[0]["visibility"] == "private" and hub_env.created[0]["type"] == "dataset"
    uploads = [h for _, path, h in hub_env.requests if path.startswith(("/api/repos", "/api/datasets"))]
    assert uploads and all(h.get("authorization") == f"Bearer {TOKEN}" for h in uploads)
    assert TOKEN not in result.output and TOKEN not in caplog.text


def test_dry_run_lists_files_and_sizes_without_requests(dataset_dir: Path, hub_env: FakeHub) -> None:
    result = CliRunner().invoke(
        main, ["publish", str(dataset_dir), "--repo-id", "lab/phenocell", "--dry-run"]
    )
    assert result.exit_code == 0, result.output
    assert hub_env.requests == []
    plan = upload_plan(dataset_dir)
    assert f"would upload {len(plan)} files" in result.output
    assert all(item.path in result.output for item in plan)


def test_corrupted_shard_is_refused_before_any_upload(
    dataset_dir: Path, tmp_path: Path, hub_env: FakeHub
) -> None:
    copy = Path(shutil.copytree(dataset_dir, tmp_path / "phenocell"))
    shard = sorted((copy / "data").glob("*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="does not match the manifest"):
        verify_dataset(copy)
    result = CliRunner().invoke(main, ["publish", str(copy), "--repo-id", "lab/phenocell"])
    assert result.exit_code == 2 and "nothing was uploaded" in result.output
    assert hub_env.requests == []


def test_unlisted_shard_is_refused(dataset_dir: Path, tmp_path: Path) -> None:
    copy = Path(shutil.copytree(dataset_dir, tmp_path / "phenocell"))
    shutil.copy(sorted((copy / "data").glob("*.parquet"))[0], copy / "data" / "stray.parquet")
    with pytest.raises(IntegrityError, match="not in the manifest"):
        verify_dataset(copy)


@pytest.mark.parametrize("dry_run", [True, False])
def test_malformed_repo_id_is_an_option_error_before_any_request(
    dataset_dir: Path, hub_env: FakeHub, dry_run: bool
) -> None:
    """Not "check the network and your token": the id itself is wrong, and a dry run says so too."""
    args = ["publish", str(dataset_dir), "--repo-id", "my lab/phenocell"] + (["--dry-run"] if dry_run else [])
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 2, result.output
    assert "invalid --repo-id 'my lab/phenocell'" in result.output and "ORG/NAME" in result.output
    assert "network" not in result.output and hub_env.requests == []
