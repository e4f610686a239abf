"""``phenocell verify DIR``: check a finished dataset directory before it is trusted.

Checks, each reported as one line of a list of problems:

- ``manifest.json`` and ``splits.json`` parse and have the fields a dataset needs;
- every shard the manifest lists lies under ``data/``, exists, and matches its sha256 and row count; no
  parquet file under ``data/`` is missing from the manifest;
- splits are leakage-free: no FoV in two splits of a family, no patient in two splits (except the Base
  family drawn by region, which follows the authors' grouping), every FoV known;
- ``README.md``'s YAML header parses and its configs list exactly the shards ``splits.json`` assigns.

``publish``, ``benchmark run`` (on a local directory) and ``card`` run it first.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from phenocell.errors import IntegrityError, MissingInputError, PhenoCellError
from phenocell.paths import check_inside
from phenocell.splits import SPLITS, Splits
from phenocell.storage.writer import sha256_file


def _json(path: Path, problems: list[str]) -> dict[str, Any] | None:
    if not path.is_file():
        problems.append(f"{path.name} is missing")
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        problems.append(f"{path.name} does not parse: {type(err).__name__}: {err}")
        return None
    if not isinstance(doc, dict):
        problems.append(f"{path.name} is not a JSON object")
        return None
    return doc


def _shard_problems(root: Path, name: str, meta: Any) -> list[str]:
    if not isinstance(meta, dict) or not {"fov", "sha256", "rows"} <= set(meta):
        return [f"manifest entry {name!r} lacks fov / sha256 / rows"]
    try:
        path = check_inside(root / name, root / "data", what="shard")
    except ValueError:
        return [f"manifest shard {name!r} lies outside data/"]
    if not path.is_file():
        return [f"shard {name} is missing"]
    problems = []
    digest = sha256_file(path)
    if digest != meta["sha256"]:
        problems.append(
            f"shard {name} does not match the manifest: "
            f"sha256 {digest[:12]}…, listed {str(meta['sha256'])[:12]}…"
        )
    try:
        rows = pq.ParquetFile(path).metadata.num_rows
    except (pa.ArrowException, OSError) as err:
        return [*problems, f"shard {name} is not readable parquet: {err}"]
    if rows != meta["rows"]:
        problems.append(f"shard {name} has {rows} rows, the manifest lists {meta['rows']}")
    return problems


def _manifest_problems(root: Path, manifest: dict[str, Any]) -> list[str]:
    shards = manifest.get("shards")
    if not isinstance(shards, dict):
        return ["manifest.json has no 'shards' mapping"]
    problems = [p for name, meta in sorted(shards.items()) for p in _shard_problems(root, name, meta)]
    extra = sorted(
        p.relative_to(root).as_posix()
        for p in (root / "data").glob("*.parquet")
        if p.relative_to(root).as_posix() not in shards
    )
    if extra:
        problems.append(f"shards not in the manifest: {extra}")
    return problems


def _split_problems(splits: Splits, shard_fovs: set[str]) -> list[str]:
    problems = []
    for family, parts in splits.families.items():
        owner: dict[str, str] = {}
        fov_split: dict[str, str] = {}
        for split in SPLITS:
            for fov in parts.get(split, []):
                if fov not in splits.fov_patient:
                    problems.append(f"splits.json family {family!r} names unknown FoV {fov!r}")
                    continue
                if fov_split.setdefault(fov, split) != split and family not in splits.tiles:
                    problems.append(
                        f"split leak in {family!r}: FoV {fov!r} in {fov_split[fov]!r} and {split!r}"
                    )
                # the authors' splits (Base by region, or read from their files) report overlaps in the card
                reported = splits.reports_leakage or (family == "base" and splits.base_by == "region")
                who = splits.fov_patient[fov]
                if not reported and owner.setdefault(who, split) != split:
                    problems.append(
                        f"split leak in {family!r}: patient {who!r} in {owner[who]!r} and {split!r}"
                    )
    for family, tiles in splits.tiles.items():
        named = [t for split in SPLITS for t in tiles.get(split, [])]
        twice = sorted({t for t in named if named.count(t) > 1})
        if twice:
            problems.append(f"split leak in {family!r}: tiles in two splits, e.g. {twice[:5]}")
    unknown = sorted(shard_fovs - set(splits.fov_patient))
    if unknown:
        problems.append(f"shards of FoVs that splits.json does not know: {unknown[:5]}")
    return problems


def _front_matter(readme: Path) -> dict[str, Any] | str:
    """The README's YAML header, or a problem description."""
    if not readme.is_file():
        return "README.md is missing"
    text = readme.read_text(encoding="utf-8", errors="replace")
    if not text.startswith("---\n") or "\n---\n" not in text[4:]:
        return "README.md has no YAML header (--- ... ---)"
    try:
        meta = yaml.safe_load(text[4 : text.index("\n---\n", 4) + 1])
    except yaml.YAMLError as err:
        return f"README.md YAML does not parse: {str(err).splitlines()[0]}"
    return meta if isinstance(meta, dict) else "README.md YAML header is not a mapping"


