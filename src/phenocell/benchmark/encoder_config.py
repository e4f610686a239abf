"""Encoder registry machinery: the entry record (:class:`EncoderConfig`), the registry and entry builders.

An entry is declared in two parts, kept apart as timm keeps a model's architecture apart from its
``default_cfgs``: an :class:`Architecture` (what is built: network, backend, token geometry, constructor
keywords) and its :class:`Weights` (where the weights come from and how the input is prepared: Hub id,
licence, input size, mean / std, remote code, the seed of random weights). :meth:`EncoderConfig.join`
makes the flat record the rest of the benchmark reads and ``results.json`` records.

The entries themselves live in :mod:`phenocell.benchmark.encoders` (the reference set, baselines, the test
encoder) and :mod:`phenocell.benchmark.encoders_more` (the encoders of Vitoria et al.'s benchmark), each
with a table of weights beside its architectures.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any, Literal

from torch import nn

from phenocell.benchmark.compat import import_timm
from phenocell.benchmark.registry import Registry

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
INCEPTION_MEAN = (0.5, 0.5, 0.5)
INCEPTION_STD = (0.5, 0.5, 0.5)
Backend = Literal["timm", "transformers", "titan", "musk", "stats"]
RGB = tuple[float, float, float]
NON_COMMERCIAL_NO_DERIVATIVES = "cc-by-nc-nd-4.0"


@dataclass(frozen=True, kw_only=True)
class Architecture:
    """What an entry builds (timm's model function): the network, its backend and token geometry.

    Attributes:
        arch: the timm / transformers / backend architecture name.
        patch_size: pixels per token side.
        embed_dim: token width.
        depth: number of blocks.
        prefix_tokens: CLS + register tokens dropped from the patch grid.
        backend: how the network is built and loaded.
        kwargs: constructor keywords (timm ``create_model`` / transformers config).
        input_size_kwarg: the constructor keyword that takes the weights' input size (``img_size``), if any.
    """

    arch: str
    patch_size: int
    embed_dim: int
    depth: int
    prefix_tokens: int
    backend: Backend = "timm"
    kwargs: dict[str, Any] = field(default_factory=dict)
    input_size_kwarg: str | None = None


@dataclass(frozen=True, kw_only=True)
class Weights:
    """Where an entry's weights come from and how its input is prepared (timm's ``pretrained_cfg``).

    Attributes:
        hub_id: the Hub repo of the weights (``None``: random weights drawn with ``seed``).
        license: the weights' licence (most pathology encoders are gated: accept it on the Hub).
        input_size: the input side the weights were trained at (tiles are resized to it when different).
        mean: per-channel normalisation mean.
        std: per-channel normalisation std.
        seed: the seed of random weights (baselines, the test encoder).
        remote_code: the Hub weights load through code from their repo (``--trust-remote-code``).
        source: where these facts come from (model cards, code).
    """

    hub_id: str | None
    license: str
    input_size: int = 224
    mean: RGB = IMAGENET_MEAN
    std: RGB = IMAGENET_STD
    seed: int | None = None
    remote_code: bool = False
    source: str = ""


@dataclass(frozen=True, kw_only=True)
class EncoderConfig:
    """Everything needed to build, load and feed one encoder: an architecture joined with its weights.

    Made by :meth:`join`; flat, as the rest of the benchmark reads it and ``results.json`` records it.
    """

    key: str
    arch: str
    hub_id: str | None
    input_size: int
    patch_size: int
    embed_dim: int
    depth: int
    prefix_tokens: int
    license: str
    mean: tuple[float, float, float] = IMAGENET_MEAN
    std: tuple[float, float, float] = IMAGENET_STD
    timm_kwargs: dict[str, Any] = field(default_factory=dict)
    seed: int | None = None  # random-init entries: the seed of their weights
    backend: Backend = "timm"
    remote_code: bool = False  # the Hub weights load through code from their repo (--trust-remote-code)
    source: str = ""  # where the entry's facts come from (model cards, code)

    @classmethod
    def join(cls, key: str, architecture: Architecture, weights: Weights) -> EncoderConfig:
        """The registry record ``key``: ``architecture`` loaded with ``weights``."""
        kwargs = dict(architecture.kwargs)
        if architecture.input_size_kwarg is not None:
            kwargs = {architecture.input_size_kwarg: weights.input_size, **kwargs}
        return cls(
            key=key,
            arch=architecture.arch,
            hub_id=weights.hub_id,
            input_size=weights.input_size,
            patch_size=architecture.patch_size,
            embed_dim=architecture.embed_dim,
            depth=architecture.depth,
            prefix_tokens=architecture.prefix_tokens,
            license=weights.license,
            mean=weights.mean,
            std=weights.std,
            timm_kwargs=kwargs,
            seed=weights.seed,
            backend=architecture.backend,
            remote_code=weights.remote_code,
            source=weights.source,
        )

    def small(self) -> EncoderConfig:
        """The same architecture at test size: 4 blocks, 64-dim, MLP ratio 4 (keeps SwiGLU widths even)."""
        if self.backend == "transformers":
            kwargs = dict(
                self.timm_kwargs,
                hidden_size=64,
                num_hidden_layers=4,
                num_attention_heads=2,
                intermediate_size=256,
            )
            kwargs["image_size"] = self.patch_size * 4
        else:
            kwargs = dict(self.timm_kwargs, depth=4, embed_dim=64, num_heads=2, mlp_ratio=4.0)
        return replace(self, embed_dim=64, depth=4, input_size=self.patch_size * 4, timm_kwargs=kwargs)

    def taps(self, mode: str = "last4") -> list[int]:
        """UNETR block indices (0-based).

        ``last4``: the last four blocks (reference: the authors' ``out_indices=(-4, -3, -2, -1)``);
        ``spread``: depth/4 x {1, 2, 3, 4} (the original UNETR).
        """
        if mode == "spread":
            return [self.depth * k // 4 - 1 for k in (1, 2, 3, 4)]
        return [self.depth - 4 + k for k in range(4)]


ENCODERS: Registry[EncoderConfig] = Registry("encoder")


def vit(
    arch: str,
    *,
    patch_size: int,
    embed_dim: int,
    depth: int,
    prefix_tokens: int,
    backend: Backend = "timm",
    timm: dict[str, Any] | None = None,
) -> Architecture:
    """A timm ViT without classifier, at any input size (``dynamic_img_size``).

    ``timm`` holds the ``create_model`` keywords beyond the patch size (``init_values``, ``mlp_ratio``, and
    width / depth where they differ from ``arch``'s); the input size comes from the entry's weights.
    """
    kwargs = {"patch_size": patch_size, "num_classes": 0, "dynamic_img_size": True, **(timm or {})}
    return Architecture(
        arch=arch,
        patch_size=patch_size,
        embed_dim=embed_dim,
        depth=depth,
        prefix_tokens=prefix_tokens,
        backend=backend,
        kwargs=kwargs,
        input_size_kwarg="img_size",
    )


def transformers_vit(
    arch: str,
    *,
    width: int,
    blocks: int,
    heads: int,
    patch_size: int,
    prefix_tokens: int,
    config: dict[str, Any] | None = None,
) -> Architecture:
    """A transformers-format ViT / DINOv2 (MLP 4x wide); registers are the prefix tokens beyond the CLS.

    ``config`` holds further transformers config keys; the input size comes from the entry's weights.
    """
    kwargs: dict[str, Any] = {
        "hidden_size": width,
        "num_hidden_layers": blocks,
        "num_attention_heads": heads,
        "intermediate_size": 4 * width,
        "patch_size": patch_size,
        **(config or {}),
    }
    if prefix_tokens > 1:
        kwargs["num_register_tokens"] = prefix_tokens - 1
    return Architecture(
        arch=arch,
        patch_size=patch_size,
        embed_dim=width,
        depth=blocks,
        prefix_tokens=prefix_tokens,
        backend="transformers",
        kwargs=kwargs,
        input_size_kwarg="image_size",
    )


def swiglu() -> dict[str, Any]:
    """Timm keywords of a SwiGLU MLP (packed gate, SiLU): UNI2-h's and the Virchows' blocks."""
    timm = import_timm()
    return {"mlp_layer": timm.layers.SwiGLUPacked, "act_layer": nn.SiLU}
