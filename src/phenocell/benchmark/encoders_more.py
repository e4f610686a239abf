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

from phenocell.benchmark.encoder_config import (
    ENCODERS,
    Architecture,
    EncoderConfig,
    Weights,
    swiglu,
    transformers_vit,
    vit,
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


def _hibou(hub: str, size: str) -> Weights:
    source = (
        f"huggingface.co/{hub} card (DINOv2 with registers via trust_remote_code, Apache-2.0); "
        f"HistAI/hibou README (224 px, {size}); {_EVA}histai.py (num_register_tokens 4); mean/std of its "
        "preprocessor_config.json (as copied in public loaders, e.g. slide2vec's Hibou encoder)"
    )
    return Weights(
        hub_id=hub, license="apache-2.0", mean=HIBOU_MEAN, std=HIBOU_STD, remote_code=True, source=source
    )


def _kaiko(copy: str) -> Weights:
    hub = f"1aurent/{copy}.kaiko_ai_towards_large_pathology_fms"
    source = _KAIKO + _KAIKO_COPY.format(copy)
    return Weights(hub_id=hub, license=KAIKO_LICENCE, mean=KAIKO_MEAN, std=KAIKO_STD, source=source)


#: The weights and input preparation of each entry of this module (timm's ``default_cfgs``).
PRETRAINED: dict[str, Weights] = {
    "pathology/phikon": Weights(
        hub_id="owkin/phikon",
        license="other (Owkin non-commercial)",
        source="huggingface.co/owkin/phikon card (transformers ViT, ViT-B/16, licence other: Owkin "
        "non-commercial; CLS token only); 224 px and ImageNet mean/std: mahmoodlab/TRIDENT's Phikon encoder "
        "(ViTModel.from_pretrained, get_eval_transforms(imagenet, 224)); " + _EVA + "owkin.py",
    ),
    "pathology/virchow": Weights(
        hub_id="paige-ai/Virchow",
        license="apache-2.0",
        source="huggingface.co/paige-ai/Virchow card (timm hf-hub, mlp_layer=SwiGLUPacked, act_layer=SiLU; "
        "Apache-2.0); ViT-H/14, 1280 wide, 32 blocks, CLS = output[:, 0] and patch tokens output[:, 1:] "
        "(Paige's documented usage as copied in public loaders); ImageNet mean/std (timm resolve_data_config "
        "of the hub config, as in TRIDENT's Virchow encoder); MLP ratio 5.3375 and LayerScale 1e-5: "
        "Virchow2's hub config, the same trunk without registers",
    ),
    "pathology/hibou-b": _hibou("histai/hibou-b", "ViT-B/14, 85.7 M parameters"),
    "pathology/hibou-l": _hibou("histai/hibou-L", "ViT-L/14, 303.7 M parameters"),
    "pathology/lunit-vits8": Weights(
        hub_id="1aurent/vit_small_patch8_224.lunit_dino",
        license="other (lunit-non-commercial)",
        mean=LUNIT_MEAN,
        std=LUNIT_STD,
        source="lunit-io/benchmark-ssl-pathology release dino_vit_small_patch8_ep200 through "
        + _EVA
        + "lunit.py "
        "(timm vit_small_patch8_224.dino, the training mean/std in its docstring); timm safetensors copy "
        "huggingface.co/1aurent/vit_small_patch8_224.lunit_dino (licence lunit-non-commercial)",
    ),
    "pathology/kaiko-vits16": _kaiko("vit_small_patch16_224"),
    "pathology/kaiko-vitb16": _kaiko("vit_base_patch16_224"),
    "pathology/kaiko-vitl14": _kaiko("vit_large_patch14_reg4_224"),
}


def _entry(key: str, architecture: Architecture) -> EncoderConfig:
    return EncoderConfig.join(key, architecture, PRETRAINED[key])


@ENCODERS.register("pathology/phikon")
def _phikon() -> EncoderConfig:
    vit_b = transformers_vit("ViTModel", width=768, blocks=12, heads=12, patch_size=16, prefix_tokens=1)
    return _entry("pathology/phikon", vit_b)


@ENCODERS.register("pathology/virchow")
def _virchow() -> EncoderConfig:
    timm = {"init_values": 1e-5, "mlp_ratio": 5.3375, **swiglu()}
    return _entry(
        "pathology/virchow",
        vit("vit_huge_patch14_224", patch_size=14, embed_dim=1280, depth=32, prefix_tokens=1, timm=timm),
    )


@ENCODERS.register("pathology/hibou-b")
def _hibou_b() -> EncoderConfig:
    arch = "Dinov2WithRegistersModel"
    return _entry(
        "pathology/hibou-b",
        transformers_vit(arch, width=768, blocks=12, heads=12, patch_size=14, prefix_tokens=5),
    )


@ENCODERS.register("pathology/hibou-l")
def _hibou_l() -> EncoderConfig:
    arch = "Dinov2WithRegistersModel"
    return _entry(
        "pathology/hibou-l",
        transformers_vit(arch, width=1024, blocks=24, heads=16, patch_size=14, prefix_tokens=5),
    )


@ENCODERS.register("pathology/lunit-vits8")
def _lunit() -> EncoderConfig:
    return _entry(
        "pathology/lunit-vits8",
        vit("vit_small_patch8_224", patch_size=8, embed_dim=384, depth=12, prefix_tokens=1),
    )


@ENCODERS.register("pathology/kaiko-vits16")
def _kaiko_s() -> EncoderConfig:
    return _entry(
        "pathology/kaiko-vits16",
        vit("vit_small_patch16_224", patch_size=16, embed_dim=384, depth=12, prefix_tokens=1),
    )


@ENCODERS.register("pathology/kaiko-vitb16")
def _kaiko_b() -> EncoderConfig:
    return _entry(
        "pathology/kaiko-vitb16",
        vit("vit_base_patch16_224", patch_size=16, embed_dim=768, depth=12, prefix_tokens=1),
    )


@ENCODERS.register("pathology/kaiko-vitl14")
def _kaiko_l() -> EncoderConfig:
    arch, timm = "vit_large_patch14_reg4_dinov2", {"init_values": 1e-5}
    return _entry(
        "pathology/kaiko-vitl14",
        vit(arch, patch_size=14, embed_dim=1024, depth=24, prefix_tokens=5, timm=timm),
    )
