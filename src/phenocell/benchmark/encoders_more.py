"""More registry entries: the compact encoders of Vitoria et al.'s decoder benchmark.

Phikon (ViT-B/16, transformers), Virchow v1, Hibou-B / Hibou-L, Lunit's DINO ViT-S/8 and Kaiko's ViT-S/16,
ViT-B/16 and ViT-L/14. Each entry's ``source`` says where its facts (hub id, architecture, input size, patch,
prefix tokens, mean/std, licence) come from: public model cards and code. Lunit and Kaiko publish their
checkpoints as GitHub release pickles (``lunit-io/benchmark-ssl-pathology``,
``kaiko-ai/towards_large_pathology_fms``), which are never loaded here: their ``hub_id`` is the timm-format
safetensors copy on the Hub (``1aurent/...``); ``--weights`` takes any safetensors conversion.

Not added: **H-optimus-1** (``bioptimus/H-optimus-1``). Public code loads it with timm like H-optimus-0
(``init_values=1e-5``, the same mean/std), but neither its licence nor its number of register tokens could be
confirmed from a public model card or code, so the entry would carry unconfirmed facts.
"""

from __future__ import annotations

from typing import Any

from phenocell.benchmark.encoder_config import (
    ENCODERS,
    IMAGENET_MEAN,
    IMAGENET_STD,
    EncoderConfig,
    _swiglu,
    _vit,
)

KAIKO_MEAN = KAIKO_STD = (0.5, 0.5, 0.5)
LUNIT_MEAN = (0.70322989, 0.53606487, 0.66096631)
LUNIT_STD = (0.21716536, 0.26081574, 0.20723464)
HIBOU_MEAN = (0.7068, 0.5755, 0.722)
HIBOU_STD = (0.195, 0.2316, 0.1816)
KAIKO_LICENCE = "other (Kaiko Non-Commercial Public License v1)"

_EVA = "kaiko-ai/eva src/eva/vision/models/networks/backbones/pathology/"
_KAIKO = (
    "kaiko-ai/towards_large_pathology_fms: hubconf.py (timm architecture, release 0.0.1 weights), "
    "README.md (224 px, mean/std 0.5), LICENSE (Kaiko Non-Commercial); " + _EVA + "kaiko.py"
)
_KAIKO_COPY = "; timm safetensors copy huggingface.co/1aurent/{}.kaiko_ai_towards_large_pathology_fms"


def _hf(key: str, arch: str, hub: str, shape: tuple[int, int, int, int, int], **kw: Any) -> EncoderConfig:
    """A transformers-format entry at 224 px; ``shape`` is (width, blocks, heads, patch, prefix tokens)."""
    dim, blocks, heads, patch, prefix = shape
    config: dict[str, Any] = {
        "hidden_size": dim,
        "num_hidden_layers": blocks,
        "num_attention_heads": heads,
        "intermediate_size": 4 * dim,
        "patch_size": patch,
        "image_size": 224,
    }
    if prefix > 1:
        config["num_register_tokens"] = prefix - 1
    return EncoderConfig(
        key,
        arch,
        hub,
        224,
        patch,
        dim,
        blocks,
        prefix,
        kw["lic"],
        kw.get("mean", IMAGENET_MEAN),
        kw.get("std", IMAGENET_STD),
        config,
        backend="transformers",
        remote_code=kw.get("remote_code", False),
        source=kw["source"],
    )


@ENCODERS.register("pathology/phikon")
def _phikon() -> EncoderConfig:
    return _hf(
        "pathology/phikon",
        "ViTModel",
        "owkin/phikon",
        (768, 12, 12, 16, 1),
        lic="other (Owkin non-commercial)",
        source="huggingface.co/owkin/phikon card (transformers ViT, ViT-B/16, licence other: Owkin "
        "non-commercial; CLS token only); 224 px and ImageNet mean/std: mahmoodlab/TRIDENT's Phikon encoder "
        "(ViTModel.from_pretrained, get_eval_transforms(imagenet, 224)); " + _EVA + "owkin.py",
    )


