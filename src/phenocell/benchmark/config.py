"""Training options, declared once: defaults are the authors' public protocol, departures are named options.

The reference is Kainmueller-Lab/Pathology-Foundation-Model-Benchmark (``config_unetr_schuerch.yaml``,
``unetr.py``, ``utils.py``, ``eval.py``); DESIGN.md's "Benchmark" section lists every fact used here. Each
``Literal`` field's first choice is the reference; the others are our departures, kept under their own names.
The CLI (:mod:`phenocell.benchmark.cli`) derives its defaults and choices from these fields.
"""

from __future__ import annotations

import os
import re
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal, get_args

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

    ``early_stop`` counts optimisation steps without a better validation score (the authors: 1200);
    ``grad_clip`` 0 disables clipping; ``precision`` ``auto`` is fp16 autocast + GradScaler on CUDA and fp32
    on CPU; ``device`` is ``auto`` (CUDA when present), ``cpu``, ``cuda`` or ``cuda:N``; ``workers`` is the
    number of DataLoader processes decoding tiles (default ``min(4, usable cores)``); ``tile_store`` is where
    the shards are decoded once for fast random reads (``auto``: the user cache folder when the disk has
    room, ``none``: decode from the shards every time, or a directory).
    """

    steps: int = 20_000
    batch_size: int = 128
    lr: float = 3e-5
    weight_decay: float = 0.03
    warmup: int = 1_000
    warmup_start_factor: float = 0.1
    eta_min: float = 1e-6
    grad_clip: float = 2.0
    precision: Precision = "auto"
    label_smoothing: float = 0.05
    class_weighting: ClassWeighting = "ema_softmax"
    ema_alpha: float = 0.99
    background: Background = "exclude"
    sampling: Sampling = "class_pixels"
    augment: Augment = "reference"
    val_every: int = 200
    early_stop: int = 1_200
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
            if choices:
                check_choice(f.name, getattr(self, f.name), choices)
        check_choice("train_fraction", float(self.train_fraction), TRAIN_FRACTIONS)
        for name in ("steps", "batch_size", "val_every"):
            _positive(name, getattr(self, name))
        for name in ("warmup", "early_stop", "workers"):
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

    def departures(self) -> dict[str, dict[str, Any]]:
        """Options whose value differs from the authors' protocol: ``{name: {value, reference}}``."""
        reference = asdict(TrainConfig())
        ours = asdict(self)
        return {
            k: {"value": ours[k], "reference": reference[k]}
            for k in reference
            if ours[k] != reference[k] and k not in RUN_ONLY
        }


def literal_choices(name: str) -> tuple[Any, ...]:
    """The choices of a ``Literal`` field of :class:`TrainConfig` (empty for other fields)."""
    annotation = TrainConfig.__dataclass_fields__[name].type
    resolved = globals().get(annotation, annotation) if isinstance(annotation, str) else annotation
    return tuple(get_args(resolved))


def _positive(name: str, value: int, allow_zero: bool = False) -> None:
    if value < 0 or (value == 0 and not allow_zero):
        raise InvalidOptionError(
            f"{name} out of range",
            expected=f"an integer {'>= 0' if allow_zero else '> 0'}",
            found=str(value),
            fix=f"pass a valid {name}",
        )
