"""The authors' training configs: each dataset's row lives on its profile; the supervised baseline's here.

Values read from Kainmueller-Lab/Pathology-Foundation-Model-Benchmark, ``configs/``. A run's profile (or the
supervised baseline) picks its row; every :class:`~phenocell.benchmark.config.TrainConfig` field left at
``None`` takes the row's value, and ``results.json`` names the row's file as the run's reference. The
per-dataset rows and where the paper and the configs disagree: :mod:`phenocell.profiles`.
"""

from __future__ import annotations

from phenocell.errors import check_choice
from phenocell.profiles import DEFAULT_PROFILE, PROFILES, ReferenceConfig

SUPERVISED = "baseline/hovernext"

#: Row per dataset profile (its ``authors_config``), plus the supervised baseline (whatever the dataset).
REFERENCE_CONFIGS: dict[str, ReferenceConfig] = {
    **{name: profile.authors_config for name, profile in PROFILES.items()},
    SUPERVISED: ReferenceConfig(
        "configs/hovernext_config_real.yaml", 20000, 64, 100, 20000, 1e-6, 1500, "trainable", "focal"
    ),
}


def reference_for(dataset: str | None, encoder: str | None = None) -> ReferenceConfig:
    """The authors' config of a run: the supervised baseline's row, else the dataset's (None: PhenoCell)."""
    if encoder == SUPERVISED:
        return REFERENCE_CONFIGS[SUPERVISED]
    key = dataset or DEFAULT_PROFILE
    check_choice("dataset", key, tuple(PROFILES))
    return PROFILES[key].authors_config
