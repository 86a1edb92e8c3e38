"""Q-CLIP on the small random backbones: equations 2-12, freezing, sharing, gradients."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from qclip_plugin.models import (
    QCLIP,
    build_qclip,
    load_backbone,
    parameter_report,
    resolve_config,
)
from qclip_plugin.models.qclip import SHARING_MODES

TINY_WIDTH = 64


def _frames(b=2, t=3, size=112, seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(b, t, 3, size, size, generator=g)


@pytest.fixture(scope="module")
def tiny() -> QCLIP:
    torch.manual_seed(0)
    return build_qclip("tiny", pretrained=None)


def test_tiny_shapes_and_preprocessing(tiny):
    frames = _frames()
    scores = tiny(frames)
    assert scores.shape == (2,)
    assert tiny.encode_video(frames).shape == (2, TINY_WIDTH)
    assert tiny.encode_prompts().shape == (5, TINY_WIDTH)
    pre = tiny.preprocess
    assert pre.image_size == (112, 112)
    assert pre.mean == (0.5, 0.5, 0.5) and pre.std == (0.5, 0.5, 0.5)
    assert (pre.interpolation, pre.resize_mode) == ("bilinear", "squash")
    assert (tiny.preset, tiny.backbone_name, tiny.pretrained) == ("tiny", "QCLIP-Tiny", None)
    assert tiny.adapter_layers == {"visual": [2, 3], "text": [2, 3]}
    with pytest.raises(ValueError, match=r"\(B, T, 3, H, W\)"):
        tiny(frames[0])
    with pytest.raises(ValueError, match="expects"):
        tiny(_frames(size=96))


def test_tiny_parameter_counts_follow_the_formula(tiny):
    w, b, k = TINY_WIDTH, 8, 2
    layer = (w * b + b) + (b * w + w) + 2 * w
    escma = k * layer + 2 * (b * b + b) + 2 * k  # layers, one shared FFN, gates per layer and tower
    pscma = (w * b + b) + (b * b + b) + (b * w + w) + 2 * w + 2
    report = parameter_report(tiny)
    assert report.trainable_components == {
        "E-SCMA": escma, "P-SCMA": pscma, "prompts": 3 * w, "head": 5, "backbone": 0,
    }
    assert report.trainable == escma + pscma + 3 * w + 5 == 4091
    assert report.total == report.trainable + report.components["backbone"]


def _reference_escma(model, branch, k, x):
    """Eqs. 2-7 written out from the module's weights."""
    key = "shared" if model.scma.config.share_branches else branch
    layer = model.scma.layers[key][k]
    ffn = model.scma.ffn[key][0 if len(model.scma.ffn[key]) == 1 else k]
    h = F.linear(x, layer.down.weight, layer.down.bias)
    h = F.linear(F.gelu(F.linear(h, ffn[0].weight, ffn[0].bias)), ffn[2].weight, ffn[2].bias)
    h = F.linear(h, layer.up.weight, layer.up.bias)
    h = F.layer_norm(h, (h.shape[-1],), layer.norm.weight, layer.norm.bias, layer.norm.eps)
    gates = model.scma.gates[branch]
    return (gates[k] if gates.numel() > 1 else gates[0]) * h


@pytest.mark.parametrize("placement", ["parallel", "serial"])
def test_visual_tower_matches_equations(placement):
    torch.manual_seed(1)
    model = build_qclip("tiny", pretrained=None, placement=placement, gate_init=0.5)
    images = _frames(b=1, t=2).flatten(0, 1)
    trunk = model.backbone.visual.trunk
    with torch.no_grad():
        x, rope = trunk._pos_embed(trunk.patch_embed(images))
        x = trunk.norm_pre(x)
        for i, block in enumerate(trunk.blocks):
            y = block(x, rope=rope)
            if i in (2, 3):  # eq. 6: X_{k+1} = E_k(X_k) + alpha_k LN(Up(FFN(Down(X_k))))
                y = y + _reference_escma(model, "visual", i - 2, x if placement == "parallel" else y)
            x = y
        pooled = trunk.forward_head(trunk.norm(x), pre_logits=True)
        proj = model.scma.proj["shared"]
        delta = F.layer_norm(
            F.linear(F.gelu(F.linear(F.linear(pooled, proj.down.weight, proj.down.bias), proj.ffn.weight, proj.ffn.bias)),
                     proj.up.weight, proj.up.bias),
            (TINY_WIDTH,), proj.norm.weight, proj.norm.bias,
        )
        expected = trunk.head(pooled) + model.scma.proj_gates["visual"] * delta
        got = model.encode_frames(images)
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-6)


