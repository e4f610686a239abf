"""Write a seeded synthetic raw CODEX export in the default raw layout (see :mod:`phenocell.constants`).

What it contains, on purpose: the real cluster names (incl. ``dirt`` and ``undefined``) with the real class
imbalance; uint16 and uint32 label TIFFs (uint32 ones with label ids above 65535); touching cells; H&E at
``scale`` x finer pixels than the masks; ~3% of mask cells missing from the table and a few table rows
whose label is in no mask; several patients with tumor type, pTNM stage and group.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import tifffile
from tqdm.auto import tqdm

from phenocell.constants import (
    CELL_TABLE_FILE,
    HE_DIR,
    MASK_DIR,
    PATIENT_TABLE_FILE,
    POLYGON_DIR,
)
from phenocell.panoptic.class_merges import load_class_map
from phenocell.paths import ensure_empty_output_dir
from phenocell.readers.polygons import label_polygons, write_geojson
from phenocell.schema import CLASS_NAMES, IGNORE_INDEX
from phenocell.synthetic.appearance import MARKERS
from phenocell.synthetic.cohort import patient_table, region_name
from phenocell.synthetic.options import SynthOptions
from phenocell.synthetic.tissue import draw_index_mask, render_he, sample_cells

MISSING_FROM_TABLE = 0.03
ORPHAN_ROWS = 0.005
UINT32_LABEL_OFFSET = 70_000


#: The authors' FoV size (mask pixels at 0.377 µm/px): ``SynthOptions(mask_shape=PHENOBENCH_FOV, scale=1)``.
PHENOBENCH_FOV = (1440, 1920)
#: Column names of the release's patient spreadsheet (Table S1 style) written for ``patient_format="xlsx"``.
RELEASE_PATIENT_COLUMNS = {
    "patients": "Patient",
    "groups": "Group",
    "tumor_type": "Histology",
    "p_TNM": "p_TNM",
    "msi": "MSI_PCR",
}


def _stage_number(p_tnm: str) -> int:
    roman = p_tnm.rstrip("ABC")
    return {"I": 1, "II": 2, "III": 3, "IV": 4}[roman]


def release_patient_sheet(patients: pd.DataFrame) -> pd.DataFrame:
    """The patient table in the release's spreadsheet layout.

    Columns ``Patient``, ``Group`` (CLR / DII), ``Histology``, ``pT``, ``p_TNM``, ``MSI_PCR`` (MSI-H / MSS).
    """
    sheet = patients.rename(columns=RELEASE_PATIENT_COLUMNS)[list(RELEASE_PATIENT_COLUMNS.values())].copy()
    sheet["Group"] = sheet["Group"].map({"1": "CLR", "2": "DII"})
    sheet["Histology"] = sheet["Histology"].map(
        {"adenocarcinoma": "Adenocarcinoma", "mucinous": "Mucinous adenocarcinoma"}
    )
    sheet["MSI_PCR"] = sheet["MSI_PCR"].map({"MSI": "MSI-H", "MSS": "MSS"})
    sheet.insert(3, "pT", ["pT4" if v.startswith("IV") else "pT3" for v in sheet["p_TNM"]])
    return sheet


def _write_patients(raw: Path, patients: pd.DataFrame, options: SynthOptions) -> None:
    if options.p_tnm:
        groups = [options.p_tnm[i % len(options.p_tnm)] for i in range(len(patients))]
        patients["p_TNM"] = groups
        patients["stage"] = [_stage_number(g) for g in groups]
    else:
        patients["p_TNM"] = ["IVA" if s == 4 else "IIIB" for s in patients["stage"]]
    if options.patient_format == "xlsx":
        release_patient_sheet(patients).to_excel(raw / "patients.xlsx", index=False, sheet_name="patients")
    else:
        patients.drop(columns=["p_TNM"]).to_csv(raw / PATIENT_TABLE_FILE, index=False)


def _markers(rng: np.random.Generator, names: list[str]) -> dict[str, np.ndarray]:
    ids = load_class_map().ids
    classes = [CLASS_NAMES[ids[n]] if ids[n] != IGNORE_INDEX else "dirt" for n in names]
    out = {}
    for column, high in MARKERS:
        level = np.array([2.0 if c in high else 0.0 for c in classes])
        out[column] = np.exp(rng.normal(level, 0.5)).astype(np.float32)
    return out


def _write_tiff(path: Path, array: np.ndarray, mpp: float) -> None:
    res = 1e4 / mpp
    tifffile.imwrite(
        path,
        array,
        tile=(256, 256),
        compression="zlib",
        compressionargs={"level": 1},
        resolution=(res, res),
        resolutionunit="CENTIMETER",
        photometric="rgb" if array.ndim == 3 else None,
    )


def _fov(
    raw: Path, i: int, region: str, patient: pd.Series, options: SynthOptions, rng: np.random.Generator
) -> pd.DataFrame:
    cells = sample_cells(rng, options.mask_shape, options.mask_mpp)
    index_mask = draw_index_mask(cells, options.mask_shape)
    wide = i % 3 == 2
    n = len(cells.names)
    step = 1 if options.consecutive_labels else 3
    labels = rng.permutation(np.arange(1, n + 1) * step)[:n] + (UINT32_LABEL_OFFSET if wide else 0)
    label_mask = np.concatenate([[0], labels])[index_mask].astype(np.uint32 if wide else np.uint16)
    if options.segmentation == "polygons":
        grid = {"mpp": options.mask_mpp, "height": label_mask.shape[0], "width": label_mask.shape[1]}
        write_geojson(raw / POLYGON_DIR / f"{region}.geojson", label_polygons(label_mask), grid)
    else:
        _write_tiff(raw / MASK_DIR / f"{region}.tif", label_mask, options.mask_mpp)
    _write_tiff(
        raw / HE_DIR / f"{region}.tif",
        render_he(rng, cells, index_mask, options.scale),
        options.mask_mpp / options.scale,
    )
    area = np.bincount(index_mask.ravel(), minlength=n + 1)[1:]
    yy, xx = np.indices(index_mask.shape)
    with np.errstate(invalid="ignore", divide="ignore"):  # centroids of the visible (segmented) cell
        cy = np.bincount(index_mask.ravel(), weights=yy.ravel(), minlength=n + 1)[1:] / area
        cx = np.bincount(index_mask.ravel(), weights=xx.ravel(), minlength=n + 1)[1:] / area
    keep = (area > 0) & (rng.uniform(size=n) > MISSING_FROM_TABLE)
    table = pd.DataFrame(
        {
            "File Name": region,
            "Region": i // 2 + 1,
            "TMA_AB": region[-1],
            "TMA_12": 1,
            "Index in File": labels,
            "groups": patient["groups"],
            "patients": patient["patients"],
            "spots": f"{i // 2 + 1}_{region[-1]}",
            "ClusterName": cells.names,
            **_markers(rng, cells.names),
            "X:X": np.nan_to_num(cx).round(1),
            "Y:Y": np.nan_to_num(cy).round(1),
            "Z:Z": 1,
            "size:size": area,
        }
    )[keep]
    orphans = table.sample(
        n=max(1, int(ORPHAN_ROWS * len(table))), random_state=int(rng.integers(2**31))
    ).copy()
    orphans["Index in File"] = labels.max() + 1 + np.arange(len(orphans))
    return pd.concat([table, orphans])


def synthesize(
    raw_dir: Path, *, options: SynthOptions | None = None, overwrite: bool = False, progress: bool = True
) -> Path:
    """Write a synthetic raw export to ``raw_dir``; same options and seed give the same files."""
    options = options or SynthOptions()
    if options.layout == "phenobench-hdf5":
        from phenocell.synthetic.hdf5_export import synthesize_hdf5  # the authors' per-FoV HDF5 files

        return synthesize_hdf5(raw_dir, options=options, overwrite=overwrite, progress=progress)
    raw = ensure_empty_output_dir(raw_dir, overwrite=overwrite)
    for sub in (POLYGON_DIR if options.segmentation == "polygons" else MASK_DIR, HE_DIR):
        (raw / sub).mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(options.seed)
    patients = patient_table(options.patients, rng)
    _write_patients(raw, patients, options)
    tables = []
    for i in tqdm(range(options.fovs), desc="synth FoVs", disable=not progress):
        fov_rng = np.random.default_rng([options.seed, i])
        tables.append(_fov(raw, i, region_name(i), patients.iloc[i % options.patients], options, fov_rng))
    table = pd.concat(tables, ignore_index=True)
    table.insert(0, "CellID", np.arange(len(table)))
    table.insert(
        1,
        "ClusterID",
        table["ClusterName"].map({n: k for k, n in enumerate(sorted(table["ClusterName"].unique()))}),
    )
    table.insert(2, "EventID", np.arange(len(table)))
    table.to_csv(raw / CELL_TABLE_FILE, index=False)
    return raw
