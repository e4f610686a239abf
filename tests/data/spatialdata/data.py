"""Seeded tiny SpatialData store the SpatialData tests convert (style rule 6), built with spatialdata's API.

A synthetic CODEX export (:mod:`phenocell.synthetic`: label masks, H&E at twice their resolution, cell table,
``patients.csv``) repackaged as a store: per FoV a labels element ``<fov>`` and an image ``<fov>_he`` in the
coordinate system ``<fov>`` (µm), the labels scaled by the masks' µm/px and the H&E by half of it (a 2x scale
between them), and one table annotating every labels element (region_key ``region``, instance_key
``cell_id``) with each cell's type, its patient (``patients``) and three marker intensities as ``X``; the
export's ``patients.csv`` is copied into the store, where ``--source spatialdata`` looks for it by default.

Run ``python tests/data/spatialdata/data.py OUT`` to look at one; the tests call :func:`make_store`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import tifffile

from phenocell.constants import CELL_TABLE_FILE, PATIENT_TABLE_FILE
from phenocell.synthetic import SynthOptions, synthesize

#: 4 FoVs of 64x80 mask px (H&E 128x160), 4 patients: every split family is non-empty.
TINY = SynthOptions(fovs=4, patients=4, seed=0, mask_shape=(64, 80), scale=2)
MARKERS = ("CD4 - T helper cells:Cyc_6_ch_3", "CD8 - cytotoxic T cells:Cyc_3_ch_2", "HOECHST1:Cyc_1_ch_1")


def make_codex(out: Path) -> Path:
    """The synthetic CODEX export the store is made from."""
    return synthesize(out, options=TINY, progress=False)


def fov_arrays(codex: Path) -> dict[str, tuple[np.ndarray, np.ndarray, float]]:
    """``{fov: (labels, he, mask µm/px)}`` of the export's TIFFs."""
    out = {}
    for mask_file in sorted((codex / "masks").glob("*.tif")):
        with tifffile.TiffFile(mask_file) as tif:
            labels = tif.asarray()
            num, den = tif.pages[0].tags["XResolution"].value
        out[mask_file.stem] = (labels, tifffile.imread(codex / "he" / mask_file.name), 1e4 * den / num)
    return out


def cell_frame(codex: Path, cell_type_column: str = "cell_type") -> pd.DataFrame:
    """The table's obs and markers: region, cell_id, the cell type (under ``cell_type_column``), patients."""
    table = pd.read_csv(codex / CELL_TABLE_FILE)
    frame = pd.DataFrame(
        {
            "region": table["File Name"].astype(str),
            "cell_id": table["Index in File"].astype(np.int64),
            cell_type_column: table["ClusterName"].astype(str),
            "patients": table["patients"].astype(str),
        }
    )
    return pd.concat([frame, table[list(MARKERS)]], axis=1)


def make_store(
    codex: Path,
    store: Path,
    *,
    table: bool = True,
    cell_type_column: str = "cell_type",
) -> Path:
    """Write the store of ``codex`` to ``store`` (``table=False``: without its table)."""
    import anndata as ad
    import spatialdata as sd
    from spatialdata.models import Image2DModel, Labels2DModel, TableModel
    from spatialdata.transformations import Scale

    labels, images = {}, {}
    for fov, (mask, he, mpp) in fov_arrays(codex).items():
        labels[fov] = Labels2DModel.parse(
            mask, dims=("y", "x"), transformations={fov: Scale([mpp, mpp], ("y", "x"))}
        )
        half = Scale([mpp / 2, mpp / 2], ("y", "x"))
        images[f"{fov}_he"] = Image2DModel.parse(
            he.transpose(2, 0, 1), dims=("c", "y", "x"), transformations={fov: half}
        )
    tables = {}
    if table:
        frame = cell_frame(codex, cell_type_column)
        obs = frame.drop(columns=list(MARKERS)).assign(region=lambda f: pd.Categorical(f["region"]))
        obs.index = obs.index.astype(str)
        adata = ad.AnnData(X=frame[list(MARKERS)].to_numpy(np.float32), obs=obs)
        adata.var_names = list(MARKERS)
        tables["table"] = TableModel.parse(
            adata, region=sorted(labels), region_key="region", instance_key="cell_id"
        )
    sd.SpatialData(images=images, labels=labels, tables=tables).write(store)
    shutil.copy(codex / PATIENT_TABLE_FILE, store / PATIENT_TABLE_FILE)
    return store


if __name__ == "__main__":
    target = Path(sys.argv[1])
    make_store(make_codex(target / "codex"), target / "store.zarr")
