"""``phenocell publish``: verify a dataset directory against its manifest and upload it to the Hub.

The upload is ``huggingface_hub``'s ``upload_folder``: with ``hf_xet`` installed it streams files, splits
large folders into several commits and resumes an interrupted upload when re-run. The token comes from
``huggingface_hub``'s usual sources (``HF_TOKEN``, ``hf auth login``) and is never printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from phenocell.cards.verify import verify_dataset
from phenocell.errors import InvalidOptionError, network_error

__all__ = ["LOCAL_ONLY", "UploadItem", "check_repo_id", "publish", "upload_plan", "verify_dataset"]

#: Local-only files that are not part of the published dataset.
LOCAL_ONLY = ("README.html",)


@dataclass(frozen=True)
class UploadItem:
    """One file to upload: its path in the repo and its size."""

    path: str
    size: int


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
    """Verify (:func:`phenocell.cards.verify.verify_dataset`), then upload ``dataset_dir`` as ``repo_id``.

    Returns:
        The files uploaded (or that would be, with ``dry_run``).

    Raises:
        InvalidOptionError: ``repo_id`` is no valid Hub repo id (checked first, also for ``dry_run``).
        IntegrityError: the directory fails verification; nothing is uploaded.
        NetworkError: the Hub cannot be reached or refuses the request.
    """
    check_repo_id(repo_id)
    verify_dataset(dataset_dir, action="uploaded")
    plan = upload_plan(dataset_dir)
    if dry_run:
        return plan
    try:
        _upload(Path(dataset_dir), repo_id, plan, private=private, revision=revision)
    except Exception as err:
        typed = network_error(err, f"upload to datasets/{repo_id}")
        if typed is None:
            raise
        raise typed from err
    return plan


def check_repo_id(repo_id: str) -> None:
    """Raise :class:`InvalidOptionError` unless ``repo_id`` is a well-formed Hub repo id (no request)."""
    from huggingface_hub.utils import HFValidationError, validate_repo_id

    try:
        validate_repo_id(repo_id)
    except HFValidationError as err:
        raise InvalidOptionError(
            f"invalid --repo-id {repo_id!r}",
            expected="ORG/NAME: letters, digits, '-', '_' and '.', at most 96 characters, one '/'",
            found=str(err).splitlines()[0][:300],
            fix="pass --repo-id like my-lab/phenocell",
        ) from err


def _upload(
    dataset_dir: Path, repo_id: str, plan: list[UploadItem], *, private: bool, revision: str | None
) -> None:
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
