"""The Source contract: what one input format's module provides, and all that the driver asks of it.

Every input format is one module in :mod:`phenocell.converters` holding one class that satisfies
:class:`Source`, exported as the module's ``SOURCE``; :data:`phenocell.converters.FORMATS` maps the format's
name to the module. A source:

1. recognises its input (``recognise(path)``: ``--source auto`` tries each format in table order);
2. has its own options (``options_type``, a dataclass of :mod:`phenocell.converters.options` holding only
   what it reads; the CLI refuses a flag the source does not read);
3. reads and cross-checks its inputs when opened (``open(path, options)``), before anything is written;
4. lists its units (``units()``: FoVs, images, or shards of images), each converted on its own, perhaps in
   another process (``for_unit(unit)`` is the small picklable copy a worker gets), by ``tiles(unit, stats)``:
   the unit's rows in the dataset schema, counting its cells and QC numbers into ``stats`` as they go;
5. states its split families (``splits()``), dataset profile (``profile``) and manifest members
   (``manifest_parts()``), and whatever it writes beside them (``write_extras(folder)``).

:mod:`phenocell.converters.driver` does the rest for every source alike: the output lock and staging
directory, one task per unit on the local pool or Dask, shard writing, QC counts, tile-level split parts,
``splits.json``, ``manifest.json`` and the card. A source whose units are panoptic FoVs (H&E, instance map,
labelled cells) also satisfies :class:`FovSource`, and ``qc`` / ``export geojson`` run on it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

from phenocell.manifest import Manifest
from phenocell.panoptic.labelling import FovCells
from phenocell.profiles import DatasetProfile
from phenocell.records import FovSummary, LazyImage, NormalisationLog
from phenocell.schema import mask_to_record
from phenocell.splits import Splits


@dataclass
class UnitStats:
    """What one unit contributed beyond its rows: cells per class (counted here only) and QC numbers."""

    cells: dict[int, int] = field(default_factory=dict)
    qc: dict[str, Any] = field(default_factory=dict)

    def add_cells(self, class_ids: Iterable[int]) -> None:
        """Count cells by class id (a mask id, 255 = ignore, or a record label, -1 = ignore)."""
        for cid in class_ids:
            key = mask_to_record(int(cid))
            self.cells[key] = self.cells.get(key, 0) + 1

    def cells_per_class(self) -> dict[int, int]:
        """Cells per record label (-1 = ignored), sorted by label."""
        return dict(sorted(self.cells.items()))


def count_cells(rows: Iterable[dict[str, Any]]) -> dict[int, int]:
    """Cells per class of tile rows, each cell once (a cell cut between two shards counts in each)."""
    labels = {cell["cell_id"]: int(cell["label"]) for row in rows for cell in row["cells"]}
    stats = UnitStats()
    stats.add_cells(labels.values())
    return stats.cells_per_class()


@dataclass
class ManifestParts:
    """What a source tells the manifest beyond its shards (see :class:`phenocell.manifest.Manifest`)."""

    options: dict[str, Any]
    inputs: dict[str, str]
    markers: list[str]
    class_map: dict[str, list[str]]
    profile: str | None = None
    external_inputs: dict[str, str] | None = None

    def manifest(self, shards: list[FovSummary]) -> Manifest:
        """The manifest of a conversion: these parts and the written ``shards``."""
        return Manifest(shards=shards, **{f.name: getattr(self, f.name) for f in dataclasses.fields(self)})


@runtime_checkable
class Source(Protocol):
    """One input format, opened on one input (see the module docstring for the contract)."""

    #: The format's name: the ``--source`` value and its key in :data:`phenocell.converters.FORMATS`.
    name: ClassVar[str]
    #: The dataclass of its options (:mod:`phenocell.converters.options`).
    options_type: ClassVar[type]
    #: The word for its units in progress bars: "FoVs", "images", "shards".
    unit_word: ClassVar[str]
    raw: Path
    options: Any
    profile: DatasetProfile

    @classmethod
    def recognise(cls, path: Path) -> bool:
        """Whether ``path`` looks like this format's input (cheap: file names only)."""
        ...

    @classmethod
    def open(cls, path: Path, options: Any) -> Source:
        """Read and cross-check the input's tables and file lists; no image is decoded, nothing written."""
        ...

    def units(self) -> list[str]:
        """The unit names, sorted; each becomes one shard (or one per tile-level split part)."""
        ...

    def for_unit(self, unit: str) -> Source:
        """This source cut down to one unit: the picklable copy a worker gets."""
        ...

    def tiles(self, unit: str, stats: UnitStats) -> Iterator[dict[str, Any]]:
        """The unit's rows in the dataset schema, one tile at a time; cells and QC counted into ``stats``."""
        ...

    def splits(self) -> Splits:
        """The split families over the units (validated)."""
        ...

    def manifest_parts(self) -> ManifestParts:
        """The manifest's options, input hashes, markers, class merges and profile name.

        Read-only and independent of the units' conversion: the driver calls it in a thread while the units
        convert (hashing the inputs meanwhile), so it must not depend on, nor change, what ``tiles`` does.
        """
        ...

    def write_extras(self, folder: Path) -> None:
        """Write what the source adds into ``folder/qc`` (``excluded.csv``, ``normalisations.json``)."""
        ...


@dataclass
class PanopticFov:
    """One FoV opened for reading: its H&E, label image, labelled cells, and outline statistics."""

    he: LazyImage
    mask: LazyImage
    cells: FovCells
    outlines: dict[str, int]  # contested_pixels, repaired_polygons (0 for label TIFFs)
    semantic: LazyImage | None = None  # per-pixel classes on the mask grid; None: painted from the cells


@runtime_checkable
class FovSource(Source, Protocol):
    """A source whose units are panoptic FoVs: ``qc`` and ``export geojson`` read them too."""

    normalised: NormalisationLog  # input values read other than as written (QC page, GeoJSON manifest)

    def open_fov(self, unit: str) -> PanopticFov:
        """Open one FoV's H&E and segmentation, check they align, and label its cells."""
        ...
