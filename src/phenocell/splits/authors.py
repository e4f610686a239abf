"""The authors' split files (PhenoBench), read instead of drawing splits (``--splits-from DIR``).

Expected files, anywhere under ``DIR`` (their release keeps them in ``splits/`` and ``domain_splits/``)::

    schuerch_dataset_split.csv                   Base: sample_name,train_test_val_split
    domain_splits/schuerch_adeno_train_val_mucinous_test.csv    -> tumor_type
    domain_splits/schuerch_stage3_train_val_stage4_test.csv     -> tumor_stage
    domain_splits/schuerch_dii_train_val_clr_test.csv           -> dii_clr
    domain_splits/schuerch_mss_train_val_msi_test.csv           -> msi
    data_efficiency_splits/split_{5,10,20,50}_percent_train.csv -> base_{5,10,20,50}pct

Each CSV has the columns ``sample_name`` (a FoV file such as ``reg002_A.hdf``) and
``train_test_val_split`` (``train`` / ``valid`` / ``test``). Only the Base file is required.

A file is *tile-level* when its names are tile names (``<sample_name>_TILE_<k>``: tile ``k`` of the FoV in
the authors' row-by-row tiling), as their loader decides by the word "tile" in a split's sample names. Its
family then holds exactly the listed tiles (``Splits.tiles``), and tiles it does not name are left out.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError
from phenocell.records import Patient
from phenocell.splits.families import make_splits
from phenocell.splits.rules import EFFICIENCY_PERCENTS, FAMILIES, SPLITS, Splits
from phenocell.splits.validate import validate_splits

BASE_FILE = "schuerch_dataset_split.csv"
DOMAIN_FILES = {
    "schuerch_adeno_train_val_mucinous_test.csv": "tumor_type",
    "schuerch_stage3_train_val_stage4_test.csv": "tumor_stage",
    "schuerch_dii_train_val_clr_test.csv": "dii_clr",
    "schuerch_mss_train_val_msi_test.csv": "msi",
}
EFFICIENCY_FILE = re.compile(rf"^split_({'|'.join(map(str, EFFICIENCY_PERCENTS))})_percent_train\.csv$")
SAMPLE_COLUMN = "sample_name"
TILE_NAME = re.compile(r"^(?P<sample>.+)_tile_(?P<k>\d+)$", re.IGNORECASE)
SPLIT_COLUMN = "train_test_val_split"
_SPLIT_NAMES = {"train": "train", "valid": "validation", "val": "validation", "validation": "validation"}
_SPLIT_NAMES["test"] = "test"
#: Exclusion reason of FoVs that the authors' Base split does not list.
NOT_IN_AUTHORS_SPLIT = "not in the authors' split"


@dataclass
class AuthorsSplits:
    """FoV lists per family read from the authors' files, and the file each family came from."""

    directory: Path
    families: dict[str, dict[str, list[str]]]
    files: dict[str, str] = field(default_factory=dict)  # family -> path relative to ``directory``
    tiles: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # tile-level families' tile names

    def fovs(self) -> set[str]:
        """Every FoV named by any file."""
        return {f for parts in self.families.values() for fovs in parts.values() for f in fovs}

    def exclusions(self, regions: list[str]) -> dict[str, str]:
        """``{fov: reason}`` for the regions of an export that the Base file does not list."""
        base = {f for fovs in self.families["base"].values() for f in fovs}
        return {r: NOT_IN_AUTHORS_SPLIT for r in regions if r not in base}


def fov_of_sample(name: str) -> str:
    """The FoV key of a sample name: ``reg002_A.hdf`` → ``reg002_A``."""
    return re.sub(r"\.(hdf5?|h5)$", "", str(name).strip())


def tile_name(fov: str, k: int) -> str:
    """The authors' name of tile ``k`` of a FoV: ``reg002_A.hdf_TILE_3``."""
    return f"{fov}.hdf_TILE_{k}"


def parse_tile_name(name: str) -> tuple[str, int] | None:
    """``(fov, k)`` of a tile name, ``None`` for a FoV sample name."""
    match = TILE_NAME.match(str(name).strip())
    return (fov_of_sample(match.group("sample")), int(match.group("k"))) if match else None