def test_regression_is_eqs_11_and_12(tiny):
    frames = _frames(b=3, t=2, seed=3)
    with torch.no_grad():
        video = tiny.encode_frames(frames.flatten(0, 1)).view(3, 2, -1).mean(1)
        prompts = tiny.encode_prompts()
        sims = torch.stack([torch.stack([F.cosine_similarity(v, t, dim=0) for t in prompts]) for v in video])
        expected = (sims * tiny.head.weight).sum(-1)
        torch.testing.assert_close(tiny.encode_video(frames), video, rtol=0, atol=1e-6)
        torch.testing.assert_close(tiny(frames), expected, rtol=0, atol=1e-6)


def test_prompts_run_once_per_forward(tiny):
    calls = []
    handle = tiny.backbone.text.transformer.resblocks[0].register_forward_hook(
        lambda mod, inp, out: calls.append(out.shape[0])
    )
    try:
        with torch.no_grad():
            tiny(_frames(b=4, t=2))
    finally:
        handle.remove()
    assert calls == [5]  # five prompts, one pass, whatever the batch size


def test_zero_gates_give_the_frozen_backbone_features():
    torch.manual_seed(2)
    model = build_qclip("tiny", pretrained=None, gate_init=0.0)
    frames = _frames(b=2, t=2, seed=4)
    clip = model.backbone
    with torch.no_grad():
        expected_video = clip.encode_image(frames.flatten(0, 1)).view(2, 2, -1).mean(1)
        ids = model.tokenizer(list(model.prompts.texts))
        expected_text = clip.encode_text(ids)  # the context starts as the embedding of "X"
        torch.testing.assert_close(model.encode_video(frames), expected_video, rtol=0, atol=1e-6)
        torch.testing.assert_close(model.encode_prompts(), expected_text, rtol=0, atol=1e-6)
    assert model.prompts.texts[0] == "X X X a video of excellent quality"


def test_zero_gates_classic_clip_layout():
    torch.manual_seed(3)
    model = build_qclip("tiny", pretrained=None, backbone="QCLIP-Tiny-CLIP", gate_init=0.0, layers=2)
    assert model._text.layout == "clip" and model._vision.layout == "open_clip_vit"
    frames = _frames(b=1, t=2, size=64, seed=5)
    with torch.no_grad():
        ids = model.tokenizer(list(model.prompts.texts))
        torch.testing.assert_close(model.encode_prompts(), model.backbone.encode_text(ids), rtol=0, atol=1e-6)
        torch.testing.assert_close(
            model.encode_frames(frames[0]), model.backbone.encode_image(frames[0]), rtol=0, atol=1e-6
        )
    gated = build_qclip("tiny", pretrained=None, backbone="QCLIP-Tiny-CLIP", gate_init=0.3)
    assert gated(frames).shape == (1,)


def test_optimizer_step_changes_only_trainable_tensors():
    torch.manual_seed(4)
    model = build_qclip("tiny", pretrained=None).train()
    assert not model.backbone.training and model.scma.training
    backbone_before = {k: v.clone() for k, v in model.backbone.state_dict().items()}
    trainable = {n: p for n, p in model.named_parameters() if p.requires_grad}
    assert all(not n.startswith("backbone.") for n in trainable)
    before = {n: p.detach().clone() for n, p in trainable.items()}
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=1e-2)
    mos = torch.tensor([1.0, 3.0, 2.0])
    loss = F.mse_loss(model(_frames(b=3, t=2, seed=6)), mos)
    loss.backward()
    optimizer.step()
    assert all(p.grad is None for p in model.backbone.parameters())
    state_params = {id(p) for p in optimizer.state}
    assert state_params == {id(p) for p in trainable.values()}
    for key, value in model.backbone.state_dict().items():
        assert torch.equal(value, backbone_before[key]), key
    changed = [n for n, p in trainable.items() if not torch.equal(p.detach(), before[n])]
    assert sorted(changed) == sorted(trainable)


