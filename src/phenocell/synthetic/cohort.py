"""The synthetic cohort both synthetic layouts share: region names and a patient table."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def region_name(i: int) -> str:
    """Region key of the i-th FoV: two TMA spots (A/B) per region number, like the public release."""
    return f"reg{i // 2 + 1:03d}_{'AB'[i % 2]}"


def patient_table(n: int, rng: np.random.Generator) -> pd.DataFrame:
    """Patients with tumor type (~25% mucinous), pTNM stage (~35% stage 4), group (CLR 1 / DII 2) and MSI."""
    order = rng.permutation(n)
    mucinous = set(order[: max(1, math.ceil(0.25 * n))].tolist())
    stage4 = set(np.roll(order, n // 2)[: max(1, math.ceil(0.35 * n))].tolist())
    return pd.DataFrame(
        {
            "patients": [str(i + 1) for i in range(n)],
            "tumor_type": ["mucinous" if i in mucinous else "adenocarcinoma" for i in range(n)],
            "stage": [4 if i in stage4 else 3 for i in range(n)],
            "groups": [str(1 + (i % 2)) for i in range(n)],
            "msi": ["MSI" if i % 5 == 0 else "MSS" for i in range(n)],
        }
    )
