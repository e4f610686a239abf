"""Encoder registry machinery: the entry record (:class:`EncoderConfig`), the registry and entry builders.

The entries themselves live in :mod:`phenocell.benchmark.encoders` (the reference set, baselines, the test
encoder) and :mod:`phenocell.benchmark.encoders_more` (the encoders of Vitoria et al.'s benchmark).
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


@dataclass(frozen=True)
class EncoderConfig:
    """Everything needed to build, load and feed one encoder."""

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


def _vit(
    key: str,
    arch: str,
    hub: str | None,
    size: int,
    patch: int,
    dim: int,
    blocks: int,
    prefix: int,
    lic: str,
    **kw: Any,
) -> EncoderConfig:
    mean = kw.pop("mean", IMAGENET_MEAN)
    std = kw.pop("std", IMAGENET_STD)
    seed = kw.pop("seed", None)
    backend = kw.pop("backend", "timm")
    source = kw.pop("source", "")
    kwargs = {"img_size": size, "patch_size": patch, "num_classes": 0, "dynamic_img_size": True, **kw}
    return EncoderConfig(
        key, arch, hub, size, patch, dim, blocks, prefix, lic, mean, std, kwargs, seed, backend, source=source
    )


def _swiglu() -> dict[str, Any]:
    timm = import_timm()
    return {"mlp_layer": timm.layers.SwiGLUPacked, "act_layer": nn.SiLU}