@pytest.mark.parametrize("sharing", sorted(SHARING_MODES))
def test_every_trainable_tensor_receives_a_gradient(sharing):
    torch.manual_seed(5)
    model = build_qclip("tiny", pretrained=None, sharing=sharing)
    model(_frames(b=3, t=2, seed=7)).square().sum().backward()
    for name, param in model.named_parameters():
        if param.requires_grad:
            assert param.grad is not None and param.grad.abs().sum() > 0, name


def test_sharing_means_the_same_parameters_serve_both_towers():
    torch.manual_seed(6)
    shared = build_qclip("tiny", pretrained=None)
    down = shared.scma.layers["shared"][0].down.weight
    ffn = shared.scma.ffn["shared"][0][0].weight
    frames = _frames(b=1, t=2, seed=8)
    for encode in (lambda: shared.encode_video(frames), shared.encode_prompts):
        shared.zero_grad()
        encode().sum().backward()
        assert down.grad.abs().sum() > 0 and ffn.grad.abs().sum() > 0
    assert set(shared.scma.shared_parameters()) >= {down, ffn, shared.scma.proj["shared"].down.weight}

    unshared = build_qclip("tiny", pretrained=None, sharing="unshared")
    unshared.encode_prompts().sum().backward()
    for name, param in unshared.scma.named_parameters():
        if name.startswith(("layers.visual", "ffn.visual", "proj.visual", "gates.visual", "proj_gates.visual")):
            assert param.grad is None, name
    assert len(unshared.scma.ffn["text"]) == 2 and unshared.scma.shared_parameters() == []

    counts = {}
    for sharing in ("visual_only", "text_only", "unshared", "shared", "shared_layers", "visual_only_shared_layers"):
        counts[sharing] = parameter_report(build_qclip("tiny", pretrained=None, sharing=sharing)).trainable_components
    ffn_params = 2 * (8 * 8 + 8)
    # table 3: "visual only" and "text only" leave layer sharing unchecked: one FFN per layer (2 layers),
    # so "unshared" (both towers, nothing shared) is exactly twice either of them
    assert counts["unshared"]["E-SCMA"] == 2 * counts["visual_only"]["E-SCMA"] == 2 * counts["text_only"]["E-SCMA"]
    assert counts["visual_only"]["E-SCMA"] - counts["visual_only_shared_layers"]["E-SCMA"] == ffn_params
    assert counts["shared"]["E-SCMA"] - counts["shared_layers"]["E-SCMA"] == ffn_params  # one FFN per layer (2)
    assert counts["visual_only"]["P-SCMA"] == counts["shared_layers"]["P-SCMA"] - 1  # one gate less
    for sharing in ("visual_only", "text_only"):
        scma = build_qclip("tiny", pretrained=None, sharing=sharing).scma
        tower = sharing.removesuffix("_only")
        assert list(scma.ffn) == [tower] and len(scma.ffn[tower]) == 2 and not scma.config.share_layers


def test_layer_selection_and_errors():
    model = build_qclip("tiny", pretrained=None, layers=(0, -1), bottleneck=4)
    assert model.adapter_layers["visual"] == [0, 3]
    assert model.scma.layers["shared"][0].down.out_features == 4
    assert build_qclip("tiny", pretrained=None, layers=4).adapter_layers["text"] == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="outside"):
        build_qclip("tiny", pretrained=None, layers=(7,))
    with pytest.raises(ValueError, match="placement"):
        build_qclip("tiny", pretrained=None, placement="sideways")
    with pytest.raises(ValueError, match="preset"):
        build_qclip("huge")
    with pytest.raises(ValueError, match="unknown Q-CLIP option"):
        build_qclip("tiny", pretrained=None, bottlenek=4)