@ENCODERS.register("pathology/virchow")
def _virchow() -> EncoderConfig:
    return _vit(
        "pathology/virchow",
        "vit_huge_patch14_224",
        "paige-ai/Virchow",
        224,
        14,
        1280,
        32,
        1,
        "apache-2.0",
        init_values=1e-5,
        mlp_ratio=5.3375,
        **_swiglu(),
        source="huggingface.co/paige-ai/Virchow card (timm hf-hub, mlp_layer=SwiGLUPacked, act_layer=SiLU; "
        "Apache-2.0); ViT-H/14, 1280 wide, 32 blocks, CLS = output[:, 0] and patch tokens output[:, 1:] "
        "(Paige's documented usage as copied in public loaders); ImageNet mean/std (timm resolve_data_config "
        "of the hub config, as in TRIDENT's Virchow encoder); MLP ratio 5.3375 and LayerScale 1e-5: "
        "Virchow2's hub config, the same trunk without registers",
    )


def _hibou(key: str, hub: str, dim: int, blocks: int, heads: int, size: str) -> EncoderConfig:
    return _hf(
        key,
        "Dinov2WithRegistersModel",
        hub,
        (dim, blocks, heads, 14, 5),
        lic="apache-2.0",
        mean=HIBOU_MEAN,
        std=HIBOU_STD,
        remote_code=True,
        source=f"huggingface.co/{hub} card (DINOv2 with registers via trust_remote_code, Apache-2.0); "
        f"HistAI/hibou README (224 px, {size}); {_EVA}histai.py (num_register_tokens 4); mean/std of its "
        "preprocessor_config.json (as copied in public loaders, e.g. slide2vec's Hibou encoder)",
    )


@ENCODERS.register("pathology/hibou-b")
def _hibou_b() -> EncoderConfig:
    return _hibou("pathology/hibou-b", "histai/hibou-b", 768, 12, 12, "ViT-B/14, 85.7 M parameters")


@ENCODERS.register("pathology/hibou-l")
def _hibou_l() -> EncoderConfig:
    return _hibou("pathology/hibou-l", "histai/hibou-L", 1024, 24, 16, "ViT-L/14, 303.7 M parameters")


@ENCODERS.register("pathology/lunit-vits8")
def _lunit() -> EncoderConfig:
    return _vit(
        "pathology/lunit-vits8",
        "vit_small_patch8_224",
        "1aurent/vit_small_patch8_224.lunit_dino",
        224,
        8,
        384,
        12,
        1,
        "other (lunit-non-commercial)",
        mean=LUNIT_MEAN,
        std=LUNIT_STD,
        source="lunit-io/benchmark-ssl-pathology release dino_vit_small_patch8_ep200 through "
        + _EVA
        + "lunit.py "
        "(timm vit_small_patch8_224.dino, the training mean/std in its docstring); timm safetensors copy "
        "huggingface.co/1aurent/vit_small_patch8_224.lunit_dino (licence lunit-non-commercial)",
    )


def _kaiko(
    key: str, arch: str, copy: str, patch: int, dim: int, blocks: int, prefix: int, **kw: Any
) -> EncoderConfig:
    return _vit(
        key,
        arch,
        f"1aurent/{copy}.kaiko_ai_towards_large_pathology_fms",
        224,
        patch,
        dim,
        blocks,
        prefix,
        KAIKO_LICENCE,
        mean=KAIKO_MEAN,
        std=KAIKO_STD,
        source=_KAIKO + _KAIKO_COPY.format(copy),
        **kw,
    )


@ENCODERS.register("pathology/kaiko-vits16")
def _kaiko_s() -> EncoderConfig:
    return _kaiko("pathology/kaiko-vits16", "vit_small_patch16_224", "vit_small_patch16_224", 16, 384, 12, 1)


@ENCODERS.register("pathology/kaiko-vitb16")
def _kaiko_b() -> EncoderConfig:
    return _kaiko("pathology/kaiko-vitb16", "vit_base_patch16_224", "vit_base_patch16_224", 16, 768, 12, 1)


@ENCODERS.register("pathology/kaiko-vitl14")
def _kaiko_l() -> EncoderConfig:
    return _kaiko(
        "pathology/kaiko-vitl14",
        "vit_large_patch14_reg4_dinov2",
        "vit_large_patch14_reg4_224",
        14,
        1024,
        24,
        5,
        init_values=1e-5,
    )