def _files_by_split(configs: Any) -> dict[tuple[str, str], list[str]]:
    out: dict[tuple[str, str], list[str]] = {}
    for config in configs if isinstance(configs, list) else []:
        for entry in config.get("data_files", []) if isinstance(config, dict) else []:
            if isinstance(entry, dict):
                paths = entry.get("path", [])
                paths = [paths] if isinstance(paths, str) else list(paths or [])
                out[(str(config.get("config_name")), str(entry.get("split")))] = sorted(map(str, paths))
    return out


def _readme_problems(root: Path) -> list[str]:
    from phenocell.cards.render import metadata_configs
    from phenocell.cards.summary import DatasetSummary

    meta = _front_matter(root / "README.md")
    if isinstance(meta, str):
        return [meta]
    found = _files_by_split(meta.get("configs"))
    summary = DatasetSummary.from_dir(root)
    configs = metadata_configs(summary)
    expected = _files_by_split([{"config_name": name, **cfg} for name, cfg in configs.items()])
    problems = []
    for key in sorted(set(found) | set(expected)):
        if found.get(key) != expected.get(key):
            problems.append(
                f"README.md config {key[0]!r} split {key[1]!r} lists {found.get(key)}, "
                f"splits.json gives {expected.get(key)}{_leak_note(summary, key, found.get(key) or [])}"
            )
    return problems


def _leak_note(summary: Any, key: tuple[str, str], listed: list[str]) -> str:
    """Say so when a README split lists a shard that splits.json puts in another split of its family."""
    config, split = key
    family, _, split = split.rpartition("_") if config == "default" else (config, "", split)
    parts = summary.splits.families.get(family, {})
    shard_of = {s.shard: s for s in summary.shards}

    def belongs(shard: str, other: str) -> bool:
        held = shard_of.get(shard)
        if held is None:
            return False
        return (
            held.parts.get(family) == other
            if family in summary.splits.tiles
            else held.fov in parts.get(other, [])
        )

    leaks = [
        f"{shard} belongs to {family}_{other}"
        for shard in listed
        for other in SPLITS
        if other != split and belongs(shard, other)
    ]
    return f" — a split leak: {'; '.join(leaks)}" if leaks else ""


def dataset_problems(dataset_dir: Path, *, readme: bool = True) -> list[str]:
    """Every problem of a dataset directory (empty when it verifies). ``readme=False`` skips README.md."""
    root = Path(dataset_dir)
    if not root.is_dir():
        return [f"{root} is a file, not a dataset directory" if root.exists() else f"nothing at {root}"]
    problems: list[str] = []
    manifest = _json(root / "manifest.json", problems)
    splits_doc = _json(root / "splits.json", problems)
    if manifest is not None:
        problems += _manifest_problems(root, manifest)
    splits = None
    if splits_doc is not None:
        try:
            splits = Splits.read(root / "splits.json")
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            problems.append(f"splits.json lacks what a split file needs: {type(err).__name__}: {err}")
    if splits is not None and manifest is not None and isinstance(manifest.get("shards"), dict):
        shard_fovs = {m.get("fov") for m in manifest["shards"].values() if isinstance(m, dict)}
        problems += _split_problems(splits, {str(f) for f in shard_fovs})
    if readme and not problems:  # the README check needs sound manifest, shards and splits
        try:
            problems += _readme_problems(root)
        except PhenoCellError as err:
            problems.append(f"cannot rebuild the expected configs: {err.what}: {err.found}")
        except (KeyError, TypeError, ValueError, AttributeError) as err:
            problems.append(
                f"manifest.json / splits.json lack what the card needs: {type(err).__name__}: {err}"
            )
    return problems


def verify_dataset(dataset_dir: Path, *, readme: bool = True, action: str = "used") -> None:
    """Raise a typed error listing every problem of ``dataset_dir``; return quietly when it verifies.

    Raises:
        MissingInputError: ``dataset_dir`` is not a dataset directory (no manifest.json).
        IntegrityError: any other problem (the message lists them all).
    """
    root = Path(dataset_dir)
    problems = dataset_problems(root, readme=readme)
    if not problems:
        return
    listing = "\n".join(f"    - {p}" for p in problems)
    kind = MissingInputError if not (root / "manifest.json").is_file() else IntegrityError
    raise kind(
        f"{root} failed verification ({len(problems)} problem{'s' * (len(problems) != 1)})",
        expected="a dataset directory as phenocell-convert wrote it",
        found="\n" + listing,
        fix=f"re-run phenocell-convert (or restore the files listed); nothing was {action}",
    )
