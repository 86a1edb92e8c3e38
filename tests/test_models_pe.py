"""PE backbones: Meta's RoPE layout, Meta PE checkpoints, the official Q-CLIP checkpoint import.

The references here are written from DESIGN.md section 2 in plain torch on Meta's key names
(class token at the front, RoPE table over the patch grid with positions from 1 and a
zero-frequency row appended at the end; the release's serial adapters and gates), independent
of the project's code paths, on the tiny PE-structured backbone ``QCLIP-Tiny-PE``.
"""

from __future__ import annotations

import json
import time

import open_clip
import pytest
import torch
import torch.nn.functional as F

from qclip_plugin.models import (
    WeightsUnavailableError,
    build_qclip,
    convert_official_state_dict,
    get_rope_layout,
    load_backbone,
    set_rope_layout,
)
from qclip_plugin.models.pe_rope import MetaRopeTable

HEADS, POOL_HEADS, PATCH, WIDTH, DEPTH = 4, 4, 16, 64, 4
LEVELS = ("bad", "poor", "fair", "good", "excellent")


def _randomise(model: torch.nn.Module, seed: int) -> None:
    """Weights with real spread (timm's init makes the head ~1e-3) so layout differences show."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, p in model.named_parameters():
            if name.endswith("head.bias"):
                p.zero_()  # Meta's `proj` has no bias
            elif ("norm" in name or "ln_" in name) and name.endswith("weight"):
                p.copy_(1 + 0.1 * torch.randn(p.shape, generator=g))
            elif p.ndim >= 2 or "cls" in name or "latent" in name:
                p.copy_(torch.randn(p.shape, generator=g) * (0.5 if p.ndim < 2 or "pos" in name else 0.1))
            else:
                p.copy_(0.05 * torch.randn(p.shape, generator=g))


def to_meta_pe(clip: torch.nn.Module) -> dict[str, torch.Tensor]:
    """open_clip PE (timm Eva + TextTransformer) -> Meta's PE key names (the inverse of the conversion)."""
    sd = {k: v.detach().clone() for k, v in clip.state_dict().items()}
    out = {}
    t = "visual.trunk."
    out["visual.conv1.weight"] = sd[t + "patch_embed.proj.weight"]
    out["visual.class_embedding"] = sd[t + "cls_token"].reshape(-1)
    out["visual.positional_embedding"] = sd[t + "pos_embed"][0]
    for a, b in (("norm_pre", "ln_pre"), ("norm", "ln_post")):
        for leaf in ("weight", "bias"):
            out[f"visual.{b}.{leaf}"] = sd[f"{t}{a}.{leaf}"]
    for i in range(DEPTH):
        src, dst = f"{t}blocks.{i}.", f"visual.transformer.resblocks.{i}."
        for a, b in (("norm1", "ln_1"), ("norm2", "ln_2"), ("attn.proj", "attn.out_proj"), ("mlp.fc1", "mlp.c_fc"),
                     ("mlp.fc2", "mlp.c_proj")):
            for leaf in ("weight", "bias"):
                out[f"{dst}{b}.{leaf}"] = sd[f"{src}{a}.{leaf}"]
        out[dst + "attn.in_proj_weight"] = sd[src + "attn.qkv.weight"]
        out[dst + "attn.in_proj_bias"] = sd[src + "attn.qkv.bias"]
    p = t + "attn_pool."
    out["visual.attn_pool.probe"] = sd[p + "latent"]
    out["visual.attn_pool.attn.in_proj_weight"] = torch.cat([sd[p + "q.weight"], sd[p + "kv.weight"]])
    out["visual.attn_pool.attn.in_proj_bias"] = torch.cat([sd[p + "q.bias"], sd[p + "kv.bias"]])
    for a, b in (("proj", "attn.out_proj"), ("norm", "layernorm"), ("mlp.fc1", "mlp.c_fc"), ("mlp.fc2", "mlp.c_proj")):
        for leaf in ("weight", "bias"):
            out[f"visual.attn_pool.{b}.{leaf}"] = sd[f"{p}{a}.{leaf}"]
    assert torch.all(sd[t + "head.bias"] == 0)
    out["visual.proj"] = sd[t + "head.weight"].t().contiguous()
    for key, value in sd.items():
        if key.startswith("text."):
            out[key[len("text."):]] = value
    out["logit_scale"] = sd["logit_scale"]
    return out


