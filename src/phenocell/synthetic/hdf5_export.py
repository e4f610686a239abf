"""A seeded synthetic export in the authors' per-FoV HDF5 layout (read by ``converters.phenobench_hdf5``).

What it contains, on purpose: the real granular names (dirt included) as sorted ids in ``gt_ct``; sparse,
non-consecutive instance ids in ``gt_inst``; ~3% of instances without a granular id (0); every second FoV's
H&E stored as uint16 (``v8 * 257``, so it scales back exactly); an ``ifl`` stack whose channels differ by
cell; ``patients.csv``, ``fov_patients.csv`` and ``channel_names.txt`` beside the files.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from phenocell.constants import CHANNEL_NAMES_FILE, FOV_PATIENT_FILE, PATIENT_TABLE_FILE
from phenocell.errors import InvalidOptionError, require_package
from phenocell.panoptic.authors_labels import fine_cluster_names
from phenocell.paths import ensure_empty_output_dir
from phenocell.synthetic.cohort import patient_table, region_name
from phenocell.synthetic.options import SynthOptions
from phenocell.synthetic.tissue import draw_index_mask, render_he, sample_cells

UNCLASSIFIED = 0.03


CHANNELS = 4


def _write_fov(path: Path, i: int, options: SynthOptions, channels: int) -> None:
    import h5py

    rng = np.random.default_rng([options.seed, i])
    cells = sample_cells(rng, options.mask_shape, options.mask_mpp)
    index_mask = draw_index_mask(cells, options.mask_shape)
    n = len(cells.names)
    he = render_he(rng, cells, index_mask, 1)
    fine_of = {name: k for k, name in enumerate(fine_cluster_names(), start=1)}
    fine = np.array([fine_of[name] for name in cells.names], dtype=np.uint8)
    fine[rng.uniform(size=n) < UNCLASSIFIED] = 0
    ids = rng.permutation(np.arange(1, n + 1) * 7)[:n] + 1000 * i
    levels = rng.gamma(2.0, 400.0, size=(n + 1, channels))
    levels[0] = 50.0
    ifl = levels[index_mask] + rng.normal(0, 20.0, (*index_mask.shape, channels))
    img = np.moveaxis(he, -1, 0)
    with h5py.File(path, "w") as data:
        data["img"] = img.astype(np.uint16) * 257 if i % 2 else img
        data["ifl"] = np.moveaxis(ifl.clip(0, 65535).astype(np.uint16), -1, 0)
        data["gt_ct"] = np.concatenate([[0], fine])[index_mask][None]
        data["gt_inst"] = np.concatenate([[0], ids])[index_mask][None].astype(np.int32)


def synthesize_hdf5(
    raw_dir: Path,
    *,
    options: SynthOptions | None = None,
    channels: int = CHANNELS,
    overwrite: bool = False,
    progress: bool = True,
) -> Path:
    """Write a synthetic HDF5 export (FoVs of ``options.mask_shape``) to ``raw_dir``, deterministically.

    ``options.scale`` and ``options.segmentation`` do not apply: H&E and masks share one grid.
    """
    require_package("h5py", "phenobench", "writing HDF5 files")
    options = options or SynthOptions(layout="phenobench-hdf5")
    if channels < 1:
        raise InvalidOptionError(
            "no ifl channels", expected="channels >= 1", found=str(channels), fix="pass channels=4"
        )
    raw = ensure_empty_output_dir(raw_dir, overwrite=overwrite)
    raw.mkdir(parents=True, exist_ok=True)
    patients = patient_table(options.patients, np.random.default_rng(options.seed))
    patients.to_csv(raw / PATIENT_TABLE_FILE, index=False)
    regions = [region_name(i) for i in range(options.fovs)]
    owners = [patients["patients"].iloc[i % options.patients] for i in range(options.fovs)]
    pd.DataFrame({"File Name": regions, "patients": owners}).to_csv(raw / FOV_PATIENT_FILE, index=False)
    names = [f"marker{c + 1}:Cyc_{c + 1}_ch_2" for c in range(channels)]
    (raw / CHANNEL_NAMES_FILE).write_text("\n".join(names) + "\n", encoding="utf-8")
    for i in tqdm(range(options.fovs), desc="synth FoVs", disable=not progress):
        _write_fov(raw / f"{regions[i]}.hdf", i, options, channels)
    return raw
