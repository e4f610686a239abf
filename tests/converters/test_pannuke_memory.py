"""Acceptance 4: PanNuke conversion reads folds memory-mapped, so peak RSS barely grows with the folds.

Runs ``benchmarks/pannuke_memory.py`` (each conversion in a child process that reports its VmHWM) on mock
folds of 4 and 8 images of 512 px (216 and 432 MiB of .npy over three folds) and bounds the growth of the
peak, double - small, against the .npy size the doubling adds (216 MiB); the ~330 MiB both share is
mostly imports and says nothing about the reader. Measured on the shared 2-core machine (load ~4):

- memory-mapped (the reader): 340.0 -> 355.3 MiB, growth 15.3 MiB = 0.07 of the added .npy;
- ``--no-mmap`` (every ``np.load`` reads its whole array, one fold at a time): 389.7 -> 478.7 MiB,
  growth 89.0 MiB = 0.41 of the added .npy, so the bound of 0.2 fails without mmap.

Reproduce: ``python benchmarks/pannuke_memory.py --per-fold 4 --size 512 [--no-mmap]``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "pannuke_memory.py"


def test_peak_rss_growth_is_small_against_the_added_npy(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--per-fold", "4", "--size", "512", "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    small, double = lines[0]["small"], lines[1]["double"]
    added_npy = double["npy_mib"] - small["npy_mib"]
    assert added_npy >= small["npy_mib"] * 0.99 and double["tiles"] == 2 * small["tiles"]
    growth = double["peak_rss_mib"] - small["peak_rss_mib"]
    assert growth < 0.2 * added_npy, lines  # one fold read whole would add about a third of it
