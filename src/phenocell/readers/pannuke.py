"""Reader of the public PanNuke release (19 tissues, 5 nucleus classes), memory-mapped.

Layout (PanNuke README; the PhenoBench authors' ``pannuke_dataset.py`` reads the same files)::

    RAW/
      fold1/images/fold1/images.npy   (N, 256, 256, 3) float64, 0..255   (the download names the top
      fold1/images/fold1/types.npy    (N,) tissue names                   folder "Fold 1"; both work)
      fold1/masks/fold1/masks.npy     (N, 256, 256, 6) float64: channels 0 Neoplastic, 1 Inflammatory,
                                      2 Connective/Soft tissue, 3 Dead, 4 Epithelial hold instance ids;
                                      5 flags background
      fold2/...  fold3/...

A fold is ~12 GB as float64, so the arrays are opened with ``mmap_mode="r"`` and one image is decoded at a
time. Instance ids are per channel: the same id in two channels names two nuclei, and a tile may hold more
than 255 of them, so a nucleus is identified by its (channel, id) pair. Where channels overlap (rare), the
lower channel owns the pixel.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from phenocell.constants import PANNUKE_FOLD_PATTERN
from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError
from phenocell.profiles import PANNUKE
from phenocell.records import LabelledImage, SampleRef

MASK_CHANNELS = PANNUKE.num_classes + 1  # a channel per class, then background
_FOLD = re.compile(PANNUKE_FOLD_PATTERN, re.IGNORECASE)


def fold_dirs(path: Path) -> dict[str, Path]:
    """The fold folders under ``path`` (``fold1`` or ``Fold 1``), keyed ``fold<k>``."""
    found = {}
    for child in sorted(Path(path).iterdir()) if Path(path).is_dir() else []:
        match = _FOLD.match(child.name)
        if child.is_dir() and match:
            found[f"fold{int(match.group(1))}"] = child
    if not found:
        raise MissingInputError(
            "no PanNuke folds",
            expected=f"folders fold1 / fold2 / fold3 (or 'Fold 1' ...) under {path}",
            found="none",
            fix="unpack the PanNuke fold archives into the raw folder",
        )
    return found


def _one(fold: Path, name: str) -> Path:
    hits = sorted(fold.rglob(name))
    if len(hits) != 1:
        raise MissingInputError(
            f"PanNuke {fold.name}: {name} missing or ambiguous",
            expected=f"exactly one {name} under {fold}",
            found=f"{len(hits)} files",
            fix="unpack the fold archive as released (images/ and masks/)",
        )
    return hits[0]


def open_fold(fold: Path) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``images``, ``masks`` (memory-mapped) and ``types`` of one fold, shape-checked.

    Raises:
        MissingInputError: a file is absent.
        CorruptInputError: a file is not a readable ``.npy``.
        InvalidInputError: the shapes do not agree.

    """
    files = {n: _one(fold, f"{n}.npy") for n in ("images", "masks", "types")}
    try:
        images = np.load(files["images"], mmap_mode="r", allow_pickle=False)
        masks = np.load(files["masks"], mmap_mode="r", allow_pickle=False)
        types = np.load(files["types"], allow_pickle=False)
    except (OSError, ValueError) as err:
        raise CorruptInputError(
            f"cannot read PanNuke {fold.name}",
            expected="numpy .npy files",
            found=f"{type(err).__name__}: {err}",
            fix="re-download the fold",
        ) from err
    n = len(types)
    ok = images.ndim == 4 and images.shape[0] == n and images.shape[3] == 3
    ok = ok and masks.shape == (*images.shape[:3], MASK_CHANNELS)
    if not ok or types.ndim != 1:
        raise InvalidInputError(
            f"PanNuke {fold.name}: array shapes disagree",
            expected=f"images (N, H, W, 3), masks (N, H, W, {MASK_CHANNELS}), types (N,)",
            found=f"images {images.shape}, masks {masks.shape}, types {types.shape}",
            fix="use images.npy, masks.npy and types.npy of the same fold",
        )
    return images, masks, types


def read_pannuke(path: Path) -> dict[str, SampleRef]:
    """Every image of every fold, named ``fold<k>_<row>``, with its fold and tissue type."""
    refs = {}
    for key, fold in fold_dirs(path).items():
        _, _, types = open_fold(fold)
        for i, tissue in enumerate(types.tolist()):
            name = f"{key}_{i:05d}"
            refs[name] = SampleRef(name, key, str(tissue), i)
    return dict(sorted(refs.items()))


def instance_map(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One (H, W, 6) mask as a label map with one label per (channel, id), its labels and class ids.

    Labels are numbered 1..n in (channel, id) order; the class of a label is its channel + 1.
    """
    ids = np.rint(np.asarray(mask[..., : PANNUKE.num_classes], dtype=np.float64)).astype(np.int64)
    owner = np.full(ids.shape[:2], -1, dtype=np.int64)
    for channel in range(PANNUKE.num_classes - 1, -1, -1):  # lower channels written last: they win overlaps
        owner[ids[..., channel] > 0] = channel
    fg = owner >= 0
    picked = np.take_along_axis(ids, np.maximum(owner, 0)[..., None], axis=2)[..., 0]
    key = owner * (int(ids.max(initial=0)) + 1) + picked
    keys, inverse = np.unique(key[fg], return_inverse=True)
    labels = np.zeros(owner.shape, dtype=np.int64)
    labels[fg] = inverse + 1
    classes = keys // (int(ids.max(initial=0)) + 1) + 1
    return labels, np.arange(1, len(keys) + 1, dtype=np.int64), classes.astype(np.int64)


def read_pannuke_sample(path: Path, ref: SampleRef) -> LabelledImage:
    """Decode one image of a memory-mapped fold (only its rows are read)."""
    images, masks, _ = open_fold(fold_dirs(path)[ref.subset])
    pixels = np.asarray(images[ref.index], dtype=np.float64)
    if not np.isfinite(pixels).all() or pixels.min(initial=0) < 0 or pixels.max(initial=0) > 255:
        raise InvalidInputError(
            f"PanNuke {ref.name}: pixel values out of range",
            expected="RGB values in 0..255",
            found=f"values in [{np.nanmin(pixels)}, {np.nanmax(pixels)}]",
            fix="use the images.npy of the release",
        )
    image = np.rint(pixels).astype(np.uint8)
    labels, present, classes = instance_map(np.asarray(masks[ref.index]))
    return LabelledImage(ref, image, labels, present, classes)
