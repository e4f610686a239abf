"""Named protocols (``--protocol``): PhenoBench's and Vitoria et al.'s, one table of data.

A preset sets the head, loss, optimiser, schedule, augmentation, validation rhythm, selection metric and seed
count of a run. It is the base every option departs from: options given on top of a preset are recorded in
``results.json`` as named departures from it (:meth:`~phenocell.benchmark.config.TrainConfig.departures`).

- ``phenobench`` (default): the authors' public code (Kainmueller-Lab/Pathology-Foundation-Model-Benchmark).
  Its values that differ between datasets (steps, batch size, warm-up, ``T_max``, ``eta_min``, early stop)
  are not in this table: they come from the dataset's row of
  :data:`~phenocell.benchmark.reference.REFERENCE_CONFIGS`, so ``phenobench`` + a dataset profile is that
  dataset's config of the authors.
- ``vitoria``: Vitoria et al., "A Benchmark of Foundation Model Encoders for Histopathological Image
  Segmentation": one constant-capacity decoder for every encoder, CE + Dice, NAdam lr 1e-4 annealed to 0
  every 10 epochs, 50 epochs, validation every 10, batch 8, mean per-class Dice, 10 seeds. It is complete:
  no dataset row applies. Where the paper states no value (weight decay, warm-up, the jitter magnitudes, class
  weighting), :data:`NOTES` says what we chose.

"Epoch" on our tile sampler: one epoch is ``ceil(train tiles / batch size)`` optimisation steps, as many tile
draws as the train split holds; with ``sampling="shuffle"`` (Vitoria's preset) each epoch draws every train
tile once, in a new seeded order. Options counted in epochs (``unit="epochs"``: ``steps``, ``val_every``,
``warmup``, ``early_stop``, ``t_max``) are converted to steps once the train split is known
(:meth:`~phenocell.benchmark.config.TrainConfig.in_steps`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from phenocell.benchmark.metric_names import CELL_F1, DICE
from phenocell.errors import check_choice

PHENOBENCH_PAPER = (
    "PhenoBench: A Comprehensive Benchmark for Cell Phenotyping (Kainmueller lab); values from its public "
    "code, Kainmueller-Lab/Pathology-Foundation-Model-Benchmark"
)
VITORIA_PAPER = (
    "Vitoria et al., A Benchmark of Foundation Model Encoders for Histopathological Image Segmentation"
)


@dataclass(frozen=True)
class Preset:
    """One named protocol: the head, the seed count and the training options it sets.

    Attributes:
        name: the ``--protocol`` value.
        paper: the publication (and code) the values come from.
        head: the head a run uses unless ``--head`` says otherwise.
        options: :class:`~phenocell.benchmark.config.TrainConfig` field → value (``seeds`` included).
    """

    name: str
    paper: str
    head: str
    options: MappingProxyType[str, Any] = field(default_factory=lambda: MappingProxyType({}))


PHENOBENCH = Preset(
    "phenobench",
    PHENOBENCH_PAPER,
    "linear",
    MappingProxyType(
        {
            "loss": "ce",
            "class_weighting": "ema_softmax",
            "label_smoothing": 0.05,
            "background": "exclude",
            "optimizer": "adamw",
            "lr": 3e-5,
            "weight_decay": 0.03,
            "lr_schedule": "warmup_cosine",
            "grad_clip": 2.0,
            "augment": "reference",
            "sampling": "class_pixels",
            "unit": "steps",
            "val_every": 200,
            "selection": CELL_F1,
            "seeds": 1,
        }
    ),
)

VITORIA = Preset(
    "vitoria",
    VITORIA_PAPER,
    "constant",
    MappingProxyType(
        {
            "loss": "ce_dice",
            "class_weighting": "none",
            "label_smoothing": 0.0,
            "background": "include",
            "optimizer": "nadam",
            "lr": 1e-4,
            "weight_decay": 0.0,
            "lr_schedule": "cosine_restarts",
            "warmup": 0,
            "t_max": 10,
            "eta_min": 0.0,
            "grad_clip": 0.0,
            "augment": "affine_jitter",
            "sampling": "shuffle",
            "unit": "epochs",
            "steps": 50,
            "batch_size": 8,
            "val_every": 10,
            "early_stop": 0,
            "selection": DICE,
            "seeds": 10,
        }
    ),
)

PRESETS: MappingProxyType[str, Preset] = MappingProxyType({p.name: p for p in (PHENOBENCH, VITORIA)})

#: Where a preset value is our reading rather than a stated fact of its paper.
NOTES: MappingProxyType[str, str] = MappingProxyType(
    {
        "vitoria.unit": "the paper counts epochs; ours is ceil(train tiles / batch) steps, each tile once",
        "vitoria.early_stop": "none: the paper selects the best of the validations (every 10 epochs) by Dice",
        "vitoria.weight_decay": "not stated: 0",
        "vitoria.warmup": "not stated: 0 (the cosine restarts from lr 1e-4 at epochs 0, 10, 20, 30, 40)",
        "vitoria.grad_clip": "not stated: none",
        "vitoria.class_weighting": "not stated: plain cross-entropy over every pixel (background a class)",
        "vitoria.augment": "random affine and brightness/colour jitter, magnitudes not stated: flips, affine "
        "(rotation 0-360, translate 0.1, scale 0.8-1.2) and jitter (brightness/contrast/saturation 0.1, hue "
        "0.05)",
        "vitoria.image_scale": "inputs normalised per encoder: the encoder's mean/std after the data's image "
        "scale (left to --image-scale, a data option recorded in protocol.data)",
        "vitoria.frozen": "the paper: encoders frozen (every head here trains on a frozen encoder)",
    }
)


def preset(name: str) -> Preset:
    """The preset called ``name``; an unknown name lists the valid ones."""
    check_choice("protocol", name, tuple(PRESETS))
    return PRESETS[name]


def preset_notes(name: str) -> dict[str, str]:
    """:data:`NOTES` of one preset, by option."""
    return {k.split(".", 1)[1]: v for k, v in NOTES.items() if k.startswith(name + ".")}
