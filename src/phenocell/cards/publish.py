"""``phenocell publish``: verify a dataset directory against its manifest and upload it to the Hub.

The upload is ``huggingface_hub``'s ``upload_folder``: with ``hf_xet`` installed it streams files, splits
large folders into several commits and resumes an interrupted upload when re-run. The token comes from
``huggingface_hub``'s usual sources (``HF_TOKEN``, ``hf auth login``) and is never printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phenocell.dataset.writer import sha256_file
from phenocell.errors import IntegrityError, MissingInputError, read_json_file

#: Local-only files that are not part of the published dataset.
LOCAL_ONLY = ("README.html",)


@dataclass(frozen=True)
class UploadItem:
    """One file to upload: its path in the repo and its size."""

    path: str
    size: int


def verify_dataset(dataset_dir: Path) -> None:
    """Check every shard against ``manifest.json`` (presence, sha256) and that no unlisted shard exists.

    Raises:
        MissingInputError: no manifest, or a listed shard is missing.
        IntegrityError: a shard's sha256 differs from the manifest, or a shard is not listed.
    """
    dataset_dir = Path(dataset_dir)
    manifest = read_json_file(
        dataset_dir / "manifest.json", "dataset manifest", "publish a directory written by phenocell-convert"
    )
    shards = manifest["shards"]
    for name, meta in sorted(shards.items()):
        path = dataset_dir / name
        if not path.is_file():
            raise MissingInputError(
                f"shard {name} is missing",
                expected=str(path),
                found="no such file",
                fix="re-run phenocell-convert; nothing was uploaded",
            )
        digest = sha256_file(path)
        if digest != meta["sha256"]:
            raise IntegrityError(
                f"shard {name} does not match the manifest",
                expected=f"sha256 {meta['sha256']}",
                found=f"sha256 {digest}",
                fix="re-run phenocell-convert; nothing was uploaded",
            )
    extra = sorted(
        p.relative_to(dataset_dir).as_posix()
        for p in (dataset_dir / "data").glob("*.parquet")
        if p.relative_to(dataset_dir).as_posix() not in shards
    )
    if extra:
        raise IntegrityError(
            "shards not in the manifest",
            expected="only the shards manifest.json lists",
            found=str(extra),
            fix="remove them or re-run phenocell-convert; nothing was uploaded",
        )


def upload_plan(dataset_dir: Path) -> list[UploadItem]:
    """The files that would be uploaded, sorted, with sizes (hidden and local-only files left out)."""
    dataset_dir = Path(dataset_dir)
    items = []
    for path in sorted(dataset_dir.rglob("*")):
        rel = path.relative_to(dataset_dir).as_posix()
        if (
            path.is_file()
            and not any(part.startswith(".") for part in rel.split("/"))
            and rel not in LOCAL_ONLY
        ):
            items.append(UploadItem(rel, path.stat().st_size))
    return items


def publish(
    dataset_dir: Path,
    repo_id: str,
    *,
    private: bool = False,
    revision: str | None = None,
    dry_run: bool = False,
) -> list[UploadItem]:
    """Verify, then upload ``dataset_dir`` as the dataset repo ``repo_id`` (unless ``dry_run``).

    Returns:
        The files uploaded (or that would be, with ``dry_run``).
    """
    verify_dataset(dataset_dir)
    plan = upload_plan(dataset_dir)
    if dry_run:
        return plan
    from huggingface_hub import HfApi

    api = HfApi()
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    if revision:
        api.create_branch(repo_id, repo_type="dataset", branch=revision, exist_ok=True)
    api.upload_folder(
        repo_id=repo_id,
        repo_type="dataset",
        folder_path=str(dataset_dir),
        revision=revision,
        allow_patterns=[item.path for item in plan],
        commit_message="Upload PhenoCell dataset",
    )
    return plan
