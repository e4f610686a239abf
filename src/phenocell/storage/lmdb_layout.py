"""The authors' LMDB tile release: file names, split CSVs, label dict and their mask convention.

Layout (what their benchmark code reads; ``LMDB_DIR`` is the release folder)::

    LMDB_DIR/
      lmdb/data.mdb, lock.mdb     keys f"{i:08}" (ASCII, a global counter from 0), values pickle.dumps(dict)
      label_dict.json             {"0": "Background", "1": "B cells", ..., "14": "Other cells"}
      splits/schuerch_dataset_split.csv                   columns sample_name,train_test_val_split;
                                                          values train|valid|test
      splits/data_efficiency_splits/split_{5,10,20,50}_percent_train.csv        same columns
      domain_splits/schuerch_<train>_train_val_<test>_test.csv                   same, one per domain shift

Records (:mod:`phenocell.storage.lmdb`) carry ``tile_name`` (``<sample_name>_TILE_<k>``), ``sample_name``
(the FoV's HDF5 file name, ``reg002_A.hdf``), ``image`` (C, H, W), ``semantic_mask`` (H, W) and
``instance_mask`` (H, W, ids renumbered per tile). Their data has no ignore value: dirt is background.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from phenocell import constants
from phenocell.errors import CorruptInputError, InvalidInputError, read_json_file
from phenocell.schema import CLASS_NAMES, IGNORE_INDEX
from phenocell.splits.authors import BASE_FILE, DOMAIN_FILES
from phenocell.splits.rules import EFFICIENCY_PERCENTS

LMDB_SUBDIR = constants.LMDB_SUBDIR
LABEL_DICT_FILE = constants.LMDB_LABEL_DICT_FILE
BASE_SPLIT_FILE = f"splits/{BASE_FILE}"
EFFICIENCY_DIR = "splits/data_efficiency_splits"
DOMAIN_DIR = "domain_splits"
SPLIT_COLUMNS = ("sample_name", "train_test_val_split")
#: Our split names → theirs.
SPLIT_NAMES = {"train": "train", "validation": "valid", "test": "test"}
SAMPLE_SUFFIX = ".hdf"  # sample names are the FoVs' HDF5 file names
#: Extra keys of an exported record that make our export → import round trip exact (their loader
#: returns them untouched; all are fixed-shape arrays or a string, so their DataLoader collates them).
EXTRA_SEMANTIC = "phenocell_semantic_mask"
EXTRA_INSTANCE = "phenocell_instance_mask"
EXTRA_META = "phenocell_meta"
#: Our splits.json, copied beside the release so an import restores its seed and FoV → patient table.
EXTRA_SPLITS_FILE = "phenocell_splits.json"
#: Our manifest.json, copied likewise (its options, marker names and class merges are restored).
EXTRA_MANIFEST_FILE = "phenocell_manifest.json"
#: Split family → its file in the release (file names as the authors' configs give them; the families are
#: those of :mod:`phenocell.splits.authors`, which reads the same files for ``--splits-from``).
SPLIT_FILES = {
    "base": BASE_SPLIT_FILE,
    **{family: f"{DOMAIN_DIR}/{name}" for name, family in DOMAIN_FILES.items()},
    **{f"base_{p}pct": f"{EFFICIENCY_DIR}/split_{p}_percent_train.csv" for p in sorted(EFFICIENCY_PERCENTS)},
}


def sample_name(fov: str) -> str:
    """The authors' sample name of a FoV (its HDF5 file name)."""
    return f"{fov}{SAMPLE_SUFFIX}"


def label_dict() -> dict[str, str]:
    """Our class ids and names as their ``label_dict.json``."""
    return {str(i): name for i, name in enumerate(CLASS_NAMES)}


def read_label_dict(path: Path) -> dict[int, int]:
    """Their class id → ours, matched by class name (case-insensitive); an unknown name is an error."""
    fix = "pass the release folder with its label_dict.json"
    doc = read_json_file(Path(path), "label dict", fix)
    try:
        pairs = {int(k): str(v) for k, v in doc.items()}
    except (ValueError, AttributeError) as err:
        raise CorruptInputError(
            f"cannot read {path}",
            expected='a JSON object {"0": "Background", ...}',
            found=f"{type(err).__name__}: {err}",
            fix=fix,
        ) from err
    ours = {name.lower(): i for i, name in enumerate(CLASS_NAMES)}
    unknown = sorted(v for v in pairs.values() if v.lower() not in ours)
    if unknown:
        raise InvalidInputError(
            f"{path} names classes PhenoCell does not have",
            expected=f"names among {list(CLASS_NAMES)}",
            found=f"{unknown}",
            fix="this importer reads the PhenoCell (Schürch, 14-class) release only",
        )
    return {k: ours[v.lower()] for k, v in pairs.items()}


def write_split_csv(path: Path, assignment: dict[str, str]) -> None:
    """Write ``{fov: our split name}`` as their CSV (sample names, ``train|valid|test``)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(SPLIT_COLUMNS)
        for fov, split in sorted(assignment.items()):
            writer.writerow([sample_name(fov), SPLIT_NAMES[split]])


def to_authors_maps(semantic: np.ndarray, instance: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Our tile maps in their convention (uint8 semantic, int32 instances).

    Ignored cells (255) become background (0) in both maps, and the remaining instances are renumbered
    1..k in the order of their old ids.
    """
    ignored = semantic == IGNORE_INDEX
    sem = np.where(ignored, 0, semantic).astype(np.uint8)
    inst = np.where(ignored, 0, instance).astype(np.int64)
    present, local = np.unique(inst, return_inverse=True)
    local = local.reshape(inst.shape)
    if present.size and present[0] != 0:
        local = local + 1
    return sem, local.astype(np.int32)