# --- Meta's PE, written from DESIGN.md section 2 ------------------------------------------------
def meta_rope_angles(grid_h: int, grid_w: int, head_dim: int) -> torch.Tensor:
    """Meta's table: per-axis RoPE of dim head_dim/2, positions from 1, [x, y], zero row at the END."""
    d = head_dim // 2
    inv = 1.0 / (10000 ** (torch.arange(0, d, 2)[: d // 2].float() / d))

    def axis(n):
        return ((torch.arange(n) + 1).float()[:, None] * inv).repeat_interleave(2, -1)

    fy = axis(grid_h)[:, None, :].expand(grid_h, grid_w, d)
    fx = axis(grid_w)[None, :, :].expand(grid_h, grid_w, d)
    table = torch.cat([fx, fy], -1).reshape(grid_h * grid_w, head_dim)
    return torch.cat([table, torch.zeros(1, head_dim)], 0)


def _rotate(t: torch.Tensor, angles: torch.Tensor) -> torch.Tensor:
    rot = torch.stack([-t[..., 1::2], t[..., ::2]], -1).reshape(t.shape)
    return t * angles.cos() + rot * angles.sin()


def _ln(x, sd, key):
    return F.layer_norm(x, (x.shape[-1],), sd[key + ".weight"], sd[key + ".bias"], 1e-5)


def _mha(q_in, kv_in, w, b, out_w, out_b, heads, rope=None, mask=None):
    dim = q_in.shape[-1]
    q = F.linear(q_in, w[:dim], b[:dim])
    k = F.linear(kv_in, w[dim : 2 * dim], b[dim : 2 * dim])
    v = F.linear(kv_in, w[2 * dim :], b[2 * dim :])

    def split(x):
        return x.view(x.shape[0], x.shape[1], heads, -1).transpose(1, 2)

    q, k, v = split(q), split(k), split(v)
    if rope is not None:
        q, k = _rotate(q, rope), _rotate(k, rope)
    out = F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    return F.linear(out.transpose(1, 2).reshape(q_in.shape[0], q_in.shape[1], dim), out_w, out_b)


def _block(x, sd, key, heads, rope=None, mask=None):
    h = _ln(x, sd, key + ".ln_1")
    x = x + _mha(h, h, sd[key + ".attn.in_proj_weight"], sd[key + ".attn.in_proj_bias"],
                 sd[key + ".attn.out_proj.weight"], sd[key + ".attn.out_proj.bias"], heads, rope, mask)
    h = _ln(x, sd, key + ".ln_2")
    h = F.linear(F.gelu(F.linear(h, sd[key + ".mlp.c_fc.weight"], sd[key + ".mlp.c_fc.bias"])),
                 sd[key + ".mlp.c_proj.weight"], sd[key + ".mlp.c_proj.bias"])
    return x + h


def meta_visual(sd, images, after_block=None):
    """Meta PE vision tower; returns (tokens after ln_post, pooled pre-projection feature)."""
    x = F.conv2d(images, sd["visual.conv1.weight"], stride=PATCH)
    gh, gw = x.shape[-2:]
    x = x.flatten(2).transpose(1, 2)
    cls = sd["visual.class_embedding"].expand(x.shape[0], 1, -1)
    x = torch.cat([cls, x], 1) + sd["visual.positional_embedding"]
    x = _ln(x, sd, "visual.ln_pre")
    rope = meta_rope_angles(gh, gw, WIDTH // HEADS)
    for i in range(DEPTH):
        x = _block(x, sd, f"visual.transformer.resblocks.{i}", HEADS, rope=rope)
        if after_block is not None:
            x = after_block(i, x)
    tokens = _ln(x, sd, "visual.ln_post")
    p = "visual.attn_pool."
    probe = sd[p + "probe"].expand(x.shape[0], -1, -1)
    pooled = _mha(probe, tokens, sd[p + "attn.in_proj_weight"], sd[p + "attn.in_proj_bias"],
                  sd[p + "attn.out_proj.weight"], sd[p + "attn.out_proj.bias"], POOL_HEADS)
    h = _ln(pooled, sd, p + "layernorm")
    pooled = pooled + F.linear(F.gelu(F.linear(h, sd[p + "mlp.c_fc.weight"], sd[p + "mlp.c_fc.bias"])),
                               sd[p + "mlp.c_proj.weight"], sd[p + "mlp.c_proj.bias"])
    return tokens, pooled[:, 0]


def meta_text(sd, embeds, ids, after_block=None):
    """Meta PE text tower from token embeddings; returns the pooled pre-projection feature."""
    length = embeds.shape[1]
    x = embeds + sd["positional_embedding"][:length]
    mask = torch.full((length, length), float("-inf")).triu(1)
    for i in range(DEPTH):
        x = _block(x, sd, f"transformer.resblocks.{i}", HEADS, mask=mask)
        if after_block is not None:
            x = after_block(i, x)
    x = _ln(x, sd, "ln_final")
    return x[torch.arange(x.shape[0]), ids.argmax(-1)]


@pytest.fixture(scope="module")
def pe_clip():
    load_backbone("QCLIP-Tiny-PE", None)  # registers the project configs
    clip = open_clip.create_model("QCLIP-Tiny-PE").eval()
    _randomise(clip, seed=11)
    return clip


def _images(n=2, seed=0):
    return torch.randn(n, 3, 112, 112, generator=torch.Generator().manual_seed(seed))


def test_meta_layout_reproduces_metas_vision_tower(pe_clip):
    sd = to_meta_pe(pe_clip)
    images = _images()
    trunk = pe_clip.visual.trunk
    with torch.no_grad():
        ref_tokens, ref_pooled = meta_visual(sd, images)
        ref_embed = ref_pooled @ sd["visual.proj"]
        set_rope_layout(trunk, "meta")
        assert get_rope_layout(trunk) == "meta"
        meta_tokens = trunk.forward_features(images)
        meta_embed = pe_clip.encode_image(images)
        set_rope_layout(trunk, "timm")
        timm_tokens = trunk.forward_features(images)
        timm_embed = pe_clip.encode_image(images)
    scale = ref_tokens.abs().mean()
    assert (meta_tokens - ref_tokens).abs().max() <= 1e-5 * max(1.0, scale)
    assert (meta_embed - ref_embed).abs().max() <= 1e-5 * max(1.0, ref_embed.abs().max())
    # timm's own layout is a different function of the same weights
    assert (timm_tokens - ref_tokens).abs().mean() > 1e-3 * scale
    assert (timm_embed - ref_embed).abs().max() > 1e-4 * ref_embed.abs().max()


def test_meta_table_is_timms_table_shifted_by_one_token(pe_clip):
    trunk = pe_clip.visual.trunk
    set_rope_layout(trunk, "timm")
    timm_table = trunk.rope.get_embed()  # (N, 2 * head_dim): sin | cos, patch j -> row j
    set_rope_layout(trunk, "meta")
    try:
        assert isinstance(trunk.rope, MetaRopeTable)
        meta_table = trunk.rope.get_embed()  # token i -> row i, class token first
        assert meta_table.shape[0] == timm_table.shape[0] + 1 == 50
        torch.testing.assert_close(meta_table[:-1], timm_table, rtol=0, atol=0)
        half = meta_table.shape[1] // 2
        assert torch.all(meta_table[-1, :half] == 0) and torch.all(meta_table[-1, half:] == 1)
        angles = meta_rope_angles(7, 7, WIDTH // HEADS)
        torch.testing.assert_close(meta_table[:, :half], angles.sin(), rtol=0, atol=1e-6)
        torch.testing.assert_close(meta_table[:, half:], angles.cos(), rtol=0, atol=1e-6)
        assert all(block.attn.num_prefix_tokens == 0 for block in trunk.blocks)
        assert trunk.num_prefix_tokens == 1
    finally:
        set_rope_layout(trunk, "timm")
    assert all(block.attn.num_prefix_tokens == 1 for block in trunk.blocks)
    with pytest.raises(ValueError, match="rope_layout"):
        set_rope_layout(trunk, "llama")


def test_meta_pe_checkpoint_loads_converted(pe_clip, tmp_path):
    path = tmp_path / "PE-Core-Tiny.pt"
    torch.save(to_meta_pe(pe_clip), path)
    backbone = load_backbone("QCLIP-Tiny-PE", str(path), rope_layout="timm")
    expected = pe_clip.state_dict()
    got = backbone.model.state_dict()
    assert set(got) == set(expected)
    for key in expected:
        assert torch.equal(got[key], expected[key]), key
    assert backbone.pretrained == str(path) and backbone.rope_layout == "timm"
    assert all(not p.requires_grad for p in backbone.model.parameters()) and not backbone.model.training


def test_missing_weights_fail_fast_with_instructions(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError) as err:
        load_backbone("PE-Core-T-16-384", "meta")
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert "timm/PE-Core-T-16-384" in message and "HF_HUB_OFFLINE" in message and "pretrained=<path>" in message
    monkeypatch.delenv("HF_HUB_OFFLINE")
    monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")  # nothing listens: no network, no minute of retries
    monkeypatch.delenv("HTTPS_PROXY", raising=False)
    monkeypatch.delenv("https_proxy", raising=False)
    start = time.perf_counter()
    with pytest.raises(WeightsUnavailableError, match="127.0.0.1:9 unreachable") as err:
        load_backbone("PE-Core-T-16-384", "meta")
    assert time.perf_counter() - start < 10 and "HF_HUB_OFFLINE=1" in str(err.value)
    with pytest.raises(WeightsUnavailableError, match="neither an open_clip tag"):
        load_backbone("QCLIP-Tiny", str(tmp_path / "no-such-weights.pt"))
    with pytest.raises(ValueError, match="unknown open_clip model"):
        load_backbone("PE-Core-XXL", None)


def test_pe_preprocessing_with_random_weights():
    from qclip_plugin.models.backbone import resolve_preprocess

    pe = resolve_preprocess("PE-Core-L-14-336", None, 336)
    assert (pe.mean, pe.std, pe.interpolation, pe.resize_mode) == ((0.5,) * 3, (0.5,) * 3, "bilinear", "squash")
    assert pe.image_size == (336, 336)
    b32 = resolve_preprocess("ViT-B-32", "openai", 224)
    assert b32.mean == pytest.approx((0.48145466, 0.4578275, 0.40821073)) and b32.resize_mode == "shortest"


# --- the official release ----------------------------------------------------------------------
BOTTLENECK, USED = 16, (2, 3)
GATES = dict(image_adapter_weight=0.3, text_adapter_weight=0.2, image_proj_adapter_weight=0.15,
             text_proj_adapter_weight=0.25)


def official_state_dict(clip, seed=5) -> tuple[dict, torch.Tensor]:
    """A state dict laid out like the official checkpoint, on the tiny PE backbone."""
    g = torch.Generator().manual_seed(seed)

    def rnd(*shape, std=0.1):
        return torch.randn(*shape, generator=g) * std

    sd = {f"clip_model.{k}": v for k, v in to_meta_pe(clip).items()}
    for i in range(DEPTH):  # allocated for every layer, used for the last two
        sd[f"encoder_adapters.{i}.down_proj.weight"] = rnd(BOTTLENECK, WIDTH)
        sd[f"encoder_adapters.{i}.down_proj.bias"] = rnd(BOTTLENECK)
        sd[f"encoder_adapters.{i}.up_proj.weight"] = rnd(WIDTH, BOTTLENECK)
        sd[f"encoder_adapters.{i}.up_proj.bias"] = rnd(WIDTH)
        sd[f"encoder_adapters.{i}.ln.weight"] = 1 + rnd(WIDTH)
        sd[f"encoder_adapters.{i}.ln.bias"] = rnd(WIDTH)
    for i in (0, 2):
        sd[f"shared_core.{i}.weight"] = rnd(BOTTLENECK, BOTTLENECK, std=0.3)
        sd[f"shared_core.{i}.bias"] = rnd(BOTTLENECK)
    for i, (o, n) in {0: (BOTTLENECK, WIDTH), 1: (BOTTLENECK, BOTTLENECK), 3: (WIDTH, BOTTLENECK)}.items():
        sd[f"proj_adapter.{i}.weight"] = rnd(o, n, std=0.3)
        sd[f"proj_adapter.{i}.bias"] = rnd(o)
    for key, value in GATES.items():
        sd[key] = torch.tensor(value)
    ids = open_clip.tokenize([f"X X X a video of {level} quality" for level in LEVELS], 32)
    emb = sd["clip_model.token_embedding.weight"][ids]
    sd["context_tokens"] = rnd(1, 3, WIDTH, std=0.5)  # (1, n_ctx, width), as the release stores it
    sd["prompt_prefix"] = emb[:, :1].clone()
    sd["prompt_suffix"] = emb[:, 4:].clone()
    sd["score_proj"] = rnd(5, 1, std=5**-0.5)
    return sd, ids


def official_scores(sd, frames, ids):
    """The official forward pass (DESIGN.md section 2): serial adapters after blocks 2, 3, four gates."""
    a = {k: v for k, v in sd.items() if not k.startswith("clip_model.")}
    clip = {k[len("clip_model."):]: v for k, v in sd.items() if k.startswith("clip_model.")}

    def adapter(i, x):
        h = F.linear(x, a[f"encoder_adapters.{i}.down_proj.weight"], a[f"encoder_adapters.{i}.down_proj.bias"])
        h = F.linear(F.gelu(F.linear(h, a["shared_core.0.weight"], a["shared_core.0.bias"])),
                     a["shared_core.2.weight"], a["shared_core.2.bias"])
        h = F.linear(h, a[f"encoder_adapters.{i}.up_proj.weight"], a[f"encoder_adapters.{i}.up_proj.bias"])
        return F.layer_norm(h, (WIDTH,), a[f"encoder_adapters.{i}.ln.weight"], a[f"encoder_adapters.{i}.ln.bias"])

    def proj_adapter(p):
        h = F.linear(F.linear(p, a["proj_adapter.0.weight"], a["proj_adapter.0.bias"]),
                     a["proj_adapter.1.weight"], a["proj_adapter.1.bias"])
        return F.linear(F.gelu(h), a["proj_adapter.3.weight"], a["proj_adapter.3.bias"])

    def after(gate):
        return lambda i, x: x + a[gate] * adapter(i, x) if i in USED else x

    b, t = frames.shape[:2]
    _, pooled = meta_visual(clip, frames.flatten(0, 1), after_block=after("image_adapter_weight"))
    image = pooled @ clip["visual.proj"] + a["image_proj_adapter_weight"] * proj_adapter(pooled)
    video = image.view(b, t, -1).mean(1)
    ctx = a["context_tokens"].expand(5, -1, -1)
    embeds = torch.cat([a["prompt_prefix"], ctx, a["prompt_suffix"]], 1)
    pooled = meta_text(clip, embeds, ids, after_block=after("text_adapter_weight"))
    text = pooled @ clip["text_projection"] + a["text_proj_adapter_weight"] * proj_adapter(pooled)
    sims = F.normalize(video, dim=-1) @ F.normalize(text, dim=-1).t()
    return (sims @ a["score_proj"]).squeeze(-1)


def test_official_conversion_key_by_key(pe_clip):
    sd, _ = official_state_dict(pe_clip)
    out, overrides, report = convert_official_state_dict(sd, layers=2)
    assert overrides == dict(bottleneck=16, layers=2, n_ctx=3, levels=list(LEVELS), prompt_template="a video of {} quality")
    assert report["used_layers"] == [2, 3] and report["allocated_layers"] == [0, 1, 2, 3]
    assert sorted(report["dropped_keys"]) == sorted(
        f"encoder_adapters.{i}.{p}.{leaf}" for i in (0, 1) for p in ("down_proj", "up_proj", "ln")
        for leaf in ("weight", "bias")
    )
    expected = {}
    for k, i in enumerate(USED):
        for ours, theirs in (("down", "down_proj"), ("up", "up_proj"), ("norm", "ln")):
            for leaf in ("weight", "bias"):
                expected[f"scma.layers.shared.{k}.{ours}.{leaf}"] = sd[f"encoder_adapters.{i}.{theirs}.{leaf}"]
    for i in (0, 2):
        for leaf in ("weight", "bias"):
            expected[f"scma.ffn.shared.0.{i}.{leaf}"] = sd[f"shared_core.{i}.{leaf}"]
    for i, ours in ((0, "down"), (1, "ffn"), (3, "up")):
        for leaf in ("weight", "bias"):
            expected[f"scma.proj.shared.{ours}.{leaf}"] = sd[f"proj_adapter.{i}.{leaf}"]
    expected["scma.gates.visual"] = torch.tensor([0.3])
    expected["scma.gates.text"] = torch.tensor([0.2])
    expected["scma.proj_gates.visual"] = torch.tensor(0.15)
    expected["scma.proj_gates.text"] = torch.tensor(0.25)
    expected["prompts.ctx"] = sd["context_tokens"][0]
    expected["head.weight"] = sd["score_proj"][:, 0]
    for key, value in pe_clip.state_dict().items():
        expected[f"backbone.{key}"] = value
    assert set(out) == set(expected)
    for key, value in expected.items():
        assert out[key].shape == value.shape and torch.equal(out[key], value), key


def test_official_round_trip_scores_match_official_forward(pe_clip, tmp_path):
    from qclip_plugin.cli.main import main

    sd, ids = official_state_dict(pe_clip, seed=6)
    src, dst = tmp_path / "official.pth", tmp_path / "converted.safetensors"
    torch.save({"state_dict": sd, "epoch": 7, "optimizer": {}}, src)
    assert main(["convert-official", str(src), str(dst), "--backbone", "QCLIP-Tiny-PE", "--layers", "2"]) == 0
    model = build_qclip("release", checkpoint=dst, pretrained=None)
    assert model.backbone_name == "QCLIP-Tiny-PE" and model.rope_layout == "meta"
    assert model.adapter_layers["visual"] == [2, 3] and model.scma.config.bottleneck == 16
    frames = torch.randn(2, 3, 3, 112, 112, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        expected = official_scores(sd, frames, ids)
        got = model(frames)
    assert expected.abs().max() > 1e-3  # a real signal, not zeros
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-4)
    with pytest.raises(ValueError, match="preset 'release', not 'paper'"):
        build_qclip("paper", checkpoint=dst, pretrained=None)
    with pytest.raises(ValueError, match="backbone 'QCLIP-Tiny-PE', not 'PE-Core-T-16-384'"):
        build_qclip("release", checkpoint=dst, pretrained=None, backbone="PE-Core-T-16-384")


def test_official_with_other_prompts_is_refused(pe_clip):
    sd, _ = official_state_dict(pe_clip)
    sd["prompt_suffix"] = sd["prompt_suffix"] + 0.01
    with pytest.raises(ValueError, match="match none of the known prompts"):
        convert_official_state_dict(sd, layers=2)


def test_official_file_with_python_objects_needs_trust(pe_clip, tmp_path):
    import argparse

    from qclip_plugin.models.official import load_official_state_dict

    sd, _ = official_state_dict(pe_clip)
    path = tmp_path / "with_args.pth"
    # training scripts often save their argparse namespace beside the weights; not on any torch
    # allow-list (numpy scalars are, once mmengine's checkpoint types have been allowed)
    torch.save({"state_dict": sd, "args": argparse.Namespace(lr=1e-3)}, path)
    with pytest.raises(ValueError, match="--trust-pickle"):
        load_official_state_dict(path)
    loaded = load_official_state_dict(path, trust_pickle=True)
    assert set(loaded) == set(sd) and torch.equal(loaded["score_proj"], sd["score_proj"])
    with pytest.raises(ValueError, match="no 'clip_model.' keys"):
        torch.save({"state_dict": {"w": torch.zeros(1)}}, tmp_path / "other.pth")
        load_official_state_dict(tmp_path / "other.pth")


# --- the official checkpoint as its training script saves it (../shared/data/official_release) --------


def official_key_list(shared_data, depth: int) -> dict[str, list[int]]:
    """checkpoint_keys.txt: every key and shape, ``{i}`` expanded over ``depth`` blocks."""
    shapes: dict[str, list[int]] = {}
    for line in (shared_data / "official_release" / "checkpoint_keys.txt").read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        name, shape = line.split("\t")
        shape = json.loads(shape)
        if "{i}" in name:
            pattern = name.split(" ")[0]
            assert name.endswith("(i = 0..23)"), name
            for i in range(depth):
                shapes[pattern.replace("{i}", str(i))] = shape
        else:
            shapes[name] = shape
    return shapes


def release_state_dict(clip, seed=5) -> tuple[dict, torch.Tensor]:
    """The tiny-size state dict of the release's model, aliases included: ``vit.*`` and
    ``text_encoder.*`` are the very tensors of ``clip_model.visual.*`` and ``clip_model.transformer.*``."""
    sd, ids = official_state_dict(clip, seed)
    for alias, twin in (("vit.", "clip_model.visual."), ("text_encoder.", "clip_model.transformer.")):
        for key in [k for k in sd if k.startswith(twin)]:
            sd[alias + key[len(twin):]] = sd[key]
    return sd, ids


def test_fixture_has_the_exact_key_structure_of_the_official_file(pe_clip, shared_data):
    sd, _ = release_state_dict(pe_clip)
    listed = official_key_list(shared_data, DEPTH)
    # per block 54 keys (12 in each tower, 12 under each alias, 6 in its adapter), 62 others
    assert set(sd) == set(listed) and len(listed) == 4 * 54 + 62
    # the same layout at tiny size: each listed dimension is the tiny backbone's counterpart
    tiny = {1024: WIDTH, 3072: 3 * WIDTH, 4096: 4 * WIDTH, 128: BOTTLENECK, 577: 50, 14: PATCH}
    for key, shape in listed.items():
        assert list(sd[key].shape) == [tiny.get(d, d) for d in shape], key


def test_official_checkpoint_as_saved_converts_and_scores_as_the_official_model(pe_clip, tmp_path):
    from qclip_plugin.cli.main import main

    sd, ids = release_state_dict(pe_clip, seed=6)
    src, dst = tmp_path / "qclip_lsvq_val-ltest_best.pth", tmp_path / "converted.safetensors"
    # what train.py writes: the state dict (here under DataParallel's prefix) and the validation results
    torch.save({"state_dict": {f"module.{k}": v for k, v in sd.items()},
                "validation_results": {"srocc": 0.9, "plcc": 0.9, "krocc": 0.7, "rmse": 6.0}}, src)
    assert main(["convert-official", str(src), str(dst), "--backbone", "QCLIP-Tiny-PE", "--layers", "2"]) == 0
    model = build_qclip("release", checkpoint=dst, pretrained=None)
    assert model.preprocess.resize == "pil"
    frames = torch.randn(2, 3, 3, 112, 112, generator=torch.Generator().manual_seed(9))
    with torch.no_grad():
        torch.testing.assert_close(model(frames), official_scores(sd, frames, ids), rtol=0, atol=1e-4)


def test_alias_keys_are_checked_against_their_twins(pe_clip):
    from qclip_plugin.models.official import OfficialCheckpointError, drop_alias_keys

    sd, _ = release_state_dict(pe_clip)
    kept, dropped = drop_alias_keys(sd)
    assert len(dropped) == len(sd) - len(kept) == 4 * 12 + 19 + 4 * 12  # vit: blocks + 19 others; text_encoder
    assert not any(k.startswith(("vit.", "text_encoder.")) for k in kept)
    # a copy with equal values passes; a copy that differs is refused with both names
    sd["vit.proj"] = sd["clip_model.visual.proj"].clone()
    assert len(drop_alias_keys(sd)[1]) == len(dropped)
    sd["text_encoder.resblocks.1.ln_2.bias"] = sd["clip_model.transformer.resblocks.1.ln_2.bias"] + 1e-3
    with pytest.raises(OfficialCheckpointError, match=r"'text_encoder.resblocks.1.ln_2.bias' and "
                                                      r"'clip_model.transformer.resblocks.1.ln_2.bias'.*values differ"):
        convert_official_state_dict(sd, layers=2)
    del sd["clip_model.visual.proj"]
    with pytest.raises(OfficialCheckpointError, match="'vit.proj'.*twin 'clip_model.visual.proj' is missing"):
        drop_alias_keys(sd)


def test_the_full_size_official_key_list_is_accepted(shared_data):
    """Every key and shape of checkpoint_keys.txt (PE-Core-L-14-336) on the meta device (no memory):
    mapped onto the PE-L backbone open_clip builds (meta too) and the release's adapters, key for key."""
    from qclip_plugin.models import QCLIPConfig, get_preset
    from qclip_plugin.models.official import drop_alias_keys, map_official_keys
    from qclip_plugin.models.scma import SharedCrossModalAdapter

    listed = official_key_list(shared_data, 24)
    sd = {k: torch.empty(shape, device="meta") for k, shape in listed.items() if not k.startswith(("vit.", "text_encoder."))}
    for key in listed:  # an alias is the same tensor as its twin, as in a saved file
        for alias, twin in (("vit.", "clip_model.visual."), ("text_encoder.", "clip_model.transformer.")):
            if key.startswith(alias):
                sd[key] = sd[twin + key[len(alias):]]
    kept, aliases = drop_alias_keys(sd)
    assert len(aliases) == 24 * 12 + 19 + 24 * 12
    out, overrides, report = map_official_keys(kept, layers=6)
    assert overrides == dict(bottleneck=128, layers=6, n_ctx=3, levels=list(LEVELS))
    assert report["used_layers"] == list(range(18, 24)) and len(report["dropped_keys"]) == 18 * 6

    with torch.device("meta"):
        pe_l = open_clip.create_model("PE-Core-L-14-336", pretrained=None, device="meta")
    expected = {f"backbone.{k}": tuple(v.shape) for k, v in pe_l.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in out.items() if k.startswith("backbone.")}
    assert got == expected
    context_length = expected["backbone.text.positional_embedding"][0]
    assert listed["prompt_suffix"] == [5, context_length - 1 - 3, 1024] and listed["prompt_prefix"] == [5, 1, 1024]

    config = QCLIPConfig.from_dict({**get_preset("release"), **overrides})
    scma = SharedCrossModalAdapter(config.scma_config(6), width=1024, embed_dim=1024)
    expected = {f"scma.{k}": tuple(v.shape) for k, v in scma.named_parameters()}
    expected.update({"prompts.ctx": (3, 1024), "head.weight": (5,)})
    assert {k: tuple(v.shape) for k, v in out.items() if not k.startswith("backbone.")} == expected
