"""Registry entries: architecture at test size, safetensors round trip, token grids, errors.

The Hub loaders of Phikon-v2 and TITAN are faked with the project's own small models (``..._with_fake_loader``
tests): nothing is downloaded here. MUSK's wrapper was checked against the real ``musk`` package (GitHub
lilab-stanford/MUSK at commit 714b666969c1911e5efe70d991140a21030f4ef3, installed without its pinned
requirements beside torch 2.13 CPU, timm 1.0.31, einops, fairscale 0.4.13) on 2026-12-02: the full-size
``musk_large_patch16_384`` with random weights, built through ``backends.musk_model`` and ``build_encoder``,
gave final tokens (1, 577, 1024) equal to ``beit3(visual_tokens=x)["encoder_out"]``, and block taps
(1, 1024, 24, 24) equal to the encoder's own ``return_all_hiddens`` states. The ``real_musk`` tests below
repeat those checks (test size with values, full size on the meta device) wherever ``musk`` is importable and
skip elsewhere; a stand-in written for the test would check our copy of BEiT-3, not MUSK, so without the
package only the wrapper's own parts (state-dict names, the install message) are tested.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import pytest
import torch
from safetensors.torch import save_file

from phenocell.benchmark import backends, encoders, encoders_more
from phenocell.benchmark.encoder_config import Weights, vit
from phenocell.benchmark.encoders import ENCODERS, EncoderConfig
from phenocell.benchmark.frozen import FeatureSpec, build_encoder, feature_spec
from phenocell.benchmark.registry import Registry
from phenocell.errors import CorruptInputError, InvalidInputError, InvalidOptionError, MissingInputError

REQUIRED = {
    "pathology/uni",
    "pathology/uni2-h",
    "pathology/virchow2",
    "pathology/phikon-v2",
    "pathology/prov-gigapath",
    "pathology/h-optimus-0",
    "baseline/random-vit-b16",
    "baseline/pixel-stats",
    "test/vit-tiny",
    "pathology/titan",
    "pathology/musk",
    "pathology/phikon",
    "pathology/virchow",
    "pathology/hibou-b",
    "pathology/hibou-l",
    "pathology/lunit-vits8",
    "pathology/kaiko-vits16",
    "pathology/kaiko-vitb16",
    "pathology/kaiko-vitl14",
}


def test_registry_has_every_entry() -> None:
    assert set(ENCODERS.keys()) == REQUIRED
    assert {ENCODERS.get(k).patch_size for k in REQUIRED} == {8, 14, 16}


def test_every_entry_has_its_weights_declared_apart_and_every_weights_row_an_entry() -> None:
    tables = [encoders.PRETRAINED, encoders_more.PRETRAINED]
    assert not set(tables[0]) & set(tables[1])
    assert set(tables[0]) | set(tables[1]) == set(ENCODERS.keys())
    for key in ENCODERS:
        weights, cfg = {**tables[0], **tables[1]}[key], ENCODERS.get(key)
        assert (cfg.hub_id, cfg.license, cfg.input_size, cfg.mean, cfg.std) == (
            weights.hub_id,
            weights.license,
            weights.input_size,
            weights.mean,
            weights.std,
        )


def test_entries_are_keyword_only_and_the_input_size_comes_from_the_weights() -> None:
    with pytest.raises(TypeError):
        Weights("MahmoodLab/UNI", "cc-by-nc-nd-4.0")  # type: ignore[misc]
    with pytest.raises(TypeError):
        vit("vit_large_patch16_224", 16, 1024, 24, 1)  # type: ignore[misc]
    arch = vit("vit_small_patch16_224", patch_size=16, embed_dim=384, depth=12, prefix_tokens=1)
    cfg = EncoderConfig.join("x/vit", arch, Weights(hub_id=None, license="n/a", input_size=384))
    assert cfg.input_size == cfg.timm_kwargs["img_size"] == 384 and cfg.timm_kwargs["patch_size"] == 16


HAS_MUSK = importlib.util.find_spec("musk") is not None
real_musk = pytest.mark.skipif(
    not HAS_MUSK, reason=f"needs the musk package (GitHub only, not on PyPI): {backends.MUSK_INSTALL}"
)
ROUND_TRIP = [
    pytest.param(k, marks=real_musk) if k == "pathology/musk" else k
    for k in sorted(REQUIRED - {"baseline/pixel-stats"})
]


@pytest.mark.parametrize("key", ROUND_TRIP)
def test_safetensors_round_trip_and_token_grid(key: str, tmp_path: Path) -> None:
    small = key.startswith("pathology/") or key == "baseline/random-vit-b16"
    enc = build_encoder(key, small=small)
    cfg = enc.cfg
    assert enc.model.num_prefix_tokens == cfg.prefix_tokens
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in enc.model.state_dict().items()}, str(path))
    again = build_encoder(key, small=small, weights=path)
    x = torch.rand(2, 3, cfg.input_size, cfg.input_size)
    taps = FeatureSpec(tuple(cfg.taps()))
    a, b = enc(x, taps), again(x, taps)
    grid = cfg.input_size // cfg.patch_size
    for ta, tb in zip(a, b, strict=True):
        assert ta.shape == (2, cfg.embed_dim, grid, grid)
        assert torch.equal(ta, tb)
    assert again.weights_id.startswith("sha256:")


def test_real_configs_match_published_architectures() -> None:
    uni, virchow = ENCODERS.get("pathology/uni"), ENCODERS.get("pathology/virchow2")
    assert (uni.embed_dim, uni.depth, uni.patch_size, uni.hub_id) == (1024, 24, 16, "MahmoodLab/UNI")
    assert (virchow.embed_dim, virchow.depth, virchow.patch_size, virchow.prefix_tokens) == (1280, 32, 14, 5)
    assert ENCODERS.get("pathology/h-optimus-0").mean != ENCODERS.get("pathology/uni").mean
    assert uni.taps("spread") == [5, 11, 17, 23]
    musk = ENCODERS.get("pathology/musk")
    assert (musk.input_size, musk.patch_size, musk.mean, musk.std) == (384, 16, (0.5,) * 3, (0.5,) * 3)
    assert ENCODERS.get("pathology/phikon-v2").backend == "transformers"


@pytest.mark.parametrize("key", sorted(REQUIRED))
def test_unetr_taps_are_the_last_four_blocks(key: str) -> None:
    cfg = ENCODERS.get(key)
    assert cfg.taps() == [cfg.depth - 4, cfg.depth - 3, cfg.depth - 2, cfg.depth - 1]
    spec = feature_spec(cfg, "unetr", linear_input="final_norm", unetr_taps="last4")
    assert spec.taps == tuple(cfg.taps()) and not spec.final_norm


@pytest.mark.parametrize("key", ["test/vit-tiny", "pathology/uni2-h", "pathology/phikon-v2"])
def test_linear_head_reads_final_normed_patch_tokens(key: str) -> None:
    enc = build_encoder(key, small=key != "test/vit-tiny")
    cfg = enc.cfg
    x = torch.rand(2, 3, cfg.input_size, cfg.input_size)
    spec = feature_spec(cfg, "linear", linear_input="final_norm", unetr_taps="last4")
    (grid,) = enc(x, spec)
    tokens = enc.model.forward_features((x - enc.mean) / enc.std)[:, cfg.prefix_tokens :]
    g = cfg.input_size // cfg.patch_size
    assert torch.allclose(grid, tokens.reshape(2, g, g, -1).permute(0, 3, 1, 2))
    (before_norm,) = enc(x, feature_spec(cfg, "linear", linear_input="last_block", unetr_taps="last4"))
    assert not torch.allclose(grid, before_norm)


def test_random_baseline_is_seeded() -> None:
    a, b = build_encoder("test/vit-tiny"), build_encoder("test/vit-tiny")
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not any(p.requires_grad for p in a.parameters())
    a.train()
    assert not a.model.training


def test_pixel_stats_grid() -> None:
    enc = build_encoder("baseline/pixel-stats")
    out = enc(torch.rand(1, 3, 256, 256), FeatureSpec(tuple(enc.cfg.taps())))
    assert len(out) == 4 and out[0].shape == (1, 12, 16, 16)


def test_unknown_and_duplicate_keys() -> None:
    with pytest.raises(InvalidOptionError, match="pathology/uni"):
        ENCODERS.get("pathology/unknown")
    reg: Registry[int] = Registry("thing")
    reg.register("a/b")(lambda: 1)
    with pytest.raises(InvalidOptionError, match="duplicate"):
        reg.register("a/b")(lambda: 2)
    with pytest.raises(InvalidOptionError, match="namespace"):
        reg.register("flat")


def test_bad_weights_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(InvalidInputError, match="safetensors"):
        build_encoder("test/vit-tiny", weights=tmp_path / "w.pt")
    with pytest.raises(MissingInputError):
        build_encoder("test/vit-tiny", weights=tmp_path / "none.safetensors")
    save_file({"nope": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
    with pytest.raises(CorruptInputError, match=r"do not fit test/vit-tiny(.|\n)*unexpected \[.nope.\]"):
        build_encoder("test/vit-tiny", weights=tmp_path / "bad.safetensors")


def test_missing_download_says_how_to_provide_weights(monkeypatch: pytest.MonkeyPatch) -> None:
    from phenocell.benchmark import frozen

    real_from_hub = frozen._from_hub
    timm = frozen.import_timm()

    def no_network(name: str, **kw: object) -> None:
        if name.startswith("hf-hub:"):
            raise OSError("We couldn't connect to 'https://huggingface.co'")
        return timm.models.create_model(name, **kw)

    monkeypatch.setattr(timm, "create_model", no_network)
    cfg = ENCODERS.get("pathology/uni")
    with pytest.raises(MissingInputError, match=r"(?s)MahmoodLab/UNI.*--weights"):
        real_from_hub(cfg)


def test_phikon_v2_loads_its_transformers_repo_wiring_with_fake_loader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from phenocell.benchmark.backends import import_transformers

    transformers = import_transformers()
    small = ENCODERS.get("pathology/phikon-v2").small()
    asked = []

    def fake(hub_id: str, **kw: object) -> torch.nn.Module:
        asked.append(hub_id)
        return transformers.Dinov2Model(transformers.Dinov2Config(**small.timm_kwargs))

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", fake)
    enc = build_encoder("pathology/phikon-v2")
    assert asked == ["owkin/phikon-v2"] and enc.weights_id == "hf-hub:owkin/phikon-v2"
    (grid,) = enc(torch.rand(1, 3, 64, 64), FeatureSpec((23,), final_norm=True))
    assert grid.shape == (1, 64, 4, 4)


class _NoIntermediates(torch.nn.Module):
    """A ViT trunk exposing only what TITAN's CONCH v1.5 class has: blocks, forward_features, prefix count."""

    def __init__(self, vit: torch.nn.Module) -> None:
        super().__init__()
        self.vit, self.blocks, self.num_prefix_tokens = vit, vit.blocks, vit.num_prefix_tokens

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        return self.vit.forward_features(x)


