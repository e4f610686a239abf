"""Build a frozen encoder from the registry: random, Hub or local safetensors weights; feature extraction.

Features are either the final-normed patch tokens of ``forward_features`` (what the authors' linear head
reads) or the outputs of chosen blocks without the final norm (``forward_intermediates``: UNETR's taps).
Both come back as NCHW grids, prefix (CLS / register) tokens dropped, computed under ``inference_mode``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from phenocell.benchmark import backends
from phenocell.benchmark.compat import import_timm
from phenocell.benchmark.encoders import ENCODERS, EncoderConfig, PixelStats
from phenocell.benchmark.heads import HEADS
from phenocell.errors import (
    CorruptInputError,
    InvalidInputError,
    MissingInputError,
    PhenoCellError,
    require_file,
)
from phenocell.storage.writer import sha256_file


@dataclass(frozen=True)
class FeatureSpec:
    """Which features a head reads: ``final_norm`` tokens, or the outputs of blocks ``taps``."""

    taps: tuple[int, ...]
    final_norm: bool = False

    def __len__(self) -> int:
        return 1 if self.final_norm else len(self.taps)

    def key(self) -> str:
        """A short stable name (cache keys, results)."""
        return "final_norm" if self.final_norm else "blocks" + "-".join(map(str, self.taps))


def feature_spec(cfg: EncoderConfig, head: str, *, linear_input: str, unetr_taps: str) -> FeatureSpec:
    """The features registered head ``head`` reads (:class:`~phenocell.benchmark.heads.HeadSpec`).

    Reference: linear → final-normed tokens; UNETR → the last four blocks. Departures by name.
    """
    if HEADS.get(head).features == "blocks":
        return FeatureSpec(tuple(cfg.taps(unetr_taps)))
    if linear_input == "final_norm":
        return FeatureSpec((cfg.depth - 1,), final_norm=True)
    return FeatureSpec((cfg.depth - 1,))


def _architecture(cfg: EncoderConfig) -> nn.Module:
    if cfg.backend == "stats":
        return PixelStats(cfg.patch_size)
    if cfg.backend == "transformers":
        return backends.dinov2_random(cfg.arch, cfg.timm_kwargs, cfg.seed or 0)
    if cfg.backend == "musk":
        return backends.musk_model(
            cfg.arch, cfg.patch_size, pretrained_id=None, input_size=cfg.input_size, kwargs=cfg.timm_kwargs
        )
    if cfg.backend == "titan":
        return backends.titan_random(cfg.arch, cfg.patch_size, cfg.timm_kwargs, cfg.seed)
    timm = import_timm()
    if cfg.seed is not None:
        torch.manual_seed(cfg.seed)
    return timm.create_model(cfg.arch, pretrained=False, **cfg.timm_kwargs)


def _load_safetensors(model: nn.Module, path: Path, key: str) -> None:
    if path.suffix != ".safetensors":
        raise InvalidInputError(
            f"weights for {key} must be safetensors",
            expected="a .safetensors file",
            found=str(path),
            fix="convert the checkpoint with safetensors.torch.save_file "
            "(pickled .pt/.bin files are never loaded)",
        )
    require_file(path, f"weights file for {key}", "pass an existing --weights PATH")
    state = _read_safetensors(path, key)
    _check_state(model, state, path, key)
    try:
        model.load_state_dict(state, strict=True)
    except (RuntimeError, ValueError) as err:
        raise CorruptInputError(
            f"cannot load {path} into {key}",
            expected=f"a {key} ({type(model).__name__}) state dict",
            found=str(err).splitlines()[0][:300],
            fix="check the checkpoint matches the encoder",
        ) from err


def _read_safetensors(path: Path, key: str) -> dict[str, torch.Tensor]:
    """Read a safetensors file; a pickle renamed .safetensors or a damaged header is a typed error."""
    from safetensors.torch import load_file

    try:
        return load_file(str(path))
    except Exception as err:  # SafetensorError has no public base class; any failure means a bad file
        with open(path, "rb") as handle:
            head = handle.read(4)
        if head == b"PK\x03\x04" or (
            head[:1] == b"\x80" and head[1:2] in (b"\x02", b"\x03", b"\x04", b"\x05")
        ):
            raise CorruptInputError(
                f"{path} is a pickled PyTorch checkpoint, not safetensors",
                expected="a safetensors file (8-byte header length, JSON header, tensors)",
                found="pickle / torch.save zip bytes under a .safetensors name",
                fix="convert it where you trust it: safetensors.torch.save_file(torch.load(...), PATH); "
                "pickles are never loaded here",
            ) from err
        raise CorruptInputError(
            f"cannot read safetensors file {path} for {key}",
            expected="a valid safetensors file",
            found=f"{type(err).__name__}: {str(err).splitlines()[0][:300] if str(err) else ''}",
            fix="re-download or re-save the checkpoint (the header may be damaged or too long)",
        ) from err


def _check_state(model: nn.Module, state: dict[str, torch.Tensor], path: Path, key: str) -> None:
    """Name the missing, unexpected and wrongly shaped tensors instead of a generic load failure."""
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in state.items()}
    missing = sorted(set(want) - set(got))
    unexpected = sorted(set(got) - set(want))
    shapes = [
        f"{k}: {got[k]} (expected {want[k]})" for k in sorted(set(want) & set(got)) if want[k] != got[k]
    ]
    if missing or unexpected or shapes:
        parts = [
            f"missing {missing[:5]}" * bool(missing),
            f"unexpected {unexpected[:5]}" * bool(unexpected),
            f"wrong shapes {shapes[:5]}" * bool(shapes),
        ]
        raise CorruptInputError(
            f"weights {path} do not fit {key}",
            expected=f"the {len(want)} tensors of {key} ({type(model).__name__}) with their shapes",
            found="; ".join(p for p in parts if p),
            fix="pass the checkpoint of this encoder (see `phenocell benchmark encoders`)",
        )


def _download(cfg: EncoderConfig, trust_remote_code: bool) -> nn.Module:
    hub_id = str(cfg.hub_id)
    if cfg.backend == "transformers":
        return backends.dinov2_from_hub(
            hub_id,
            cfg.patch_size,
            cfg.prefix_tokens,
            remote_code=cfg.remote_code,
            trust_remote_code=trust_remote_code,
        )
    if cfg.backend == "titan":
        return backends.titan_trunk(hub_id, cfg.patch_size, trust_remote_code=trust_remote_code)
    if cfg.backend == "musk":
        return backends.musk_model(cfg.arch, cfg.patch_size, pretrained_id=hub_id)
    timm = import_timm()
    return timm.create_model(f"hf-hub:{hub_id}", pretrained=True, **cfg.timm_kwargs)


def _from_hub(cfg: EncoderConfig, trust_remote_code: bool = False) -> nn.Module:
    try:
        return _download(cfg, trust_remote_code)
    except PhenoCellError:
        raise
    except Exception as err:  # network, gated repo, missing file: all mean "no weights here"
        raise MissingInputError(
            f"could not get the weights of {cfg.key} from the Hub ({cfg.hub_id})",
            expected="a reachable Hub with access granted to this gated model, or a local checkpoint",
            found=f"{type(err).__name__}: {str(err).splitlines()[0][:200] if str(err) else ''}",
            fix=f"accept the licence at https://huggingface.co/{cfg.hub_id} and run `hf auth login`, "
            "or download model.safetensors elsewhere and pass --weights PATH",
        ) from err


class FrozenEncoder(nn.Module):
    """A registry encoder returning NCHW token grids at the requested taps.

    Frozen (the paper): eval mode, no gradients, run under ``inference_mode``. ``trainable=True`` is the
    authors' released UNETR code (its encoder is never frozen): gradients flow, ``train()`` reaches the model.
    """

    def __init__(
        self, cfg: EncoderConfig, model: nn.Module, weights_id: str, trainable: bool = False
    ) -> None:
        super().__init__()
        self.cfg, self.model, self.weights_id, self.trainable = cfg, model.eval(), weights_id, trainable
        for param in self.model.parameters():
            param.requires_grad_(trainable)
        self.mean: torch.Tensor
        self.std: torch.Tensor
        self.register_buffer("mean", torch.tensor(cfg.mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(cfg.std).view(1, 3, 1, 1), persistent=False)

    def train(self, mode: bool = True) -> FrozenEncoder:
        """Frozen: stay in eval mode whatever the caller asks; trainable: as asked."""
        return super().train(mode and self.trainable)

    def forward(self, images: torch.Tensor, spec: FeatureSpec) -> list[torch.Tensor]:
        """Images (B, 3, S, S) in [0, 1] at the encoder input size → feature grids (B, C, S/p, S/p).

        Frozen, it runs under ``torch.inference_mode``: convert the results (``.float()``) before autograd
        sees them. Trainable, it records gradients.
        """
        if images.ndim != 4 or images.shape[1] != 3:
            raise ValueError(f"expected images (B, 3, H, W), got {tuple(images.shape)}")
        with torch.inference_mode(not self.trainable):
            model: Any = self.model
            if isinstance(model, PixelStats):
                grids = model.forward_intermediates(images, list(spec.taps))
                return grids[-1:] if spec.final_norm else grids
            x = (images - self.mean) / self.std
            if spec.final_norm:
                tokens = model.forward_features(x)
                h, w = x.shape[-2] // self.cfg.patch_size, x.shape[-1] // self.cfg.patch_size
                return [backends.tokens_to_grid(tokens, int(model.num_prefix_tokens), h, w)]
            out: Any = model.forward_intermediates(
                x, indices=list(spec.taps), output_fmt="NCHW", intermediates_only=True, norm=False
            )
            return list(out)


def build_encoder(
    key: str,
    *,
    weights: Path | None = None,
    small: bool = False,
    random_weights: bool = False,
    trust_remote_code: bool = False,
    trainable: bool = False,
) -> FrozenEncoder:
    """Build a registry entry, frozen unless ``trainable``.

    Weights: ``weights`` (safetensors) if given; else random (seeded) for baselines, test entries,
    ``small`` (the test-size architecture) and ``random_weights`` (the full-size architecture: real memory
    and speed without a download); else the Hub checkpoint.
    """
    cfg = ENCODERS.get(key)
    cfg = cfg.small() if small else cfg
    if weights is None and cfg.hub_id is not None and not (small or random_weights):
        return FrozenEncoder(cfg, _from_hub(cfg, trust_remote_code), f"hf-hub:{cfg.hub_id}", trainable)
    model = _architecture(cfg)
    if weights is not None:
        _load_safetensors(model, Path(weights), key)
        weights_id = "sha256:" + sha256_file(Path(weights))
    else:
        weights_id = f"random:seed={cfg.seed}" if cfg.backend != "stats" else "none"
    return FrozenEncoder(cfg, model, weights_id, trainable)
