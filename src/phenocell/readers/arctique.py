"""Reader of the synthetic Arctique release (512x512 colon tiles, 5 nucleus classes).

Two layouts are read, each either at the top of ``RAW`` or under ``RAW/train`` and ``RAW/test``:

- the PhenoBench authors' flat layout: ``images/img_<i>.png``, ``masks/semantic/<i>.png``,
  ``masks/instance/<i>.png``;
- the generator's layout: ``images/img_<i>.png``, ``masks/semantic_indexing/<i>.tif``,
  ``masks/instance_indexing/<i>.tif`` and optionally ``metadata/metadata_<i>.json`` (per cell ``ID``,
  ``ID_Type``, ``Type``), against which the classes are checked.

Semantic values: 0 background, 1 Epithelial, 2 Plasma cells, 3 Lymphocytes, 4 Eosinophils, 5 Fibroblasts.
Images and masks share their (H, W) axes: nothing is transposed (the authors' reader transposes the image
against its masks; a mask whose shape is the image's transposed is reported, not silently fixed).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import tifffile
from PIL import Image

from phenocell.constants import ARCTIQUE_SUBSETS
from phenocell.errors import CorruptInputError, InvalidInputError, MissingInputError
from phenocell.profiles import ARCTIQUE
from phenocell.records import LabelledImage, SampleRef

SUBSETS = ARCTIQUE_SUBSETS
MASK_LAYOUTS = (("semantic", "instance", ".png"), ("semantic_indexing", "instance_indexing", ".tif"))
_IMAGE = re.compile(r"^img_(\d+)\.png$")


def _roots(raw: Path) -> dict[str, Path]:
    split = {s: raw / s for s in SUBSETS if (raw / s / "images").is_dir()}
    if split:
        return split
    if (raw / "images").is_dir():
        return {"all": raw}
    raise MissingInputError(
        "no Arctique images",
        expected=f"{raw}/images/img_<i>.png or {raw}/train/images/ and {raw}/test/images/",
        found="neither folder",
        fix="point RAW at the unpacked Arctique release",
    )


def _mask_paths(root: Path, index: str) -> tuple[Path, Path]:
    for semantic, instance, suffix in MASK_LAYOUTS:
        pair = (
            root / "masks" / semantic / f"{index}{suffix}",
            root / "masks" / instance / f"{index}{suffix}",
        )
        if pair[0].is_file() and pair[1].is_file():
            return pair
    raise MissingInputError(
        f"Arctique image {root.name}/img_{index}.png lacks its masks",
        expected="masks/semantic/<i>.png + masks/instance/<i>.png, or masks/semantic_indexing/<i>.tif + "
        "masks/instance_indexing/<i>.tif",
        found="no complete pair",
        fix="unpack the masks beside the images",
    )


def read_arctique(path: Path) -> dict[str, SampleRef]:
    """Every image, named ``<subset>_<i>`` (``subset`` = ``train`` / ``test``, or ``all`` when flat)."""
    refs = {}
    for subset, root in _roots(Path(path)).items():
        for image in sorted((root / "images").iterdir()):
            match = _IMAGE.match(image.name)
            if match:
                _mask_paths(root, match.group(1))
                index = int(match.group(1))
                refs[f"{subset}_{index:05d}"] = SampleRef(f"{subset}_{index:05d}", subset, "", index)
    return dict(sorted(refs.items()))


def _read(path: Path) -> np.ndarray:
    try:
        if path.suffix == ".tif":
            return np.asarray(tifffile.imread(path))
        return np.asarray(Image.open(path))
    except Exception as err:  # PIL and tifffile raise assorted errors on damaged files
        raise CorruptInputError(
            f"cannot decode {path}",
            expected="a readable image",
            found=f"{type(err).__name__}: {err}",
            fix="re-download the Arctique release",
        ) from err


def _metadata(root: Path, index: int) -> list[dict[str, Any]] | None:
    path = root / "metadata" / f"metadata_{index}.json"
    if not path.is_file():
        return None
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise CorruptInputError(
            f"{path} is not valid JSON", expected="a JSON document", found=str(err), fix="re-download it"
        ) from err
    cells = doc if isinstance(doc, list) else next((v for v in doc.values() if isinstance(v, list)), [])
    return [c for c in cells if isinstance(c, dict) and "ID" in c and "ID_Type" in c]


def _classes(semantic: np.ndarray, instances: np.ndarray, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Each instance's class: the one semantic value under all its pixels (mixed values are an error)."""
    fg = instances > 0
    pairs = np.unique(np.stack([instances[fg], semantic[fg]]), axis=1)
    labels, counts = np.unique(pairs[0], return_counts=True)
    if (counts > 1).any() or not np.isin(pairs[1], range(1, ARCTIQUE.num_classes + 1)).all():
        raise InvalidInputError(
            f"Arctique {name}: instance and semantic masks disagree",
            expected=f"one semantic class in 1..{ARCTIQUE.num_classes} under every instance",
            found=f"instances {labels[counts > 1][:5].tolist()} mixed; values {np.unique(pairs[1]).tolist()}",
            fix="pair each instance mask with its own semantic mask",
        )
    return labels.astype(np.int64), pairs[1].astype(np.int64)


def read_arctique_sample(path: Path, ref: SampleRef) -> LabelledImage:
    """Read one image with its masks; classes are checked against the metadata where it exists."""
    root = Path(path) if ref.subset == "all" else Path(path) / ref.subset
    image = _read(root / "images" / f"img_{ref.index}.png")
    semantic_path, instance_path = _mask_paths(root, str(ref.index))
    semantic, instances = _read(semantic_path), _read(instance_path)
    if image.ndim != 3 or image.shape[2] < 3 or {semantic.shape, instances.shape} != {image.shape[:2]}:
        raise InvalidInputError(
            f"Arctique {ref.name}: image and masks do not align",
            expected=f"RGB(A) image and two masks of shape {image.shape[:2]}",
            found=f"image {image.shape}, semantic {semantic.shape}, instance {instances.shape}",
            fix="pair each image with its own masks; do not transpose them",
        )
    labels, classes = _classes(semantic.astype(np.int64), instances.astype(np.int64), ref.name)
    cells = _metadata(root, ref.index)
    names: tuple[str, ...] = ()
    if cells is not None:
        by_id = {int(c["ID"]): c for c in cells}
        wrong = [
            int(v)
            for v, k in zip(labels, classes, strict=True)
            if int(by_id.get(int(v), {}).get("ID_Type", k)) != k
        ]
        if wrong:
            raise InvalidInputError(
                f"Arctique {ref.name}: semantic mask contradicts metadata",
                expected="each instance's semantic value equal to its metadata ID_Type",
                found=f"instances {wrong[:5]} differ",
                fix="check the class ids of this release against its metadata",
            )
        names = tuple(str(by_id.get(int(v), {}).get("Type", "")) for v in labels)
    return LabelledImage(
        ref,
        np.ascontiguousarray(image[..., :3]).astype(np.uint8),
        instances.astype(np.int64),
        labels,
        classes,
        names,
    )