def test_titan_needs_trust_remote_code_and_hooks_the_conch_trunk_wiring_with_fake_loader(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The Hub path, with the loader faked by our own small timm ViT (no download here)."""
    from phenocell.benchmark.backends import import_transformers

    with pytest.raises(InvalidOptionError, match="--trust-remote-code"):
        build_encoder("pathology/titan")
    transformers = import_transformers()
    vit = build_encoder("pathology/titan", small=True).model.trunk  # a timm ViT/16 at test size
    trunk = _NoIntermediates(vit)

    class Titan:
        def return_conch(self) -> tuple[object, None]:
            return type("Conch", (), {"trunk": trunk})(), None

    seen: dict[str, object] = {}

    def fake(hub_id: str, **kw: object) -> Titan:
        seen.update(kw, hub_id=hub_id)
        return Titan()

    monkeypatch.setattr(transformers.AutoModel, "from_pretrained", fake)
    enc = build_encoder("pathology/titan", trust_remote_code=True)
    assert seen == {"hub_id": "MahmoodLab/TITAN", "trust_remote_code": True} and enc.model.trunk is trunk
    x = torch.rand(2, 3, 64, 64)
    hooked = enc.model.forward_intermediates(x, [1, 2, 3])
    timm_own = vit.forward_intermediates(x, indices=[1, 2, 3], output_fmt="NCHW", intermediates_only=True)
    assert all(torch.equal(a, b) for a, b in zip(hooked, timm_own, strict=True))


def _vit_l16_parameters(prefix: int = 1, grid: int = 14, width: int = 1024, blocks: int = 24) -> int:
    """Parameters of a ViT-L/16 with LayerScale and no head, counted from the architecture's layers."""
    embed = 3 * 16 * 16 * width + width + prefix * width + (grid * grid + prefix) * width
    attention = width * 3 * width + 3 * width + width * width + width
    mlp = width * 4 * width + 4 * width + 4 * width * width + width
    per_block = attention + mlp + 2 * 2 * width + 2 * width  # two LayerNorms, two LayerScales
    return embed + blocks * per_block + 2 * width  # final LayerNorm


def test_titan_full_size_random_build_is_the_conch_v1_5_trunk() -> None:
    """The full architecture, built on the meta device (shapes without values: seconds, not a minute)."""
    with torch.device("meta"):
        enc = build_encoder("pathology/titan", random_weights=True)
        spec = feature_spec(enc.cfg, "unetr", linear_input="final_norm", unetr_taps="last4")
        grids = enc(torch.rand(1, 3, 224, 224), spec)
        (final,) = enc(torch.rand(1, 3, 224, 224), FeatureSpec((23,), final_norm=True))
    trunk = enc.model.trunk
    assert enc.weights_id.startswith("random:") and len(trunk.blocks) == 24
    assert sum(p.numel() for p in trunk.parameters()) == _vit_l16_parameters()
    assert {tuple(b.ls1.gamma.shape) for b in trunk.blocks} == {(1024,)}  # LayerScale in every block
    assert spec.taps == (20, 21, 22, 23)
    assert [tuple(g.shape) for g in grids] == [(1, 1024, 14, 14)] * 4 and final.shape == (1, 1024, 14, 14)


def test_musk_without_its_package_says_how_to_install() -> None:
    if HAS_MUSK:
        pytest.skip("musk is installed here")
    with pytest.raises(MissingInputError, match=r"(?s)not on PyPI.*pip install git\+.* fairscale"):
        build_encoder("pathology/musk", small=True)


class _MuskShape(torch.nn.Module):
    """The attribute layout MUSK's wrapper reads (``beit3.encoder.layers``, one top-level parameter)."""

    def __init__(self) -> None:
        super().__init__()
        self.beit3 = torch.nn.Module()
        self.beit3.encoder = torch.nn.Module()
        self.beit3.encoder.layers = torch.nn.ModuleList([torch.nn.Linear(4, 4) for _ in range(3)])
        self.vision_head = torch.nn.Linear(4, 4, bias=False)
        self.logit_scale = torch.nn.Parameter(torch.ones([]))


def test_musk_wrapper_state_dict_has_musks_own_names_once() -> None:
    """A MUSK checkpoint (MUSK's names) loads into the wrapper as it is; each tensor is saved once."""
    inner = _MuskShape()
    wrapper = backends.MuskBackbone(inner, 16)
    assert list(wrapper.state_dict()) == list(inner.state_dict())
    assert wrapper.blocks is inner.beit3.encoder.layers
    other = _MuskShape()
    wrapper.load_state_dict(other.state_dict(), strict=True)
    assert all(torch.equal(a, b) for a, b in zip(inner.parameters(), other.parameters(), strict=True))


def _small_musk_kwargs() -> dict[str, Any]:
    return ENCODERS.get("pathology/musk").small().timm_kwargs


@real_musk
def test_real_musk_block_taps_are_its_encoder_states_and_its_checkpoint_loads(tmp_path: Path) -> None:
    """MUSK's own classes at test size: tokens, CLS, hooked block outputs, final norm, its own checkpoint."""
    enc = build_encoder("pathology/musk", small=True)
    musk, cfg = enc.model.model, enc.cfg
    assert type(musk).__name__ == "MUSK" and len(enc.model.blocks) == cfg.depth == 4
    x = torch.rand(2, 3, cfg.input_size, cfg.input_size) * 2 - 1
    with torch.inference_mode():
        tokens = enc.model.forward_features(x)
        assert tokens.shape == (2, 1 + 4 * 4, 64)
        assert torch.equal(tokens, musk.beit3(visual_tokens=x)["encoder_out"])
        cls, text = musk(image=x, with_head=False, out_norm=False, return_global=True)
        assert text is None and torch.equal(cls, tokens[:, 0])
        states = musk.beit3.encoder(
            src_tokens=None, token_embeddings=musk.beit3.vision_embed(x), return_all_hiddens=True
        )["encoder_states"]  # the embedding, then each block's output
        grids = enc.model.forward_intermediates(x, [0, 2, -1])
        for grid, block in zip(grids, [0, 2, 3], strict=True):
            assert torch.allclose(grid, backends.tokens_to_grid(states[block + 1], 1, 4, 4), atol=1e-6)
        assert torch.allclose(musk.beit3.encoder.layer_norm(states[-1]), tokens, atol=1e-6)
    path = tmp_path / "musk.safetensors"
    save_file({k: v.contiguous() for k, v in musk.state_dict().items()}, str(path))  # MUSK's names
    again = build_encoder("pathology/musk", small=True, weights=path)
    spec = FeatureSpec((3,), final_norm=True)
    assert torch.equal(enc(x, spec)[0], again(x, spec)[0])


@real_musk
def test_real_musk_hub_weights_come_through_the_hub_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``xiangjx/musk``'s model.safetensors from the Hub cache, loaded by MUSK's loader (download faked)."""
    import huggingface_hub

    source = backends.musk_model("m", 16, pretrained_id=None, input_size=64, kwargs=_small_musk_kwargs())
    path = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, str(path))
    asked: list[tuple[str, str]] = []

    def fake(repo_id: str, filename: str, **_: object) -> str:
        asked.append((repo_id, filename))
        return str(path)

    monkeypatch.setattr(huggingface_hub, "hf_hub_download", fake)
    model = backends.musk_model(
        "m", 16, pretrained_id="xiangjx/musk", input_size=64, kwargs=_small_musk_kwargs()
    )
    assert asked == [("xiangjx/musk", "model.safetensors")]
    assert all(torch.equal(a, b) for a, b in zip(model.parameters(), source.parameters(), strict=True))


@real_musk
def test_real_musk_full_size_build_is_musk_large_at_384() -> None:
    """``musk_large_patch16_384`` on the meta device: 24 blocks of 1024, 24 x 24 patches + CLS."""
    with torch.device("meta"):
        enc = build_encoder("pathology/musk", random_weights=True)
        spec = feature_spec(enc.cfg, "unetr", linear_input="final_norm", unetr_taps="last4")
        x = torch.rand(1, 3, 384, 384)
        grids = enc(x, spec)
        (final,) = enc(x, FeatureSpec((23,), final_norm=True))
        tokens = enc.model.forward_features(x)
    assert type(enc.model.model).__name__ == "MUSK" and len(enc.model.blocks) == 24
    assert sum(p.numel() for p in enc.model.parameters()) == 675_188_737  # vision + text ways, text embed
    assert spec.taps == (20, 21, 22, 23) and tokens.shape == (1, 1 + 24 * 24, 1024)
    assert [tuple(g.shape) for g in grids] == [(1, 1024, 24, 24)] * 4 and final.shape == (1, 1024, 24, 24)
