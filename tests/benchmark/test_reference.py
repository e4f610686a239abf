"""Per-dataset defaults: each equals the authors' config file it cites (values copied from those files)."""

from __future__ import annotations

import pytest

from phenocell.benchmark.config import TrainConfig
from phenocell.benchmark.reference import REFERENCE_CONFIGS, reference_for

# Literal values of the authors' configs (Kainmueller-Lab/Pathology-Foundation-Model-Benchmark, configs/):
# file, training_steps, batch_size, warmup_steps, T_max, eta_min, early_stopping, encoder, loss
# fmt: off
UNETR = {
    "phenocell": ("configs/config_unetr_schuerch.yaml", 20000, 128, 1000, 20000, 1e-6, 1200, "frozen", "ce"),
    "lizard": ("configs/config_unetr_lizard.yaml", 10000, 64, 1000, 10000, 1e-7, 1200, "frozen", "ce"),
    "pannuke": ("configs/config_unetr_pannuke.yaml", 20000, 64, 1000, 10000, 1e-7, 1200, "frozen", "ce"),
    "arctique": ("configs/config_unetr_arctique.yaml", 10000, 64, 1000, 10000, 1e-6, 1200, "frozen", "ce"),
}
HOVERNEXT = ("configs/hovernext_config_real.yaml", 20000, 64, 100, 20000, 1e-6, 1500, "trainable", "focal")
# fmt: on
LOSSES = {"ce": "cross_entropy", "focal": "focal"}
FIELDS = ("steps", "batch_size", "warmup", "t_max", "eta_min", "early_stop", "encoder_training")
CASES = [(d, "test/vit-tiny", UNETR[d]) for d in sorted(UNETR)]
CASES += [(d, "baseline/hovernext", HOVERNEXT) for d in [*sorted(UNETR), None]]


@pytest.mark.parametrize(("dataset", "encoder", "authors"), CASES)
def test_defaults_are_the_datasets_config(dataset: str | None, encoder: str, authors: tuple) -> None:
    file, *values, loss = authors
    row = reference_for(dataset, encoder)
    assert (row.file, row.loss) == (file, LOSSES[loss]) and file in row.cite
    cfg = TrainConfig().resolved(row)
    assert tuple(getattr(cfg, f) for f in FIELDS) == tuple(values)
    assert (cfg.lr, cfg.weight_decay, cfg.image_scale) == (3e-5, 0.03, "tile_max")
    assert cfg.departures(row) == {}


def test_set_options_override_the_row_and_are_departures() -> None:
    row = REFERENCE_CONFIGS["pannuke"]
    cfg = TrainConfig(t_max=20000, encoder_training="trainable").resolved(row)
    assert (cfg.steps, cfg.t_max, cfg.eta_min) == (20000, 20000, 1e-7)
    assert cfg.departures(row) == {
        "t_max": {"value": 20000, "reference": 10000},
        "encoder_training": {"value": "trainable", "reference": "frozen"},
    }


def test_unknown_dataset_lists_the_rows() -> None:
    with pytest.raises(ValueError, match="lizard"):
        reference_for("nope")
