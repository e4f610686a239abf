"""Training options, declared once: defaults are the authors' public protocol, departures are named options.

The reference is Kainmueller-Lab/Pathology-Foundation-Model-Benchmark (its per-dataset configs, ``unetr.py``,
``utils.py``, ``eval.py``); DESIGN.md's "Benchmark" section lists every fact used here. Each ``Literal``
field's first choice is the reference; the others are our departures, kept under their own names. Fields
that differ between the authors' dataset configs (steps, batch size, warm-up, ``T_max``, ``eta_min``, early
stop, encoder training) default to ``None``: :meth:`TrainConfig.resolved` fills them from the run's row of
:data:`~phenocell.benchmark.reference.REFERENCE_CONFIGS` (the profile's ``authors_config``). The CLI
(:mod:`phenocell.benchmark.cli`) derives its defaults and choices from these fields. The protocol-level
defaults are the ``phenobench`` preset's (:mod:`phenocell.benchmark.presets`, read from there);
:meth:`TrainConfig.preset` gives another preset's options, and departures are counted from the run's preset.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

from phenocell.benchmark.metric_names import Metric
from phenocell.benchmark.presets import PHENOBENCH, preset
from phenocell.benchmark.reference import reference_for
from phenocell.errors import InvalidOptionError, check_choice, check_literal_fields
from phenocell.profiles import ReferenceConfig

ClassWeighting = Literal["ema_softmax", "inverse", "none"]
Sampling = Literal["class_pixels", "class", "uniform", "shuffle"]
Augment = Literal["reference", "flips", "none", "affine_jitter"]
Protocol = Literal["phenobench", "vitoria"]
Loss = Literal["ce", "ce_dice"]
Optimizer = Literal["adamw", "nadam"]
Schedule = Literal["warmup_cosine", "cosine_restarts"]
Unit = Literal["steps", "epochs"]
Selection = Metric
Precision = Literal["auto", "fp16", "bf16", "fp32"]
LinearInput = Literal["final_norm", "last_block"]
UnetrTaps = Literal["last4", "spread"]
Background = Literal["exclude", "include"]
EncoderTraining = Literal["frozen", "trainable"]
ImageScale = Literal["tile_max", "unit"]
#: Fields whose reference value is the dataset's config row (None until resolved).
PER_DATASET = ("steps", "batch_size", "warmup", "t_max", "eta_min", "early_stop", "encoder_training")
TRAIN_FRACTIONS = (1.0, 0.5, 0.2, 0.1, 0.05)
#: Options counted in epochs when ``unit="epochs"`` (converted by :meth:`TrainConfig.in_steps`).
EPOCH_COUNTED = ("steps", "val_every", "warmup", "early_stop", "t_max")
#: Options that change where and how fast a run goes, never its result (not departures from the protocol).
RUN_ONLY = ("device", "workers", "tile_store")
_P = PHENOBENCH.options  # the defaults are the phenobench preset (the authors' protocol)
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
    lr: float = _P["lr"]
    weight_decay: float = _P["weight_decay"]
    warmup: int | None = None
    warmup_start_factor: float = 0.1
    t_max: int | None = None
    eta_min: float | None = None
    grad_clip: float = _P["grad_clip"]
    precision: Precision = "auto"
    label_smoothing: float = _P["label_smoothing"]
    class_weighting: ClassWeighting = _P["class_weighting"]
    ema_alpha: float = 0.99
    background: Background = _P["background"]
    sampling: Sampling = _P["sampling"]
    augment: Augment = _P["augment"]
    val_every: int = _P["val_every"]
    early_stop: int | None = None
    encoder_training: EncoderTraining | None = None
    image_scale: ImageScale = "tile_max"
    selection: Selection = _P["selection"]
    linear_input: LinearInput = "final_norm"
    unetr_taps: UnetrTaps = "last4"
    train_fraction: float = 1.0
    seed: int = 42
    seeds: int = _P["seeds"]
    protocol: Protocol = "phenobench"
    loss: Loss = _P["loss"]
    optimizer: Optimizer = _P["optimizer"]
    lr_schedule: Schedule = _P["lr_schedule"]
    unit: Unit = _P["unit"]
    device: str = "auto"
    workers: int = field(default_factory=default_workers)
    tile_store: str = "auto"

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Check every choice and range; raises :class:`InvalidOptionError` naming the valid values."""
        check_literal_fields(self)
        check_choice("train_fraction", float(self.train_fraction), TRAIN_FRACTIONS)
        for name in ("steps", "batch_size", "val_every", "t_max", "seeds"):
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
        check_device_spec(self.device)

    def schedule(self, reference: ReferenceConfig | None = None) -> ReferenceConfig:
        """The per-dataset values in force: ``reference`` (default PhenoCell's), set fields overriding it."""
        row = reference or reference_for(None)
        return replace(row, **{k: getattr(self, k) for k in PER_DATASET if getattr(self, k) is not None})

    def resolved(self, reference: ReferenceConfig | None = None) -> TrainConfig:
        """A copy with every ``None`` field set from ``reference`` (default: PhenoCell's config)."""
        schedule = self.schedule(reference)
        return replace(self, **{k: getattr(schedule, k) for k in PER_DATASET})

    @classmethod
    def preset(cls, name: str = "phenobench", **overrides: Any) -> TrainConfig:
        """The options of protocol ``name`` (:mod:`~phenocell.benchmark.presets`), ``overrides`` on top.

        Each override that differs from the preset is a named departure (:meth:`departures`). A preset's
        unset per-dataset fields (phenobench's) still come from the dataset's row (:meth:`resolved`).
        """
        return cls(**{**preset(name).options, **overrides, "protocol": name})

    def in_steps(self, epoch_steps: int) -> TrainConfig:
        """A copy counted in optimisation steps: ``unit="epochs"`` options times ``epoch_steps``.

        ``epoch_steps`` is ``ceil(train tiles / batch size)``; a ``steps`` config comes back unchanged.
        """
        if self.unit == "steps":
            return self
        scaled = {k: getattr(self, k) * epoch_steps for k in EPOCH_COUNTED if getattr(self, k) is not None}
        return replace(self, unit="steps", **scaled)

    def departures(self, reference: ReferenceConfig | None = None) -> dict[str, dict[str, Any]]:
        """Options whose value differs from the run's preset on ``reference``: ``{name: {value, reference}}``.

        The expected values are :meth:`preset` of ``self.protocol`` resolved on the dataset's config row
        (``phenobench``: the authors' protocol). ``encoder_training`` is compared with the paper (frozen),
        except where the reference config itself trains the encoder (the supervised baseline).
        """
        expected = asdict(TrainConfig.preset(self.protocol).resolved(reference))
        ours = asdict(self.resolved(reference))
        return {
            k: {"value": ours[k], "reference": expected[k]}
            for k in expected
            if ours[k] != expected[k] and k not in RUN_ONLY
        }


def epoch_steps(train_tiles: int, batch_size: int) -> int:
    """Steps in one epoch of our sampler: as many tile draws as the train split holds, ``ceil(n / batch)``."""
    return max(1, -(-train_tiles // batch_size))


def check_device_spec(device: str) -> None:
    """Refuse a ``--device`` other than ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (no torch import needed)."""
    if not _DEVICE.match(str(device)):
        raise InvalidOptionError(
            "invalid device",
            expected="auto, cpu, cuda or cuda:N",
            found=repr(device),
            fix="pass --device auto|cpu|cuda|cuda:N",
        )


def _positive(name: str, value: int, allow_zero: bool = False) -> None:
    """Refuse a count below 1 (below 0 with ``allow_zero``), naming its CLI flag and its field."""
    if value < 0 or (value == 0 and not allow_zero):
        bound = ">= 0" if allow_zero else "> 0"
        raise InvalidOptionError(
            f"{name} out of range",
            expected=f"an integer {bound}",
            found=str(value),
            fix=f"pass --{name.replace('_', '-')} as an integer {bound} (the config field {name})",
        )
