"""The one conversion driver: any :class:`~phenocell.converters.base.Source` → a dataset directory.

Output layout::

    OUT/
      README.md                  dataset card (YAML configs, prose, figures)
      data/<unit>-<sha>.parquet  one shard per unit, named by its content hash (tile-level split files
                                 cut a FoV into one shard per part)
      splits.json                unit → split per family, with seed and rules
      manifest.json              version, options, input and shard sha256, row and cell counts
      qc/                        per-unit QC counts, excluded units with reasons (and normalised values)

The steps, the same for every source: refuse an output overlapping the input; take the output's lock and a
staging directory (:func:`phenocell.storage.atomic.atomic_directory`: nothing is left at OUT on failure);
open the source (inputs read and checked); draw or read its splits; convert one unit per task, here, on the
local pool or on Dask (:mod:`phenocell.converters.workers`), hashing the inputs for the manifest meanwhile;
cut FoVs named by tile-level split files into parts; write ``splits.json``, ``manifest.json``, the QC files
and the card. ``qc`` and ``export geojson``
use :func:`staged` and :func:`~phenocell.converters.workers.run_units` as well.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from tqdm.auto import tqdm

from phenocell.converters import FORMATS, detect, source_type
from phenocell.converters.base import Source, UnitStats
from phenocell.converters.options import RunOptions
from phenocell.converters.outputs import write_metadata_files
from phenocell.converters.tile_parts import split_tile_families
from phenocell.converters.workers import run_units, warm_up
from phenocell.errors import InvalidOptionError
from phenocell.paths import check_out_vs_raw
from phenocell.records import FovSummary
from phenocell.schema import features_for
from phenocell.storage.atomic import atomic_directory
from phenocell.storage.writer import write_named_shard


def source_options(kind: Any, options: Any) -> Any:
    """``options`` checked to be ``kind``'s options dataclass (its defaults when ``None``)."""
    if options is None:
        return kind.options_type()
    if not isinstance(options, kind.options_type):
        raise InvalidOptionError(
            f"options of the wrong type for --source {kind.name}",
            expected=f"{kind.options_type.__name__} (the options {kind.name} reads)",
            found=type(options).__name__,
            fix=f"pass {kind.options_type.__name__}(...), or the --source these options belong to",
        )
    return options


def fov_source_type(raw: Path, source: str, command: str) -> Any:
    """The Source class for ``command`` (``qc``, ``export geojson``): one whose units are panoptic FoVs.

    Raises:
        InvalidOptionError: the input's format has no FoVs to review (a released dataset, an LMDB release).

    """
    kind = source_type(detect(Path(raw), source))
    if not hasattr(kind, "open_fov"):
        fov_sources = [n for n in FORMATS if hasattr(source_type(n), "open_fov")]
        raise InvalidOptionError(
            f"--source {kind.name} is read by phenocell-convert only",
            expected=f"an input {command} reads as FoVs: {', '.join(fov_sources)}",
            found=f"--source {kind.name}" + (" (detected)" if source == "auto" else ""),
            fix=f"run phenocell-convert RAW --source {kind.name}, then use the converted dataset",
        )
    return kind


@contextmanager
def staged(raw: Path, out: Path, options: RunOptions, *modules: str) -> Iterator[Path]:
    """The staging directory of ``out`` under its lock; local workers start importing ``modules`` meanwhile.

    Raises:
        UnsafePathError: ``out`` is, lies inside or contains ``raw`` (refused before any work).
        OutputLockedError / OutputExistsError: another run holds ``out``, or it may not be replaced.

    """
    check_out_vs_raw(Path(raw), Path(out))
    warm_up(options.execution, *modules)
    with atomic_directory(Path(out), overwrite=options.overwrite) as tmp:
        yield tmp


def convert_unit(source: Source, unit: str, *, out: Path) -> tuple[FovSummary, dict[str, Any]]:
    """Write one unit's shard into ``out/data``; its summary and QC counts (a worker's task)."""
    stats = UnitStats()
    rows = source.tiles(unit, stats)
    shard, digest, count = write_named_shard(out, unit, rows, features=features_for(source.profile))
    return FovSummary(unit, shard, digest, count, stats.cells_per_class()), stats.qc


def convert_units(source: Source, tmp: Path) -> tuple[dict[str, FovSummary], dict[str, dict[str, Any]]]:
    """Convert every unit of ``source`` into ``tmp``; summaries and QC counts by unit, sorted."""
    (tmp / "data").mkdir()
    (tmp / "qc").mkdir()
    units = source.units()
    bar = tqdm(total=len(units), desc=source.unit_word, unit="unit", disable=not source.options.progress)
    fovs, qc, cells = {}, {}, 0
    # absolute paths: a Dask worker may run in another directory (or on another machine, shared storage)
    task = functools.partial(convert_unit, out=tmp.absolute())
    for unit, (summary, stats) in run_units(task, source, source.options.execution):  # in finishing order
        fovs[unit], qc[unit] = summary, stats
        cells += sum(summary.cells_per_class.values())
        bar.update()
        bar.set_postfix(cells=cells, tiles=sum(f.tiles for f in fovs.values()))
    bar.close()
    return dict(sorted(fovs.items())), dict(sorted(qc.items()))


def convert(raw_dir: Path, out: Path, *, source: str = "auto", options: Any = None) -> Path:
    """Convert ``raw_dir``, read as ``source`` (``auto``: detected), into a dataset directory at ``out``.

    Args:
        raw_dir: the input (layout in the source's module, :data:`phenocell.converters.FORMATS`).
        out: the dataset directory to create (atomically).
        source: a format name, or ``auto``.
        options: the source's options dataclass (``Source.options_type``); its defaults when ``None``.

    Returns:
        ``out``.

    Raises:
        PhenoCellError: any bad input or option, ``out`` overlapping ``raw_dir`` (refused before any work),
            or another run writing ``out``; nothing is left at ``out`` then.

    """
    kind = source_type(detect(Path(raw_dir), source))
    options = source_options(kind, options)
    with staged(Path(raw_dir), Path(out), options, __name__, kind.__module__) as tmp:
        opened = kind.open(Path(raw_dir).absolute(), options)
        splits = opened.splits()
        # the input hashes are read beside the units (hashlib and file reads release the GIL): with workers
        # the driver would otherwise sit idle, then hash every input after the last unit
        with ThreadPoolExecutor(max_workers=1, thread_name_prefix="phenocell-inputs") as beside:
            parts_job = beside.submit(opened.manifest_parts)
            fovs, qc = convert_units(opened, tmp)
            parts = parts_job.result()
        shards = split_tile_families(tmp, fovs, splits.tiles)
        write_metadata_files(tmp, splits, parts.manifest(shards), qc)
        opened.write_extras(tmp)
        from phenocell.cards import write_card  # here: unit workers import this module, never the card

        write_card(tmp)
    return Path(out)
