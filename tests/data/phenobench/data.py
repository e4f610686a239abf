"""Seeded generator of the tiny synthetic per-FoV HDF5 export the tests use (style rule 6).

Run ``python tests/data/phenobench/data.py OUT`` to look at one; the tests call :func:`make_raw` directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

from phenocell.synthetic import SynthOptions
from phenocell.synthetic.hdf5_export import synthesize_hdf5

#: 6 FoVs of 160x192 px, 5 patients, 3 ifl channels: every split family is non-empty.
TINY = SynthOptions(fovs=6, patients=5, seed=0, mask_shape=(160, 192), layout="phenobench-hdf5")
CHANNELS = 3
TILE = 64


def make_raw(out: Path, options: SynthOptions = TINY) -> Path:
    """Write the tiny HDF5 export to ``out``."""
    return synthesize_hdf5(out, options=options, channels=CHANNELS, progress=False)


if __name__ == "__main__":
    make_raw(Path(sys.argv[1]))
