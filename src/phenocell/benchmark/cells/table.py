"""Per-cell rows as an AnnData (``.h5ad``), ready for scanpy / squidpy, and back.

Layout of the file ``cells embed`` writes (``n`` cells, ``m`` markers):

- ``obsm["X_<encoder>"]`` (n, C) float32: the embedding (``/`` in the key becomes ``-``, e.g.
  ``X_baseline-random-vit-b16``); ``uns["phenocell"]["embedding"]`` names the key.
- ``obs`` (index: the global cell id): ``cell_id``, ``fov``, ``patient``, ``split``, ``class_id`` (-1:
  ignored cell), ``class_name``, ``granular_name``, ``centroid_x`` / ``centroid_y`` (FoV pixels), ``area``
  (pixels, each FoV pixel once), ``tumor_type``, ``stage``, ``group``, ``mpp``.
- ``X`` is empty; ``var`` lists the markers and ``layers["markers"]`` (n, m) holds their intensities
  (``cells.markers``; NaN where a cell has none) when the dataset has markers, else ``var`` is empty.
- ``uns["phenocell"]``: encoder, weights id, features, pooling, tiling, µm/px, dataset, family, classes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from phenocell.errors import CorruptInputError, MissingInputError, require_file, require_package
from phenocell.storage.atomic import atomic_file

TUMOR_TYPES = ("adenocarcinoma", "mucinous")
IGNORE_NAME = "ignore"


def import_anndata() -> Any:
    """``anndata``, or a typed error naming the ``cells`` extra."""
    require_package("anndata", "cells", "per-cell embeddings (.h5ad)")
    import anndata

    return anndata


def embedding_key(encoder: str) -> str:
    """The ``obsm`` key of an encoder's embedding."""
    return "X_" + encoder.replace("/", "-")


@dataclass
class CellRows:
    """Output rows gathered FoV by FoV: vectors, ``obs`` columns and marker intensities."""

    vectors: list[np.ndarray] = field(default_factory=list)
    obs: dict[str, list[Any]] = field(default_factory=dict)
    markers: list[np.ndarray] = field(default_factory=list)

    def add(self, vectors: np.ndarray, obs: dict[str, list[Any]], markers: np.ndarray) -> None:
        """Append one FoV's rows."""
        if not len(vectors):
            return
        self.vectors.append(np.asarray(vectors, dtype=np.float32))
        for name, values in obs.items():
            self.obs.setdefault(name, []).extend(values)
        self.markers.append(markers)

    def split_counts(self) -> dict[str, int]:
        """Rows per split."""
        splits = self.obs.get("split", [])
        return {s: splits.count(s) for s in dict.fromkeys(splits)}

    def marker_table(self) -> np.ndarray:
        """(n, m) float32 marker intensities, padded with NaN to the widest FoV."""
        width = max((m.shape[1] for m in self.markers), default=0)
        parts = [np.pad(m, ((0, 0), (0, width - m.shape[1])), constant_values=np.nan) for m in self.markers]
        return np.concatenate(parts).astype(np.float32) if parts else np.zeros((0, 0), np.float32)


def obs_frame(rows: CellRows, class_names: list[str]) -> Any:
    """The ``obs`` DataFrame: typed columns, categories for the strings, the cell id as index."""
    import pandas as pd

    obs = pd.DataFrame(rows.obs)
    obs["class_id"] = obs["class_id"].astype(np.int64)
    names = [class_names[c] if 0 <= c < len(class_names) else IGNORE_NAME for c in obs["class_id"]]
    obs.insert(obs.columns.get_loc("class_id") + 1, "class_name", names)
    obs["tumor_type"] = [
        TUMOR_TYPES[int(t)] if t is not None and 0 <= int(t) < len(TUMOR_TYPES) else ""
        for t in obs["tumor_type"]
    ]
    obs["stage"] = [int(s) if s is not None else -1 for s in obs["stage"]]
    for name in ("fov", "patient", "split", "class_name", "granular_name", "tumor_type", "group"):
        obs[name] = obs[name].fillna("").astype(str).astype("category")
    for name in ("centroid_x", "centroid_y", "mpp"):
        obs[name] = obs[name].astype(np.float32)
    obs["area"] = obs["area"].astype(np.int64)
    index = obs["cell_id"].astype(str)
    if not index.is_unique:  # ids are global in converted datasets; keep rows apart if a dataset's are not
        index = obs["fov"].astype(str) + ":" + index
    obs.index = pd.Index(index.to_numpy(), dtype=str, name=None)
    return obs


def write_h5ad(rows: CellRows, uns: dict[str, Any], out: Path, *, marker_names: list[str]) -> dict[str, Any]:
    """Write the AnnData of ``rows`` to ``out`` (layout in the module docstring); returns its ``uns``."""
    anndata = import_anndata()
    import pandas as pd

    key = embedding_key(uns["encoder"])
    vectors = np.concatenate(rows.vectors) if rows.vectors else np.zeros((0, 0), np.float32)
    obs = obs_frame(rows, uns["class_names"]) if rows.vectors else pd.DataFrame()
    markers = rows.marker_table()
    names = (
        marker_names
        if len(marker_names) == markers.shape[1]
        else [f"marker_{k}" for k in range(markers.shape[1])]
    )
    var = pd.DataFrame(index=pd.Index(names, dtype=str))
    layers = {"markers": markers} if markers.shape[1] else {}
    meta = {**uns, "embedding": key, "mpp": float(obs["mpp"].iloc[0]) if len(obs) else uns["mpp"]}
    adata = anndata.AnnData(obs=obs, var=var, obsm={key: vectors}, layers=layers)
    adata.uns["phenocell"] = json.loads(json.dumps(meta, default=str))
    out.parent.mkdir(parents=True, exist_ok=True)
    with atomic_file(out) as partial:  # whole or not at all
        adata.write_h5ad(partial)
    return dict(adata.uns["phenocell"])


def _plain(value: Any) -> Any:
    """``uns`` as read back (numpy arrays and scalars) → plain JSON-like Python values."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, np.ndarray | np.generic):
        return value.tolist()
    return value


def read_cells(path: Path, embedding: str | None = None) -> tuple[Any, np.ndarray, dict[str, Any]]:
    """An ``.h5ad`` from ``cells embed``: the AnnData, its embedding (n, C) and ``uns["phenocell"]``."""
    anndata = import_anndata()
    require_file(Path(path), "per-cell AnnData (.h5ad)", "write one with `phenocell cells embed`")
    try:
        adata = anndata.read_h5ad(path)
    except Exception as err:  # h5py / anndata raise many types for a damaged or foreign file
        raise CorruptInputError(
            f"cannot read {path} as AnnData",
            expected="an .h5ad file written by `phenocell cells embed`",
            found=f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}",
            fix="re-run `phenocell cells embed`",
        ) from err
    meta = _plain(dict(adata.uns.get("phenocell", {})))
    key = embedding or meta.get("embedding")
    if key not in adata.obsm or not {"split", "class_id"} <= set(adata.obs.columns):
        raise MissingInputError(
            f"{path} lacks the embedding or the obs columns `cells classify` reads",
            expected=f"obsm[{key!r}] and obs columns split, class_id",
            found=f"obsm keys {list(adata.obsm.keys())}, obs columns {list(adata.obs.columns)[:8]}",
            fix="pass --embedding KEY, or re-run `phenocell cells embed`",
        )
    return adata, np.asarray(adata.obsm[key], dtype=np.float32), meta
