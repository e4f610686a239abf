"""Encoders that are not timm models, wrapped in timm's interface.

Each wrapper offers ``forward_features``, ``forward_intermediates`` and ``num_prefix_tokens``, so
:class:`~phenocell.benchmark.frozen.FrozenEncoder` treats every entry alike.

- ``transformers``: a DINOv2 model in transformers format (Phikon-v2: ``owkin/phikon-v2``).
  ``last_hidden_state`` is the final-normed output; ``hidden_states[i]`` is block i's output (no norm).
- ``titan``: the CONCH v1.5 trunk (a timm ViT) that ``MahmoodLab/TITAN``'s remote code returns from
  ``return_conch()``; needs ``trust_remote_code``.
- ``musk``: ``musk_large_patch16_384`` from the ``musk`` package (not on PyPI), whose forward returns
  ``(tokens, ...)``; block outputs are taken with forward hooks on its encoder layers.
"""

from __future__ import annotations

import importlib
from typing import Any

import torch
from torch import nn

from phenocell.benchmark.compat import import_timm
from phenocell.errors import InvalidOptionError, MissingInputError

MUSK_INSTALL = "pip install git+https://github.com/lilab-stanford/MUSK (and its requirements)"


def import_transformers() -> Any:
    """``transformers``, imported after the torchvision work-around of :func:`import_timm`."""
    import_timm()
    try:
        return importlib.import_module("transformers")
    except ImportError as err:
        raise MissingInputError(
            "this encoder needs the transformers package",
            expected="transformers installed",
            found=str(err),
            fix="pip install 'phenocell[benchmark]' (or pip install transformers)",
        ) from err


def tokens_to_grid(tokens: torch.Tensor, prefix: int, height: int, width: int) -> torch.Tensor:
    """(B, prefix + h*w, C) tokens → (B, C, h, w), dropping the prefix (CLS / register) tokens."""
    patches = tokens[:, prefix:, :]
    b, n, c = patches.shape
    if n != height * width:
        raise ValueError(f"expected {height * width} patch tokens, got {n}")
    return patches.transpose(1, 2).reshape(b, c, height, width)


class HFDinov2(nn.Module):
    """A transformers DINOv2 model with timm's feature methods."""

    def __init__(self, model: nn.Module, patch_size: int) -> None:
        super().__init__()
        self.model, self.patch = model, patch_size
        self.num_prefix_tokens = 1 + int(getattr(model.config, "num_register_tokens", 0) or 0)

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final-normed tokens (B, N, C)."""
        return self.model(pixel_values=x).last_hidden_state

    def forward_intermediates(self, x: torch.Tensor, indices: list[int], **_: Any) -> list[torch.Tensor]:
        """Block outputs (no final norm) at ``indices`` (0-based) as (B, C, h, w) grids."""
        hidden = self.model(pixel_values=x, output_hidden_states=True).hidden_states
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        return [tokens_to_grid(hidden[i + 1], self.num_prefix_tokens, h, w) for i in indices]


def dinov2_from_hub(hub_id: str, patch_size: int) -> nn.Module:
    """Phikon-v2 and other transformers-format DINOv2 checkpoints from the Hub."""
    transformers = import_transformers()
    return HFDinov2(transformers.AutoModel.from_pretrained(hub_id, torch_dtype=torch.float32), patch_size)


def dinov2_random(kwargs: dict[str, Any], seed: int) -> nn.Module:
    """A randomly initialised transformers DINOv2 of the given config (tests, small sizes)."""
    transformers = import_transformers()
    torch.manual_seed(seed)
    config = transformers.Dinov2Config(**kwargs)
    return HFDinov2(transformers.Dinov2Model(config), int(kwargs["patch_size"]))


def titan_trunk(hub_id: str, *, trust_remote_code: bool) -> nn.Module:
    """The CONCH v1.5 trunk from TITAN's remote code (refused unless ``trust_remote_code``)."""
    if not trust_remote_code:
        raise InvalidOptionError(
            f"{hub_id} loads through code from its Hub repo",
            expected="--trust-remote-code (you have read that repo's code)",
            found="trust_remote_code not given",
            fix=f"review https://huggingface.co/{hub_id} and pass --trust-remote-code",
        )
    transformers = import_transformers()
    titan = transformers.AutoModel.from_pretrained(hub_id, trust_remote_code=True)
    conch, _ = titan.return_conch()
    return conch.trunk


def import_musk() -> Any:
    """The ``musk`` package (registers ``musk_large_patch16_384`` with timm), or a clear error."""
    import_timm()
    try:
        importlib.import_module("musk.modeling")
        return importlib.import_module("musk.utils")
    except ImportError as err:
        raise MissingInputError(
            "the pathology/musk encoder needs the musk package, which is not on PyPI",
            expected="an importable musk package",
            found=f"{type(err).__name__}: {err}",
            fix=MUSK_INSTALL,
        ) from err


class MuskBackbone(nn.Module):
    """MUSK's vision tower with timm's feature methods (patch tokens after its first, CLS, token)."""

    num_prefix_tokens = 1

    def __init__(self, model: nn.Module, patch_size: int, blocks: nn.ModuleList) -> None:
        super().__init__()
        self.model, self.patch, self.blocks = model, patch_size, blocks

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(image=x, with_head=False, out_norm=False, ms_aug=False, return_global=False)
        return out[0] if isinstance(out, (tuple, list)) else out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final tokens (B, N, C) as MUSK returns them."""
        return self._tokens(x)

    def forward_intermediates(self, x: torch.Tensor, indices: list[int], **_: Any) -> list[torch.Tensor]:
        """Block outputs at ``indices`` as (B, C, h, w) grids (hooks on the encoder layers)."""
        captured: dict[int, torch.Tensor] = {}
        wanted = [i % len(self.blocks) for i in indices]

        def keep(i: int) -> Any:
            def hook(_: nn.Module, __: Any, output: Any) -> None:
                tensor = output[0] if isinstance(output, (tuple, list)) else output
                captured[i] = tensor if tensor.shape[0] == x.shape[0] else tensor.transpose(0, 1)

            return hook

        handles = [self.blocks[i].register_forward_hook(keep(i)) for i in wanted]
        try:
            self._tokens(x)
        finally:
            for handle in handles:
                handle.remove()
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        return [tokens_to_grid(captured[i], self.num_prefix_tokens, h, w) for i in wanted]


def musk_model(arch: str, patch_size: int, *, pretrained_id: str | None) -> nn.Module:
    """Build MUSK through timm (after importing ``musk``) and load its Hub weights when asked."""
    utils = import_musk()
    timm = import_timm()
    model = timm.create_model(arch)
    if pretrained_id is not None:
        utils.load_model_and_may_interpolate(f"hf_hub:{pretrained_id}", model, "model|module", "")
    blocks = model.beit3.encoder.layers
    return MuskBackbone(model, patch_size, blocks)
