"""Training options, declared once: defaults are the authors' public protocol, departures are named options.

The reference is Kainmueller-Lab/Pathology-Foundation-Model-Benchmark (its per-dataset configs, ``unetr.py``,
``utils.py``, ``eval.py``); DESIGN.md's "Benchmark" section lists every fact used here. Each ``Literal``
field's first choice is the reference; the others are our departures, kept under their own names. Fields
that differ between the authors' dataset configs (steps, batch size, warm-up, ``T_max``, ``eta_min``, early
stop, encoder training) default to ``None``: :meth:`TrainConfig.resolved` fills them from the run's row of
:data:`~phenocell.benchmark.reference.REFERENCE_CONFIGS`. The CLI (:mod:`phenocell.benchmark.cli`) derives
its defaults and choices from these fields.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal, get_args, get_origin, get_type_hints

from phenocell.benchmark.reference import ReferenceConfig, reference_for
from phenocell.errors import InvalidOptionError, check_choice

ClassWeighting = Literal["ema_softmax", "inverse", "none"]
Sampling = Literal["class_pixels", "class", "uniform"]
Augment = Literal["reference", "flips", "none"]
Selection = Literal["cell_macro_f1", "cell_macro_f1_unique", "pixel_macro_f1", "dice_macro"]
Precision = Literal["auto", "fp16", "bf16", "fp32"]
LinearInput = Literal["final_norm", "last_block"]
UnetrTaps = Literal["last4", "spread"]
UnetrDecoder = Literal["cellvit", "compact"]
Background = Literal["exclude", "include"]
Head = Literal["linear", "unetr", "constant"]
HEADS: tuple[str, ...] = get_args(Head)
EncoderTraining = Literal["frozen", "trainable"]
ImageScale = Literal["tile_max", "unit"]
#: Fields whose reference value is the dataset's config row (None until resolved).
PER_DATASET = ("steps", "batch_size", "warmup", "t_max", "eta_min", "early_stop", "encoder_training")
TRAIN_FRACTIONS = (1.0, 0.5, 0.2, 0.1, 0.05)
#: Options that change where and how fast a run goes, never its result (not departures from the protocol).
RUN_ONLY = ("device", "workers", "tile_store")
_DEVICE = re.compile(r"^(auto|cpu|cuda|cuda:\d+)$")
AUTHORS_WORKERS = 4


def usable_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one), as torch counts them."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def default_workers() -> int:
    """The authors' 4 DataLoader workers, or fewer on a machine with fewer usable cores (torch warns)."""
    return min(AUTHORS_WORKERS, usable_cores())