@pytest.mark.parametrize(
    "mode, levels, n_ctx",
    [
        ("antonym", ("good", "bad"), 0),
        ("antonym_learnable", ("good", "bad"), 3),
        ("five_levels", ("excellent", "good", "fair", "poor", "bad"), 0),
        ("five_levels_learnable", ("excellent", "good", "fair", "poor", "bad"), 3),
    ],
)
def test_prompt_modes_of_table_4(mode, levels, n_ctx):
    model = build_qclip("tiny", pretrained=None, prompt_mode=mode)
    assert model.prompts.levels == levels
    assert model.head.weight.shape == (len(levels),)
    assert model(_frames(b=1, t=1)).shape == (1,)
    ids = model.prompts.token_ids
    x_token = model.tokenizer(["X"])[0, 1].item()
    assert (ids[:, 1 : 1 + n_ctx] == x_token).all()
    if n_ctx:
        emb = model.backbone.text.token_embedding.weight[x_token]
        assert model.prompts.ctx.shape == (n_ctx, TINY_WIDTH)
        torch.testing.assert_close(model.prompts.ctx.detach(), emb.expand(n_ctx, -1), rtol=0, atol=0)
        assert model.prompts.texts[0].startswith("X X X a video of")
    else:
        assert model.prompts.ctx is None and model.prompts.texts[0] == f"a video of {levels[0]} quality"


def test_n_ctx_override():
    model = build_qclip("tiny", pretrained=None, n_ctx=5)
    assert model.prompts.ctx.shape == (5, TINY_WIDTH)
    assert model.prompts.texts[-1] == "X X X X X a video of bad quality"


def test_release_structure_on_tiny():
    model = build_qclip("release", pretrained=None, backbone="QCLIP-Tiny-PE", layers=2, bottleneck=16)
    assert model.prompts.levels == ("bad", "poor", "fair", "good", "excellent")
    assert model.scma.gates["visual"].shape == (1,) and model.scma.config.placement == "serial"
    assert isinstance(model.scma.proj["shared"].norm, torch.nn.Identity)
    assert model.rope_layout == "meta"
    assert all(float(g.detach()) == pytest.approx(0.1) for g in model.scma.gates.values())


def test_towers_of_different_width_are_refused():
    import open_clip

    from qclip_plugin.models.backbone import Backbone, resolve_preprocess

    load_backbone("QCLIP-Tiny-CLIP", None)  # registers the configs
    clip = open_clip.create_model(
        "QCLIP-Tiny-CLIP", text_cfg=dict(context_length=77, vocab_size=49408, width=32, heads=2, layers=2)
    )
    backbone = Backbone(clip, "QCLIP-Tiny-CLIP", None, resolve_preprocess("QCLIP-Tiny-CLIP", None, 64),
                        open_clip.get_tokenizer("QCLIP-Tiny-CLIP"), None)
    with pytest.raises(ValueError, match=r"differ in width \(visual 64, text 32\)"):
        QCLIP(backbone, resolve_config("paper", pretrained=None, backbone="QCLIP-Tiny-CLIP", layers=2))
    unshared = QCLIP(backbone, resolve_config("paper", pretrained=None, backbone="QCLIP-Tiny-CLIP", layers=2,
                                              sharing="unshared", projection_adapter=True))
    assert unshared(torch.randn(1, 1, 3, 64, 64)).shape == (1,)


def test_model_follows_dtype_and_device_moves(tiny):
    """Tower views read the backbone's tensors at use time, so .to() (new buffer objects) is followed."""
    import copy

    model = copy.deepcopy(tiny).double()
    assert model._text.attn_mask.dtype == torch.float64
    frames = _frames(b=1, t=2, seed=9)
    with torch.no_grad():
        torch.testing.assert_close(model(frames.double()).float(), tiny(frames), rtol=0, atol=1e-5)


def test_context_position_follows_the_tokenizer():
    """CLIP's BPE puts a start token before the context; tokenizers without one (SigLIP) do not."""
    import open_clip

    from qclip_plugin.models.prompts import PromptLearner

    embedding = torch.nn.Embedding(49408, 8)

    def no_start_token(texts, context_length=16):
        return open_clip.tokenize(texts, context_length + 1)[:, 1:]

    x_id = open_clip.tokenize(["X"])[0, 1]
    with_sot = PromptLearner(open_clip.tokenize, embedding, n_ctx=2, context_length=16)
    without = PromptLearner(no_start_token, embedding, n_ctx=2, context_length=16)
    assert (with_sot.ctx_start, without.ctx_start) == (1, 0)
    assert (without.token_ids[:, :2] == x_id).all()
    torch.testing.assert_close(without.ctx.detach(), embedding.weight[x_id].expand(2, -1).detach())
    embeds, _ = without(embedding)
    torch.testing.assert_close(embeds[:, 2:], embedding(without.token_ids)[:, 2:])
