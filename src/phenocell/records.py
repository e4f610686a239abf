"""Shared records: what readers, building blocks, the converters and the card pass to each other.

A neutral module with no dependency on any layer above the core, so that every layer can import it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phenocell.errors import CorruptInputError, ResourceLimitError


@dataclass(frozen=True)
class Patient:
    """Metadata of one patient."""

    patient: str
    tumor_type: str
    stage: int  # UICC stage group 1..4 (from p_TNM)
    group: str  # "1" CLR / "2" DII (or the table's own value)
    msi: str | None = None  # "MSI" / "MSS" when the table has an MSI column
    stage_group: str = ""  # the stage group with its sub-stage, e.g. "IIIB"


@dataclass
class FovSummary:
    """What one FoV contributed: its shard and its sha256, tile count, cells per class id (-1 = ignored)."""

    fov: str
    shard: str
    sha256: str
    tiles: int
    cells_per_class: dict[int, int]
    num_bytes: int = 0  # shard file size
    parts: dict[str, str] = field(default_factory=dict)  # tile-level family -> this shard's split ("none")


@dataclass
class LazyImage:
    """A TIFF opened for windowed reads."""

    path: Path
    array: Any  # numpy-indexable by slices (readers.images.TiffPixels: decodes only the touched chunks)
    mpp: float

    @property
    def shape(self) -> tuple[int, ...]:
        """Array shape, (H, W) or (H, W, C)."""
        return tuple(int(s) for s in self.array.shape)

    def read(self, rows: slice, cols: slice) -> np.ndarray:
        """Decode one window; a damaged file raises :class:`CorruptInputError`."""
        try:
            return np.asarray(self.array[rows, cols])
        except Exception as err:  # codec errors have no common base class
            raise corrupt_image_error(self.path, err) from err


def corrupt_image_error(path: Path, err: Exception) -> CorruptInputError:
    """The typed error for an image file that cannot be decoded."""
    return CorruptInputError(
        f"cannot decode TIFF {path}",
        expected="a readable TIFF",
        found=f"{type(err).__name__}: {err}",
        fix="re-export the image; check the file is not truncated",
    )


def check_pixels(path: Path, what: str, shape: tuple[int, ...], max_pixels: int) -> None:
    """Raise :class:`ResourceLimitError` when the H x W of ``shape`` exceeds ``max_pixels``."""
    pixels = int(shape[0]) * int(shape[1]) if len(shape) >= 2 else 0
    if pixels > max_pixels:
        raise ResourceLimitError(
            f"{what} {path} is too large",
            expected=f"at most {max_pixels:,} pixels (--max-pixels)",
            found=f"{int(shape[0]):,} x {int(shape[1]):,} = {pixels:,} pixels declared in its header",
            fix="check the file (a damaged header can claim a huge size), crop it, or raise --max-pixels",
        )


@dataclass(frozen=True)
class SampleRef:
    """One image of a released nucleus dataset (Lizard, PanNuke, Arctique), before it is read.

    ``subset`` is the release's own partition of it (Lizard fold ``"1"``, PanNuke ``"fold2"``, Arctique
    ``"train"``); ``group`` its origin (Lizard source, PanNuke tissue type; ``""`` when none); ``index`` its
    position in the release (PanNuke row in its fold).
    """

    name: str
    subset: str
    group: str = ""
    index: int = 0


@dataclass
class LabelledImage:
    """One released image read into memory: RGB pixels, a label map and each label's class.

    ``instances`` holds one label per nucleus (0 = background, ids need not be contiguous); ``labels`` are
    the sorted non-zero labels and ``classes`` their profile class ids (1..K); ``names`` the release's own
    class name of each label where it has one (Arctique metadata), else empty.
    """

    ref: SampleRef
    image: np.ndarray
    instances: np.ndarray
    labels: np.ndarray
    classes: np.ndarray
    names: tuple[str, ...] = ()


#: How each kind of normalisation reads in the run's output, ``qc/normalisations.json`` and the card.
NORMALISATION_TEXT = {
    "spaces": "stripped surrounding spaces from {count} {column!r} value{s}",
    "case": "matched {count} {column!r} value{s} to their vocabulary ignoring case and spacing",
    "decimal": "dropped a trailing '.0' from {count} {column!r} id{s}",
}


@dataclass
class Normalised:
    """Input values of one column read other than as written, of one kind, with a count and an example."""

    column: str
    kind: str  # a key of NORMALISATION_TEXT
    count: int
    before: str
    after: str

    def message(self) -> str:
        """One line, e.g. ``stripped surrounding spaces from 12 'ClusterName' values (e.g. 'x ' → 'x')``."""
        text = NORMALISATION_TEXT[self.kind].format(
            count=self.count, column=self.column, s="s" * (self.count != 1)
        )
        return f"{text} (e.g. {self.before!r} → {self.after!r})"


@dataclass
class NormalisationLog:
    """Every normalisation the readers applied, one entry per (column, kind), in the order first seen."""

    entries: dict[tuple[str, str], Normalised] = field(default_factory=dict)

    def note(self, column: str, kind: str, before: Any, after: Any) -> None:
        """Count the values of ``before`` that differ from ``after`` (same length) as ``kind``."""
        old = np.asarray([str(v) for v in before], dtype=object)
        new = np.asarray([str(v) for v in after], dtype=object)
        changed = np.flatnonzero(old != new)
        if not len(changed):
            return
        entry = self.entries.get((column, kind))
        if entry is None:
            first = int(changed[0])
            self.entries[(column, kind)] = Normalised(column, kind, len(changed), old[first], new[first])
        else:
            entry.count += len(changed)

    def lines(self) -> list[str]:
        """One message per entry."""
        return [e.message() for e in self.entries.values()]

    def to_json(self) -> list[dict[str, Any]]:
        """The entries as ``qc/normalisations.json`` stores them (with their message)."""
        return [{**vars(e), "message": e.message()} for e in self.entries.values()]