def _tile_level(path: Path, samples: list[str]) -> bool:
    """Whether a split file lists tiles; a file mixing tile and FoV names is an error."""
    kinds = {parse_tile_name(s) is not None for s in samples}
    if len(kinds) > 1:
        raise InvalidInputError(
            f"split file {path} mixes tile and FoV sample names",
            expected="all names FoVs (reg002_A.hdf) or all tiles (reg002_A.hdf_TILE_3)",
            found=f"both kinds among {len(samples)} rows",
            fix="split the file into a FoV-level and a tile-level file",
        )
    return kinds == {True}


def _read_split_csv(path: Path) -> dict[str, list[str]]:
    try:
        frame = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorruptInputError(
            f"cannot parse split file {path}",
            expected=f"CSV with columns {SAMPLE_COLUMN},{SPLIT_COLUMN}",
            found=f"{type(err).__name__}: {err}",
            fix="re-export the split file as UTF-8 CSV",
        ) from err
    if {SAMPLE_COLUMN, SPLIT_COLUMN} - set(frame.columns):
        raise InvalidInputError(
            f"split file {path} lacks its columns",
            expected=f"columns {SAMPLE_COLUMN},{SPLIT_COLUMN}",
            found=f"columns {list(frame.columns)}",
            fix="use the authors' split files unchanged",
        )
    values = frame[SPLIT_COLUMN].str.strip().str.lower()
    bad = sorted(set(values) - set(_SPLIT_NAMES))
    if bad:
        raise InvalidInputError(
            f"split file {path} has unknown split names",
            expected="train, valid or test",
            found=f"{bad}",
            fix="correct the train_test_val_split column",
        )
    tiles = _tile_level(path, list(frame[SAMPLE_COLUMN]))
    parts: dict[str, list[str]] = {s: [] for s in SPLITS}
    for sample, split in zip(frame[SAMPLE_COLUMN], values, strict=True):
        parsed = parse_tile_name(sample) if tiles else None
        parts[_SPLIT_NAMES[split]].append(tile_name(*parsed) if parsed else fov_of_sample(sample))
    return {s: sorted(f) for s, f in parts.items()}


def _fovs_of_tiles(parts: dict[str, list[str]]) -> dict[str, list[str]]:
    """Per split, the FoVs of its tiles."""
    return {s: sorted({p[0] for t in names if (p := parse_tile_name(t))}) for s, names in parts.items()}


def _family_of(path: Path, directory: Path) -> str | None:
    if path.name == BASE_FILE:
        return "base"
    if path.parent.name == "domain_splits":
        if path.name not in DOMAIN_FILES:
            raise InvalidInputError(
                f"unknown domain split file {path}",
                expected=f"one of {sorted(DOMAIN_FILES)}",
                found=path.name,
                fix="rename the file or move it out of " + str(directory),
            )
        return DOMAIN_FILES[path.name]
    match = EFFICIENCY_FILE.match(path.name)
    if path.parent.name == "data_efficiency_splits" and match:
        return f"base_{match.group(1)}pct"
    return None


def read_authors_splits(directory: Path) -> AuthorsSplits:
    """Read the authors' split files under ``directory`` (layout in the module docstring).

    A data-efficiency file without validation / test rows takes those of the Base file.

    Raises:
        MissingInputError: ``directory`` or its Base file is absent.
        CorruptInputError / InvalidInputError: a file is unreadable, lacks its columns or is listed twice.

    """
    directory = Path(directory)
    found = sorted(directory.rglob("*.csv")) if directory.is_dir() else []
    families: dict[str, dict[str, list[str]]] = {}
    files: dict[str, str] = {}
    tiles: dict[str, dict[str, list[str]]] = {}
    for path in found:
        family = _family_of(path, directory)
        if family is None:
            continue
        if family in families:
            raise InvalidInputError(
                f"two split files for family {family!r} under {directory}",
                expected="one file per family",
                found=f"{files[family]} and {path.relative_to(directory)}",
                fix="keep one of them",
            )
        parts, files[family] = _read_split_csv(path), str(path.relative_to(directory))
        if any(parse_tile_name(n) for names in parts.values() for n in names):
            tiles[family], parts = parts, _fovs_of_tiles(parts)
        families[family] = parts
    if "base" not in families:
        raise MissingInputError(
            f"no {BASE_FILE} under {directory}",
            expected=f"the authors' Base split file {BASE_FILE} (sample_name,train_test_val_split)",
            found=f"{len(found)} CSV files" if directory.is_dir() else "no such directory",
            fix="pass the folder that holds the authors' split files to --splits-from",
        )
    for family, parts in families.items():
        if family.endswith("pct"):
            for split in ("validation", "test"):
                if not parts[split] and (family in tiles) == ("base" in tiles):
                    parts[split] = families["base"][split]
                    if family in tiles:
                        tiles[family][split] = tiles["base"][split]
    return AuthorsSplits(directory, families, files, tiles)


