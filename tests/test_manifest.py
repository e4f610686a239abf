"""manifest.json is one record: it writes and reads itself, and a malformed one is a typed error."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from phenocell.errors import InvalidInputError, MissingInputError
from phenocell.manifest import Manifest, manifest_profile


def test_a_converted_manifest_reads_back_and_writes_the_same_bytes(dataset_dir: Path, tmp_path: Path) -> None:
    manifest = Manifest.read(dataset_dir)
    assert manifest.shards and all(s.sha256 and s.tiles > 0 for s in manifest.shards)
    assert all(isinstance(k, int) for s in manifest.shards for k in s.cells_per_class)
    assert manifest.profile is None and manifest.external_inputs == {}
    manifest.write(tmp_path)
    assert (tmp_path / "manifest.json").read_bytes() == (dataset_dir / "manifest.json").read_bytes()
    # the members in the order every earlier version wrote them (so manifests stay byte-identical)
    order = ["phenocell_version", "options", "inputs", "external_inputs", "shards", "markers", "class_map"]
    assert list(json.loads((tmp_path / "manifest.json").read_text())) == order


def test_a_release_manifest_keeps_its_profile_and_omits_external_inputs(release_dataset) -> None:
    dataset = release_dataset("lizard")
    manifest = Manifest.read(dataset)
    assert manifest.profile == "lizard" == manifest_profile(dataset)
    doc = manifest.to_json()
    assert "external_inputs" not in doc and list(doc)[:2] == ["phenocell_version", "profile"]


def test_a_manifest_without_shards_or_file_is_a_typed_error(dataset_dir: Path, tmp_path: Path) -> None:
    doc = json.loads((dataset_dir / "manifest.json").read_text())
    del doc["shards"]
    (tmp_path / "manifest.json").write_text(json.dumps(doc))
    with pytest.raises(InvalidInputError, match="lacks what a dataset manifest needs") as info:
        Manifest.read(tmp_path)
    assert "shards" in info.value.found and info.value.fix
    with pytest.raises(MissingInputError):
        Manifest.read(tmp_path / "nowhere")
    assert manifest_profile(tmp_path / "nowhere") is None
    assert Manifest.read_if_present(tmp_path / "nowhere") is None
    with pytest.raises(InvalidInputError):  # present but malformed: still an error
        Manifest.read_if_present(tmp_path)


def test_shard_hashes_are_the_documents(dataset_dir: Path) -> None:
    doc = json.loads((dataset_dir / "manifest.json").read_text())
    expected = {shard: meta["sha256"] for shard, meta in doc["shards"].items()}
    assert Manifest.read_if_present(dataset_dir).shard_sha256() == expected  # type: ignore[union-attr]
