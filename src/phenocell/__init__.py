"""PhenoCell: CODEX exports → panoptic H&E cell-phenotyping dataset, and its reference benchmark.

Layers (lowest first); a module imports only from its own layer or below, and no module imports one that
imports it back (``tests/test_layers.py``):

0. core: ``errors``, ``constants``, ``profiles``, ``schema``, ``records`` (``Patient``, ``FovSummary``, ...),
   ``manifest`` (a dataset's ``manifest.json``), ``paths`` (region names as identifiers, outputs kept inside
   their folder)
1. ``readers``: one leaf module per input format (CODEX cell table, label/H&E TIFF, polygons, patient tables)
2. blocks: ``panoptic`` (class merges, panoptic labelling, tile layouts, tiling), ``splits``,
   ``storage`` (parquet shard writer, atomic output directories, the authors' LMDB format),
   ``loaders`` (what reads a published dataset: the torch tile dataset the benchmark streams, its decoded
   tile store, the export to the authors' LMDB layout)
3. ``cards``: dataset card, QC page, publishing and verification of a finished dataset directory
4. ``converters`` (one module per input format, each a ``Source``; the driver that runs any of them; the
   per-FoV ``qc`` and ``export geojson``), ``synthetic`` (seeded raw exports), ``benchmark``
5. CLI: ``cli``, ``cli_options``, ``cli_raw_options``, ``cli_errors``, ``cli_interop``, ``cli_cells``,
   ``benchmark.cli``, ``demo``
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("phenocell")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