def _kept(
    family: str, parts: dict[str, list[str]], fov_patient: dict[str, str], known: set[str]
) -> list[str]:
    """Drop FoVs that are not converted here; raise for FoVs the export does not have at all."""
    named = [f for s in SPLITS for f in parts[s]]
    unknown = sorted(f for f in named if f not in known)
    if unknown:
        raise InvalidInputError(
            f"the authors' {family!r} split names FoVs that the export does not have",
            expected="every FoV of the split files in the cell table",
            found=f"{len(unknown)} unknown FoVs, e.g. {unknown[:5]}",
            fix="convert the full export, or pass the split folder that belongs to it",
        )
    dropped = sorted(f for f in named if f not in fov_patient)
    for split in SPLITS:
        parts[split] = [f for f in parts[split] if f in fov_patient]
    return dropped


def file_rule(authors: AuthorsSplits, family: str) -> str:
    """The rule text of a family read from a file: ``the authors' [tile-level ]split file <path>``."""
    level = "tile-level " if family in authors.tiles else ""
    return f"the authors' {level}split file {authors.files[family]}"


def converted_tiles(
    tiles: dict[str, dict[str, list[str]]], fovs: set[str]
) -> dict[str, dict[str, list[str]]]:
    """The tile-level families' tiles of the FoVs converted here."""
    return {
        family: {
            s: [t for t in names if (p := parse_tile_name(t)) and p[0] in fovs] for s, names in parts.items()
        }
        for family, parts in tiles.items()
    }


def splits_from_files(
    authors: AuthorsSplits,
    fov_patient: dict[str, str],
    patients: dict[str, Patient],
    *,
    known: set[str],
    seed: int = 0,
) -> Splits:
    """Splits from the authors' files; core families without a file are drawn (``seed``) as usual.

    Patient overlaps and rule breaks of the authors' families are reported in ``Splits.findings``.

    Args:
        authors: the files read by :func:`read_authors_splits`.
        fov_patient: the FoVs converted here and their patients.
        patients: the patient table.
        known: every FoV of the export (converted or excluded).
        seed: seed of the families drawn because they have no file.

    Raises:
        InvalidInputError: a file names a FoV the export does not have, or a family has an empty split.

    """
    families: dict[str, dict[str, list[str]]] = {}
    rules: dict[str, str] = {}
    for family, parts in authors.families.items():
        parts = {s: list(f) for s, f in parts.items()}
        dropped = _kept(family, parts, fov_patient, known)
        families[family] = parts
        note = f" ({len(dropped)} of its FoVs not converted: {', '.join(dropped[:5])})" if dropped else ""
        rules[family] = file_rule(authors, family) + note
    if any(f not in families for f in FAMILIES):
        drawn = make_splits(fov_patient, patients, seed=seed)
        families = {**{f: drawn.families[f] for f in FAMILIES if f not in families}, **families}
    splits = Splits(
        seed=seed,
        base_by="region",
        families=families,
        fov_patient=dict(sorted(fov_patient.items())),
        rules=rules,
        source=f"the authors' split files ({len(authors.files)} file{'s' * (len(authors.files) != 1)})",
        tiles=converted_tiles(authors.tiles, set(fov_patient)),
    )
    in_family = {f: {fov_patient[v] for s in SPLITS for v in parts[s]} for f, parts in families.items()}
    splits.outside = {
        f: sorted(set(fov_patient.values()) - owners)
        for f, owners in in_family.items()
        if set(fov_patient.values()) - owners
    }
    validate_splits(splits, patients)
    return splits
