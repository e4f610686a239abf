"""The authors' training configs per dataset: one plain data table, each row citing its file.

Values read from Kainmueller-Lab/Pathology-Foundation-Model-Benchmark, ``configs/``. A run's profile (or the
supervised baseline) picks its row; every :class:`~phenocell.benchmark.config.TrainConfig` field left at
``None`` takes the row's value, and ``results.json`` names the row's file as the run's reference.

Where the paper's text and the configs disagree, the config is the default: the paper says the heads
trained "for 10k steps with early stopping"; ``config_unetr_schuerch.yaml`` and
``hovernext_config_real.yaml`` say 20000. PanNuke's config anneals over ``T_max`` 10000 while it trains
20000 steps (the cosine climbs back after step 10000 + warm-up), and we keep that too.
"""

from __future__ import annotations

from dataclasses import dataclass

from phenocell.errors import check_choice

REPOSITORY = "Kainmueller-Lab/Pathology-Foundation-Model-Benchmark"
SUPERVISED = "baseline/hovernext"


@dataclass(frozen=True)
class ReferenceConfig:
    """One of the authors' config files: the values that differ between datasets.

    Attributes:
        file: the config's path in the authors' repository.
        steps: ``training_steps``.
        batch_size: ``dataset.batch_size``.
        warmup: ``optimizer.warmup_steps`` (``LinearLR`` warm-up).
        t_max: ``scheduler.params.T_max`` of ``CosineAnnealingLR``.
        eta_min: ``scheduler.params.eta_min``.
        early_stop: ``early_stopping`` (steps without a better validation score).
        encoder_training: ``frozen`` (the paper's text) or ``trainable`` (``unfreeze_backbone: true``).
        loss: ``cross_entropy`` (the heads' class-weighted CE) or ``focal`` (α 1, γ 2, mean reduction).
    """

    file: str
    steps: int
    batch_size: int
    warmup: int
    t_max: int
    eta_min: float
    early_stop: int
    encoder_training: str = "frozen"
    loss: str = "cross_entropy"

    @property
    def cite(self) -> str:
        """``repository (file)``: how results.json names the reference."""
        return f"{REPOSITORY} ({self.file})"


#: Row per dataset profile, plus the supervised baseline (whatever the dataset).
REFERENCE_CONFIGS: dict[str, ReferenceConfig] = {
    # key:     ReferenceConfig(file, steps, batch_size, warmup, t_max, eta_min, early_stop[, encoder, loss])
    "phenocell": ReferenceConfig("configs/config_unetr_schuerch.yaml", 20000, 128, 1000, 20000, 1e-6, 1200),
    "lizard": ReferenceConfig("configs/config_unetr_lizard.yaml", 10000, 64, 1000, 10000, 1e-7, 1200),
    "pannuke": ReferenceConfig("configs/config_unetr_pannuke.yaml", 20000, 64, 1000, 10000, 1e-7, 1200),
    "arctique": ReferenceConfig("configs/config_unetr_arctique.yaml", 10000, 64, 1000, 10000, 1e-6, 1200),
    SUPERVISED: ReferenceConfig(
        "configs/hovernext_config_real.yaml", 20000, 64, 100, 20000, 1e-6, 1500, "trainable", "focal"
    ),
}


def reference_for(dataset: str | None, encoder: str | None = None) -> ReferenceConfig:
    """The authors' config of a run: the supervised baseline's row, else the dataset's (None: PhenoCell)."""
    if encoder == SUPERVISED:
        return REFERENCE_CONFIGS[SUPERVISED]
    key = dataset or "phenocell"
    check_choice("dataset", key, tuple(k for k in REFERENCE_CONFIGS if k != SUPERVISED))
    return REFERENCE_CONFIGS[key]
