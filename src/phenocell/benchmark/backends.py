"""Encoders that are not timm models, wrapped in timm's interface.

Each wrapper offers ``forward_features``, ``forward_intermediates`` and ``num_prefix_tokens``, so
:class:`~phenocell.benchmark.frozen.FrozenEncoder` treats every entry alike.

- ``transformers``: a DINOv2 model in transformers format (Phikon-v2: ``owkin/phikon-v2``).
  ``last_hidden_state`` is the final-normed output; ``hidden_states[i]`` is block i's output (no norm).
- ``titan``: the CONCH v1.5 trunk that ``MahmoodLab/TITAN``'s remote code returns from ``return_conch()``
  (needs ``trust_remote_code``): its own ViT-L/16 class (width 1024, 24 blocks, 16 heads, MLP ratio 4, qkv
  bias, LayerScale initialised at 1.0, CLS token, final LayerNorm) whose ``state_dict`` has timm's
  ``vit_large_patch16_224`` names. It has no ``forward_intermediates`` (and its ``get_intermediate_layers``
  is broken), so :class:`BlockTaps` takes block outputs with forward hooks, as the authors do.
- ``musk``: ``musk_large_patch16_384`` from the ``musk`` package (not on PyPI), whose
  ``forward(image=x, with_head=False, out_norm=False, ms_aug=False, return_global=False)`` returns
  ``(tokens, None)``: (B, 1 + h*w, C), CLS first, after the encoder's final LayerNorm. Block outputs are
  taken with forward hooks on ``beit3.encoder.layers`` (:func:`hooked`; each returns ``(x, l_aux)``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import torch
from torch import nn

from phenocell.benchmark.compat import import_timm
from phenocell.errors import InvalidOptionError, MissingInputError

# its package declares no dependencies; it imports timm, einops, fairscale, huggingface_hub, safetensors
MUSK_INSTALL = "pip install git+https://github.com/lilab-stanford/MUSK einops fairscale"


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
    """A transformers ViT (DINOv2, DINOv2 with registers, ViTModel) with timm's feature methods."""

    def __init__(self, model: nn.Module, patch_size: int, prefix: int | None = None) -> None:
        super().__init__()
        self.model, self.patch = model, patch_size
        registers = int(getattr(model.config, "num_register_tokens", 0) or 0)
        self.num_prefix_tokens = 1 + registers if prefix is None else prefix

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final-normed tokens (B, N, C)."""
        return self.model(pixel_values=x).last_hidden_state

    def forward_intermediates(self, x: torch.Tensor, indices: list[int], **_: Any) -> list[torch.Tensor]:
        """Block outputs (no final norm) at ``indices`` (0-based) as (B, C, h, w) grids."""
        hidden = self.model(pixel_values=x, output_hidden_states=True).hidden_states
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        return [tokens_to_grid(hidden[i + 1], self.num_prefix_tokens, h, w) for i in indices]


def dinov2_from_hub(
    hub_id: str, patch_size: int, prefix: int, *, remote_code: bool = False, trust_remote_code: bool = False
) -> nn.Module:
    """Transformers-format checkpoints from the Hub (Phikon, Phikon-v2; Hibou through its repo's code)."""
    if remote_code:
        require_remote_code(hub_id, trust_remote_code)
    transformers = import_transformers()
    model = transformers.AutoModel.from_pretrained(
        hub_id, torch_dtype=torch.float32, trust_remote_code=remote_code
    )
    return HFDinov2(model, patch_size, prefix)


def dinov2_random(arch: str, kwargs: dict[str, Any], seed: int) -> nn.Module:
    """A randomly initialised transformers model of class ``arch`` and the given config.

    ``arch`` is ``Dinov2Model``, ``Dinov2WithRegistersModel`` or ``ViTModel``; used by tests and by
    full-size builds without a download.
    """
    transformers = import_transformers()
    torch.manual_seed(seed)
    config = getattr(transformers, arch.replace("Model", "Config"))(**kwargs)
    extra = {"add_pooling_layer": False} if arch == "ViTModel" else {}
    return HFDinov2(getattr(transformers, arch)(config, **extra), int(kwargs["patch_size"]))


def require_remote_code(hub_id: str, trust_remote_code: bool) -> None:
    """Refuse to run a Hub repo's code unless the user said ``--trust-remote-code``."""
    if not trust_remote_code:
        raise InvalidOptionError(
            f"{hub_id} loads through code from its Hub repo",
            expected="--trust-remote-code (you have read that repo's code)",
            found="trust_remote_code not given",
            fix=f"review https://huggingface.co/{hub_id} and pass --trust-remote-code",
        )


def hooked(blocks: Any, indices: list[int], run: Callable[[], Any]) -> list[torch.Tensor]:
    """The outputs (B, N, C) of ``blocks[i]`` (an ``nn.ModuleList`` / ``Sequential``) while ``run()`` runs.

    Negative indices count from the end; outputs given as (N, B, C) (BEiT-3) are transposed.
    """
    captured: dict[int, torch.Tensor] = {}
    wanted = [i % len(blocks) for i in indices]

    def keep(i: int) -> Any:
        def hook(_: nn.Module, __: Any, output: Any) -> None:
            captured[i] = output[0] if isinstance(output, (tuple, list)) else output

        return hook

    handles = [blocks[i].register_forward_hook(keep(i)) for i in wanted]
    try:
        batch = int(run().shape[0])
    finally:
        for handle in handles:
            handle.remove()
    return [captured[i] if captured[i].shape[0] == batch else captured[i].transpose(0, 1) for i in wanted]


class BlockTaps(nn.Module):
    """A ViT trunk without ``forward_intermediates`` (TITAN's CONCH v1.5): taps through block hooks.

    The trunk needs ``blocks``, ``forward_features`` (final-normed tokens) and ``num_prefix_tokens``.
    """

    trunk: Any

    def __init__(self, trunk: nn.Module, patch_size: int) -> None:
        super().__init__()
        self.trunk, self.patch = trunk, patch_size
        self.num_prefix_tokens = int(getattr(trunk, "num_prefix_tokens", 1))

    @property
    def blocks(self) -> Any:
        """The trunk's transformer blocks."""
        return self.trunk.blocks

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final-normed tokens (B, N, C)."""
        out: torch.Tensor = self.trunk.forward_features(x)
        return out

    def forward_intermediates(self, x: torch.Tensor, indices: list[int], **_: Any) -> list[torch.Tensor]:
        """Block outputs (no final norm) at ``indices`` as (B, C, h, w) grids."""
        tokens = hooked(self.trunk.blocks, indices, lambda: self.trunk.forward_features(x))
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        return [tokens_to_grid(t, self.num_prefix_tokens, h, w) for t in tokens]


def titan_trunk(hub_id: str, patch_size: int, *, trust_remote_code: bool) -> nn.Module:
    """The CONCH v1.5 trunk from TITAN's remote code (refused unless ``trust_remote_code``), hooked."""
    require_remote_code(hub_id, trust_remote_code)
    transformers = import_transformers()
    titan = transformers.AutoModel.from_pretrained(hub_id, trust_remote_code=True)
    conch, _ = titan.return_conch()
    return BlockTaps(conch.trunk, patch_size)


def titan_random(arch: str, patch_size: int, kwargs: dict[str, Any], seed: int | None) -> nn.Module:
    """The CONCH v1.5 trunk architecture as a timm ViT with random weights, hooked like the real one."""
    timm = import_timm()
    if seed is not None:
        torch.manual_seed(seed)
    return BlockTaps(timm.create_model(arch, pretrained=False, **kwargs), patch_size)


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
    """MUSK's vision tower with timm's feature methods (patch tokens after its first, CLS, token).

    Its state dict is MUSK's own, under MUSK's names (those its checkpoint and loader use): MUSK's parts are
    registered here directly rather than under a ``model.`` prefix, and the blocks are not registered twice.
    """

    num_prefix_tokens = 1
    model: Any

    def __init__(self, model: nn.Module, patch_size: int) -> None:
        super().__init__()
        object.__setattr__(self, "model", model)  # called, not registered: its parts are, by name, below
        for name, child in model.named_children():
            self.add_module(name, child)
        for name, param in model.named_parameters(recurse=False):
            self.register_parameter(name, param)
        self.patch = patch_size

    @property
    def blocks(self) -> Any:
        """The transformer blocks (``beit3.encoder.layers``)."""
        return self.model.beit3.encoder.layers

    def _tokens(self, x: torch.Tensor) -> torch.Tensor:
        out = self.model(image=x, with_head=False, out_norm=False, ms_aug=False, return_global=False)
        return out[0] if isinstance(out, (tuple, list)) else out

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """Final tokens (B, N, C) as MUSK returns them (after the encoder's final LayerNorm)."""
        return self._tokens(x)

    def forward_intermediates(self, x: torch.Tensor, indices: list[int], **_: Any) -> list[torch.Tensor]:
        """Block outputs at ``indices`` as (B, C, h, w) grids (hooks on the encoder layers)."""
        tokens = hooked(self.blocks, indices, lambda: self._tokens(x))
        h, w = x.shape[-2] // self.patch, x.shape[-1] // self.patch
        return [tokens_to_grid(t, self.num_prefix_tokens, h, w) for t in tokens]


def musk_model(
    arch: str,
    patch_size: int,
    *,
    pretrained_id: str | None,
    input_size: int = 384,
    kwargs: dict[str, Any] | None = None,
) -> nn.Module:
    """Build MUSK (after importing ``musk``) and load its Hub weights when asked.

    ``arch`` is built through timm, as MUSK's README does. Test-size ``kwargs`` (``depth``, ``embed_dim``,
    ``num_heads``, ``mlp_ratio``: :meth:`~phenocell.benchmark.encoder_config.EncoderConfig.small`) build
    MUSK's own model class at that size and ``input_size`` instead: its timm function ignores them. The
    weights come through the Hub cache (not MUSK's default download, ``~/.cache/model.safetensors``, which
    any other file of that name would stand in for) and MUSK's loader.
    """
    utils = import_musk()
    timm = import_timm()
    model = _musk_at_size(input_size, patch_size, kwargs) if kwargs else timm.create_model(arch)
    if pretrained_id is not None:
        import huggingface_hub

        path = huggingface_hub.hf_hub_download(pretrained_id, "model.safetensors")
        utils.load_model_and_may_interpolate(path, model, "model|module", "")
    return MuskBackbone(model, patch_size)


def _musk_at_size(input_size: int, patch_size: int, kwargs: dict[str, Any]) -> nn.Module:
    """MUSK's model class at another width / depth (multiway BEiT-3 as ``musk_large_patch16_384`` sets it)."""
    modeling = importlib.import_module("musk.modeling")
    config = importlib.import_module("musk.torchscale.architecture.config")
    width = int(kwargs["embed_dim"])
    args = config.EncoderConfig(
        img_size=input_size,
        patch_size=patch_size,
        vocab_size=64010,
        multiway=True,
        layernorm_embedding=False,
        normalize_output=True,
        no_output_layer=True,
        encoder_embed_dim=width,
        encoder_attention_heads=int(kwargs["num_heads"]),
        encoder_ffn_embed_dim=int(width * float(kwargs.get("mlp_ratio", 4.0))),
        encoder_layers=int(kwargs["depth"]),
    )
    model: nn.Module = modeling.MUSK(args)
    return model
