"""Reader of the public Lizard release (colon nuclei, 6 classes).

Layout (Lizard README; the PhenoBench authors' ``lizard_dataset.py`` reads the same files)::

    RAW/
      Lizard_Images1/<name>.png            RGB images, 20x (~0.5 µm/px); names ``<source>_<n>``
      Lizard_Images2/<name>.png            (sources consep, crag, dpath, glas, pannuke)
      Lizard_Labels/Labels/<name>.mat      MAT v5: inst_map (H, W) int32, id (N, 1), class (N, 1) in 1..6,
                                           bbox (N, 4) as y1, y2, x1, x2, centroid (N, 2) as x, y
      Lizard_Labels/info.csv               Filename, Source, Split (Lizard's own folds 1 / 2 / 3)

Each of the three folders may also sit one level deeper (the download's ``lizard_images1/Lizard_Images1``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import scipy.io
from PIL import Image

from phenocell.constants import LIZARD_LABEL_DIR
from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError
from phenocell.paths import check_region_name
from phenocell.profiles import LIZARD
from phenocell.records import LabelledImage, SampleRef

IMAGE_DIRS = ("Lizard_Images1", "Lizard_Images2")
LABEL_DIR = LIZARD_LABEL_DIR
INFO_COLUMNS = ("Filename", "Source", "Split")


def _find_dir(raw: Path, name: str) -> Path | None:
    for candidate in (raw / name, *sorted(raw.glob(f"*/{name}"))):
        if candidate.is_dir():
            return candidate
    return None


def _label_dir(raw: Path) -> Path:
    found = _find_dir(raw, LABEL_DIR)
    if found is None:
        raise MissingInputError(
            "missing Lizard labels",
            expected=f"a folder {LABEL_DIR}/ with Labels/*.mat and info.csv under {raw}",
            found="no such folder",
            fix="unpack lizard_labels.zip into the raw folder",
        )
    return found


def _read_info(path: Path) -> pd.DataFrame:
    if not path.is_file():
        raise MissingInputError(
            "missing Lizard info.csv",
            expected=f"a file at {path}",
            found="nothing there",
            fix="unpack lizard_labels.zip completely",
        )
    try:
        info = pd.read_csv(path, dtype=str)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as err:
        raise CorruptInputError(
            f"cannot parse {path}", expected="a CSV file", found=str(err), fix="re-download the labels"
        ) from err
    missing = [c for c in INFO_COLUMNS if c not in info.columns]
    if missing:
        raise InvalidInputError(
            f"{path} lacks columns {missing}",
            expected=f"columns {', '.join(INFO_COLUMNS)}",
            found=f"columns {list(info.columns)}",
            fix="use the info.csv of the Lizard release",
        )
    return info


def read_lizard(path: Path) -> dict[str, SampleRef]:
    """Every image that ``info.csv`` lists, by name, with its fold (``subset``) and source (``group``).

    Raises:
        MissingInputError: a folder, ``info.csv``, or a listed image / label file is absent.
        InvalidInputError: ``info.csv`` lacks a column, or an image has no row in it.
        UnsafePathError: a ``Filename`` is not a plain identifier (path syntax).

    """
    raw = Path(path)
    info = _read_info(_label_dir(raw) / "info.csv")
    for name in info["Filename"]:  # names become file names: identifiers only, never paths
        check_region_name(name, source=str(_label_dir(raw) / "info.csv"))
    images = {p.stem: p for d in IMAGE_DIRS if (found := _find_dir(raw, d)) for p in found.glob("*.png")}
    unlisted = sorted(set(images) - set(info["Filename"]))
    if unlisted:
        raise InvalidInputError(
            "Lizard images without a row in info.csv",
            expected="every image listed in Lizard_Labels/info.csv",
            found=f"{len(unlisted)} unlisted, e.g. {unlisted[:3]}",
            fix="use the info.csv of the same release, or remove the extra images",
        )
    refs = {
        str(row.Filename): SampleRef(str(row.Filename), str(row.Split), str(row.Source).lower())
        for row in info.itertuples()
    }
    for name in sorted(refs):
        _files(raw, name, images)
    return dict(sorted(refs.items()))


def _files(raw: Path, name: str, images: dict[str, Path] | None = None) -> tuple[Path, Path]:
    if images is None:
        folders = [f for d in IMAGE_DIRS if (f := _find_dir(raw, d)) is not None]
        images = {p.stem: p for f in folders for p in f.glob(f"{name}.png")}
    label = _label_dir(raw) / "Labels" / f"{name}.mat"
    missing = [what for what, ok in (("image", name in images), ("label", label.is_file())) if not ok]
    if missing:
        raise MissingInputError(
            f"Lizard image {name!r} lacks its {' and '.join(missing)} file",
            expected=f"{name}.png in {' or '.join(IMAGE_DIRS)} and Labels/{name}.mat",
            found=f"no {' and no '.join(missing)} file",
            fix="unpack all three Lizard archives into the raw folder",
        )
    return images[name], label


def _column(mat: dict[str, Any], key: str, path: Path) -> np.ndarray:
    if key not in mat:
        raise InvalidInputError(
            f"{path} lacks {key!r}",
            expected="inst_map, id and class",
            found=f"keys {sorted(mat)}",
            fix="use the .mat files of the Lizard release",
        )
    return np.asarray(mat[key]).reshape(-1).astype(np.int64)


def _decode(image_path: Path, label_path: Path, name: str) -> tuple[np.ndarray, dict[str, Any]]:
    try:
        return np.asarray(Image.open(image_path).convert("RGB")), scipy.io.loadmat(label_path)
    except Exception as err:  # PIL and scipy raise assorted errors (even IndexError) on damaged files
        raise CorruptInputError(
            f"cannot read Lizard image {name!r}",
            expected="a PNG and a MAT v5 file",
            found=f"{type(err).__name__}: {err}",
            fix="re-download the Lizard archives",
        ) from err


def read_lizard_sample(path: Path, ref: SampleRef) -> LabelledImage:
    """Read one Lizard image and its label file; the classes keep Lizard's numbering (5 = Eosinophil).

    Raises:
        CorruptInputError: the PNG or MAT file cannot be decoded.
        InvalidInputError: shapes disagree, a class is outside 1..6, or a mask label has no class.

    """
    image_path, label_path = _files(Path(path), ref.name)
    image, mat = _decode(image_path, label_path, ref.name)
    inst = np.asarray(mat.get("inst_map", np.zeros(0)))
    if inst.shape != image.shape[:2]:
        raise InvalidInputError(
            f"Lizard {ref.name!r}: inst_map does not match its image",
            expected=f"inst_map of shape {image.shape[:2]}",
            found=f"shape {inst.shape}",
            fix="pair each image with its own .mat file",
        )
    ids, classes = _column(mat, "id", label_path), _column(mat, "class", label_path)
    present = np.unique(inst[inst > 0]).astype(np.int64)
    lookup = dict(zip(ids.tolist(), classes.tolist(), strict=False))
    unknown = [int(v) for v in present if int(v) not in lookup]
    bad = sorted({c for c in classes.tolist() if not 1 <= c <= LIZARD.num_classes})
    if len(ids) != len(classes) or unknown or bad:
        raise InvalidInputError(
            f"Lizard {ref.name!r}: labels and classes disagree",
            expected=f"one class in 1..{LIZARD.num_classes} per inst_map label; id and class of equal length",
            found=f"{len(ids)} ids, {len(classes)} classes; unlisted labels {unknown[:5]}; classes {bad[:5]}",
            fix="use the .mat files of the Lizard release",
        )
    found = np.array([lookup[int(v)] for v in present], dtype=np.int64)
    return LabelledImage(ref, image, inst.astype(np.int64), present, found)
