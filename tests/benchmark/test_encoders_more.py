"""The encoders added for Vitoria et al.'s benchmark, built full size with random weights on the meta device.

Expected values are the facts confirmed from the public model cards and code (see each entry's ``source``),
written here as literals: token width, depth, patch, prefix (CLS + register) tokens, and where a card states
it the parameter count.
"""

from __future__ import annotations

import pytest
import torch

from phenocell.benchmark.encoders import ENCODERS
from phenocell.benchmark.frozen import FeatureSpec, build_encoder
from phenocell.errors import InvalidOptionError

# key: (width, blocks, patch, prefix tokens, mean, licence word, published parameters in millions or None)
FACTS = {
    "pathology/phikon": (768, 12, 16, 1, (0.485, 0.456, 0.406), "owkin", None),
    "pathology/virchow": (1280, 32, 14, 1, (0.485, 0.456, 0.406), "apache-2.0", 632),  # Virchow paper: 632 M
    "pathology/hibou-b": (768, 12, 14, 5, (0.7068, 0.5755, 0.722), "apache-2.0", 85.7),  # Hibou README
    "pathology/hibou-l": (1024, 24, 14, 5, (0.7068, 0.5755, 0.722), "apache-2.0", 303.7),
    "pathology/lunit-vits8": (384, 12, 8, 1, (0.70322989, 0.53606487, 0.66096631), "lunit", None),
    "pathology/kaiko-vits16": (384, 12, 16, 1, (0.5, 0.5, 0.5), "kaiko", None),
    "pathology/kaiko-vitb16": (768, 12, 16, 1, (0.5, 0.5, 0.5), "kaiko", None),
    "pathology/kaiko-vitl14": (1024, 24, 14, 5, (0.5, 0.5, 0.5), "kaiko", None),
}


def _blocks_and_patch_embed(model: torch.nn.Module) -> tuple[int, torch.nn.Conv2d]:
    """Transformer blocks and the patch-embedding convolution of a timm or transformers ViT."""
    if hasattr(model, "blocks"):  # timm
        return len(model.blocks), model.patch_embed.proj
    inner = model.model  # transformers, wrapped by backends.HFDinov2
    layers = inner.layers if hasattr(inner, "layers") else inner.encoder.layer  # ViTModel / DINOv2
    return len(layers), inner.embeddings.patch_embeddings.projection


def _prefix_parameters(model: torch.nn.Module) -> int:
    """CLS + register tokens, counted from the learned token parameters themselves."""
    if hasattr(model, "blocks"):
        registers = model.reg_token.shape[1] if model.reg_token is not None else 0
        return int(model.cls_token.shape[1]) + int(registers)
    emb = model.model.embeddings
    registers = emb.register_tokens.shape[1] if hasattr(emb, "register_tokens") else 0
    return int(emb.cls_token.shape[1]) + int(registers)


@pytest.mark.parametrize("key", sorted(FACTS))
def test_new_entry_full_size_matches_the_confirmed_facts(key: str) -> None:
    width, depth, patch, prefix, mean, licence, params = FACTS[key]
    with torch.device("meta"):
        enc = build_encoder(key, random_weights=True)
        x = torch.rand(1, 3, 224, 224)
        taps = enc(x, FeatureSpec((depth - 4, depth - 3, depth - 2, depth - 1)))
        (final,) = enc(x, FeatureSpec((depth - 1,), final_norm=True))
    blocks, embed = _blocks_and_patch_embed(enc.model)
    assert (blocks, embed.out_channels, embed.kernel_size) == (depth, width, (patch, patch))
    assert _prefix_parameters(enc.model) == prefix == enc.model.num_prefix_tokens
    grid = -(-224 // patch) if patch != 14 else 16
    assert [tuple(t.shape) for t in taps] == [(1, width, grid, grid)] * 4 and final.shape == (
        1,
        width,
        grid,
        grid,
    )
    cfg = ENCODERS.get(key)
    assert (cfg.input_size, cfg.mean) == (224, mean) and licence in cfg.license.lower()
    assert cfg.source and cfg.hub_id
    if params is not None:  # the published size, within 0.5 %
        count = sum(p.numel() for p in enc.model.parameters()) / 1e6
        assert abs(count - params) / params < 0.005, count


def test_hibou_needs_trust_remote_code_before_any_download() -> None:
    with pytest.raises(InvalidOptionError, match="trust-remote-code"):
        build_encoder("pathology/hibou-b")