@dataclass
class TrainConfig:
    """Head training options; every default is the authors' protocol (DESIGN.md, "Benchmark").

    ``None`` in a :data:`PER_DATASET` field means "the dataset's reference config" (:meth:`resolved`).
    ``t_max`` is the cosine's period, its own option (PanNuke's config: 10000 of 20000 steps);
    ``encoder_training`` ``frozen`` is the paper, ``trainable`` the released UNETR code (the encoder trains
    at the head's learning rate, no token cache); ``image_scale`` ``tile_max`` divides each tile by its own
    maximum (the authors' ``LMDBDataset``), ``unit`` by 255.
    ``early_stop`` counts optimisation steps without a better validation score (the authors: 1200);
    ``grad_clip`` 0 disables clipping; ``precision`` ``auto`` is fp16 autocast + GradScaler on CUDA and fp32
    on CPU; ``device`` is ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``; ``workers`` is the
    number of DataLoader processes decoding tiles (default ``min(4, usable cores)``); ``tile_store`` is where
    the shards are decoded once for fast random reads (``auto``: the user cache folder when the disk has
    room, ``none``: decode from the shards every time, or a directory).
    """

    steps: int | None = None
    batch_size: int | None = None
    lr: float = 3e-5
    weight_decay: float = 0.03
    warmup: int | None = None
    warmup_start_factor: float = 0.1
    t_max: int | None = None
    eta_min: float | None = None
    grad_clip: float = 2.0
    precision: Precision = "auto"
    label_smoothing: float = 0.05
    class_weighting: ClassWeighting = "ema_softmax"
    ema_alpha: float = 0.99
    background: Background = "exclude"
    sampling: Sampling = "class_pixels"
    augment: Augment = "reference"
    val_every: int = 200
    early_stop: int | None = None
    encoder_training: EncoderTraining | None = None
    image_scale: ImageScale = "tile_max"
    selection: Selection = "cell_macro_f1"
    linear_input: LinearInput = "final_norm"
    unetr_taps: UnetrTaps = "last4"
    unetr_decoder: UnetrDecoder = "cellvit"
    train_fraction: float = 1.0
    seed: int = 42
    device: str = "auto"
    workers: int = field(default_factory=default_workers)
    tile_store: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every choice and range; raises :class:`InvalidOptionError` naming the valid values."""
        for f in fields(self):
            choices = literal_choices(f.name)
            if choices and getattr(self, f.name) is not None:
                check_choice(f.name, getattr(self, f.name), choices)
        check_choice("train_fraction", float(self.train_fraction), TRAIN_FRACTIONS)
        for name in ("steps", "batch_size", "val_every", "t_max"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name))
        for name in ("warmup", "early_stop", "workers"):
            if getattr(self, name) is not None:
                _positive(name, getattr(self, name), allow_zero=True)
        if not 0 < self.warmup_start_factor <= 1:
            raise InvalidOptionError(
                "warmup_start_factor out of range",
                expected="0 < factor <= 1",
                found=str(self.warmup_start_factor),
                fix="pass e.g. 0.1 (the authors' value)",
            )
        if not str(self.tile_store).strip():
            raise InvalidOptionError(
                "empty tile_store",
                expected="auto, none or a directory",
                found=repr(self.tile_store),
                fix="pass --tile-store auto|none|DIR",
            )
        if not _DEVICE.match(str(self.device)):
            raise InvalidOptionError(
                "invalid device",
                expected="auto, cpu, cuda or cuda:N",
                found=repr(self.device),
                fix="pass --device auto|cpu|cuda|cuda:N",
            )

    def schedule(self, reference: ReferenceConfig | None = None) -> ReferenceConfig:
        """The per-dataset values in force: ``reference`` (default PhenoCell's), set fields overriding it."""
        row = reference or reference_for(None)
        return replace(row, **{k: getattr(self, k) for k in PER_DATASET if getattr(self, k) is not None})

    def resolved(self, reference: ReferenceConfig | None = None) -> TrainConfig:
        """A copy with every ``None`` field set from ``reference`` (default: PhenoCell's config)."""
        schedule = self.schedule(reference)
        return replace(self, **{k: getattr(schedule, k) for k in PER_DATASET})

    def departures(self, reference: ReferenceConfig | None = None) -> dict[str, dict[str, Any]]:
        """Options whose value differs from the authors' ``reference`` config: ``{name: {value, reference}}``.

        ``encoder_training`` is compared with the paper (frozen), except where the reference config itself
        trains the encoder (the supervised baseline).
        """
        expected = asdict(TrainConfig().resolved(reference))
        ours = asdict(self.resolved(reference))
        return {
            k: {"value": ours[k], "reference": expected[k]}
            for k in expected
            if ours[k] != expected[k] and k not in RUN_ONLY
        }


def literal_choices(name: str) -> tuple[Any, ...]:
    """The choices of a ``Literal`` (or ``Literal | None``) field of :class:`TrainConfig` (else empty)."""
    annotation = get_type_hints(TrainConfig)[name]
    for arg in (annotation, *get_args(annotation)):
        if get_origin(arg) is Literal:
            return tuple(get_args(arg))
    return ()


def _positive(name: str, value: int, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidOptionError(
            f"{name} out of range",
            expected=f"an integer {'>= 0' if allow_zero else '> 0'}",
            found=str(value),
            fix=f"pass a valid {name}",
        )
