"""What ``results.json`` records about a run's protocol and head (beside its scores)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

import torch
from torch import nn

from phenocell.benchmark.config import EPOCH_COUNTED, TrainConfig
from phenocell.benchmark.heads import HEADS, head_size
from phenocell.benchmark.models import Model
from phenocell.benchmark.presets import preset, preset_notes
from phenocell.profiles import ReferenceConfig


def protocol_record(
    asked: TrainConfig,
    cfg: TrainConfig,
    reference: ReferenceConfig,
    model: Model,
    data: dict[str, Any],
    where: tuple[torch.device, str],
) -> dict[str, Any]:
    """The run's protocol: its preset, every option, the data, what departs from them, what was derived.

    ``asked`` is the configuration as given (in its preset's units), ``cfg`` the one trained (resolved on
    the dataset's config row ``reference``, counted in steps); ``data`` is the run's
    :func:`~phenocell.benchmark.data_protocol.data_protocol`; ``where`` the device and precision.
    ``departures`` holds what departs from the preset (training) and from the authors' data alike.
    """
    chosen = preset(asked.protocol)
    return {
        "preset": {
            "name": chosen.name,
            "paper": chosen.paper,
            "head": chosen.head,
            **chosen.options,
            "notes": preset_notes(chosen.name),
        },
        "reference": reference.cite,
        "reference_config": asdict(reference),
        "options": asdict(asked.resolved(reference)),
        "options_in_steps": {k: getattr(cfg, k) for k in EPOCH_COUNTED},
        "data": data,
        "departures": {**asked.departures(reference), **head_departure(model.head), **data["departures"]},
        "features": model.features,
        "device": str(where[0]),
        "precision": where[1],
        "token_cache_splits": list(model.cached),
        "early_stop_steps": cfg.early_stop,
    }


def head_departure(name: str) -> dict[str, dict[str, Any]]:
    """``{"head": {value, reference}}`` when registered head ``name`` stands in for one of the authors'."""
    if name not in HEADS:  # the end-to-end baseline has no separate head
        return {}
    replaced = HEADS.get(name).departs_from
    return {} if replaced is None else {"head": {"value": name, "reference": replaced}}


def head_parameters(
    name: str, module: nn.Module, record: dict[str, Any], num_classes: int, cfg: TrainConfig
) -> dict[str, Any]:
    """Trainable parameters of the head, and of the same head at this and one other encoder width.

    ``record`` is the encoder's registry record (its ``embed_dim`` and ``patch_size``).
    """
    count = sum(p.numel() for p in module.parameters() if p.requires_grad)
    width = int(record.get("embed_dim", 0))
    if name not in HEADS or not width:  # the end-to-end baseline has no separate head
        return {"head": name, "parameters": count}
    args = (num_classes, int(record["patch_size"]))
    widths = (width, 384 if width == 1024 else 1024)
    return {
        "head": name,
        "parameters": count,
        "at_width": {str(w): head_size(name, w, *args) for w in widths},
    }
