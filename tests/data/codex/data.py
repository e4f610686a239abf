"""Seeded generator of the tiny synthetic raw CODEX export the tests use (style rule 6).

Run ``python tests/data/codex/data.py OUT`` to look at one; the tests call :func:`make_raw` directly.
"""

from __future__ import annotations

import sys
from pathlib import Path

from phenocell.synthetic import SynthOptions, synthesize

#: 6 FoVs of 128x160 mask px (H&E 256x320 at 2:1), 5 patients: every split family is non-empty.
TINY = SynthOptions(fovs=6, patients=5, seed=0, mask_shape=(128, 160), scale=2)
TILE = 128


def make_raw(out: Path, options: SynthOptions = TINY) -> Path:
    """Write the tiny export to ``out``."""
    return synthesize(out, options=options, progress=False)


if __name__ == "__main__":
    make_raw(Path(sys.argv[1]))
