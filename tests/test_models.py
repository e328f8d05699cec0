import dataclasses
import json

import pytest
import torch

from helpers import TINY_CONFIG, grads_of, open_gates, tiny_inputs
from pona import CheckpointError, load_generator, save_generator
from pona.models import (
    Generator, GeneratorConfig, PATNGenerator, appearance_discriminator, build_generator, pose_discriminator,
)
from pona.models import attention as attention_module
from pona.models.attention import PoseAttention, SelfAttention, attention
from pona.models.blocks import Dropout, InstanceNorm


def n_params(m):
    return sum(p.numel() for p in m.parameters())


@pytest.mark.parametrize("cfg, expected", [
    (GeneratorConfig(), 34_329_356),                     # paper Table II: 34.33M
    (GeneratorConfig(n_blocks=2), 23_299_145),           # paper Table II: 23.31M
    (GeneratorConfig(norm="batch"), 34_330_444),         # the Market setting
    (GeneratorConfig(arch="patn", n_blocks=9), 41_358_019),  # paper Table II: PATN 41.36M
])
def test_parameter_counts_match_the_released_networks(cfg, expected):
    assert n_params(build_generator(cfg)) == expected


def test_discriminator_parameter_counts():
    assert n_params(appearance_discriminator()) == 3_928_384
    assert n_params(pose_discriminator()) == 3_975_424


@pytest.mark.parametrize("overrides", [
    {}, {"norm": "batch"}, {"fusion": "middle"}, {"fusion": "tail"}, {"fusion": "none"},
    {"self_attention": False}, {"cross_attention": False}, {"arch": "patn", "n_blocks": 3},
])
def test_every_generator_parameter_receives_a_gradient(tiny_config, overrides):
    cfg = dataclasses.replace(tiny_config, **overrides)
    g = build_generator(cfg)
    open_gates(g)
    out = g(*tiny_inputs())
    assert out.shape == (2, 3, 32, 16) and out.abs().max() <= 1
    out.square().mean().backward()
    dead = [n for n, p in g.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


@pytest.mark.parametrize("make, channels", [(appearance_discriminator, 6), (pose_discriminator, 21)])
def test_every_discriminator_parameter_receives_a_gradient(make, channels):
    d = make(ndf=8, self_attention=True)
    open_gates(d)
    logits = d(torch.randn(2, channels, 32, 16))
    assert logits.shape == (2, 32, 8, 4)
    # not logits.mean(): a residual block ending in instance norm adds a zero-mean term, so the
    # mean's gradient with respect to its weights is exactly 0 (it was rounding noise before)
    logits.square().mean().backward()
    dead = [n for n, p in d.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert dead == []


def test_discriminator_convs_are_spectrally_normalised():
    d = appearance_discriminator(ndf=8)
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert convs and all(hasattr(m, "parametrizations") and "weight" in m.parametrizations for m in convs)
    # after power iterations the largest singular value of each reshaped weight is ~1
    d.train()
    for _ in range(30):
        d(torch.randn(1, 6, 16, 16))
    w = convs[1].weight.detach().flatten(1)
    assert torch.linalg.matrix_norm(w, ord=2).item() == pytest.approx(1.0, rel=0.05)


def test_ablations_drop_submodules():
    cfg = GeneratorConfig(ngf=16)
    no_cross = Generator(GeneratorConfig(ngf=16, cross_attention=False))
    assert no_cross.pose_encoder is None and all(b.cross_attn is None for b in no_cross.blocks)
    no_self = Generator(GeneratorConfig(ngf=16, self_attention=False))
    assert all(b.self_attn is None for b in no_self.blocks)
    assert n_params(no_self) < n_params(Generator(cfg))


def test_gamma_zero_at_init_makes_blocks_ignore_attention(tiny_config):
    g = Generator(tiny_config).eval()
    image, src, dst = tiny_inputs()
    out = g(image, src, dst)
    for block in g.blocks:
        block.cross_attn.value.weight.data.normal_()  # changes A v, but gamma = 0 hides it
    assert torch.equal(out, g(image, src, dst))


def test_pose_changes_the_output_once_attention_is_open(tiny_config):
    g = Generator(tiny_config).eval()
    open_gates(g)
    image, src, dst = tiny_inputs()
    assert not torch.allclose(g(image, src, dst), g(image, src, src))


def test_returned_attention_maps_are_row_stochastic(tiny_config):
    g = Generator(tiny_config).eval()
    out, maps = g(*tiny_inputs(), return_attention=True)
    assert len(maps) == tiny_config.n_blocks
    n = (32 // 4) * (16 // 4)
    for self_map, cross_map in maps:
        for a in (self_map, cross_map):
            assert a.shape == (2, n, n)
            torch.testing.assert_close(a.sum(-1), torch.ones(2, n))
    assert torch.equal(out, g(*tiny_inputs()))


def test_batch_norm_generator_uses_running_stats_in_eval(tiny_config):
    g = Generator(dataclasses.replace(tiny_config, norm="batch"))
    g.train()
    g(*tiny_inputs())
    assert g.image_encoder[2].num_batches_tracked.item() == 1
    g.eval()
    a = g(*tiny_inputs(batch=2))[:1]
    b = g(*[t[:1] for t in tiny_inputs(batch=2)])
    torch.testing.assert_close(a, b)  # eval output of a sample does not depend on its batch


@pytest.mark.parametrize("impl", ["sdpa", "chunked"])
def test_attention_paths_agree_with_explicit_forward_and_backward(impl, monkeypatch):
    monkeypatch.setattr(attention_module, "CHUNK_ELEMENTS", 3 * 100)  # several chunks, last one short
    monkeypatch.setattr(attention_module, "MIN_BACKWARD_ROWS", 1)
    q, k = torch.randn(2, 100, 8, dtype=torch.float64) * 2, torch.randn(2, 100, 8, dtype=torch.float64) * 2
    v = torch.randn(2, 100, 24, dtype=torch.float64)
    grads = {}
    for name in ("explicit", impl):
        qq, kk, vv = (t.clone().requires_grad_() for t in (q, k, v))
        out, _ = attention(qq, kk, vv, name)
        (out * torch.linspace(-1, 1, 24, dtype=torch.float64)).sum().backward()
        grads[name] = (out.detach(), qq.grad, kk.grad, vv.grad)
    for a, b in zip(grads["explicit"], grads[impl]):
        torch.testing.assert_close(a, b, atol=1e-10, rtol=1e-9)


def test_auto_attention_on_cpu_is_explicit_for_small_maps_and_chunked_for_large(monkeypatch):
    calls = []
    chunked = attention_module.ChunkedAttention.apply
    monkeypatch.setattr(attention_module.ChunkedAttention, "apply", lambda *a: calls.append(1) or chunked(*a))
    limit = attention_module.EXPLICIT_MAX_TOKENS
    for n, expect_chunked in ((limit, False), (limit + 1, True)):
        calls.clear()
        q, v = torch.randn(1, n, 4), torch.randn(1, n, 6)
        out, _ = attention(q, q, v, "auto")
        torch.testing.assert_close(out, attention(q, q, v, "explicit")[0], atol=1e-5, rtol=1e-5)
        assert bool(calls) == expect_chunked, n


def test_chunked_attention_passes_gradcheck(monkeypatch):
    monkeypatch.setattr(attention_module, "CHUNK_ELEMENTS", 2 * 7)
    monkeypatch.setattr(attention_module, "MIN_BACKWARD_ROWS", 1)
    q, k, v = (torch.randn(1, 7, s, dtype=torch.float64, requires_grad=True) for s in (3, 3, 5))
    assert torch.autograd.gradcheck(attention_module.ChunkedAttention.apply, (q, k, v))


@pytest.mark.parametrize("impl", ["sdpa", "chunked"])
def test_generator_outputs_agree_across_attention_paths(tiny_config, impl):
    g = Generator(tiny_config).eval()
    open_gates(g)
    inputs = tiny_inputs()
    ref = g.set_attention_impl("explicit")(*inputs)
    torch.testing.assert_close(g.set_attention_impl(impl)(*inputs), ref, atol=1e-5, rtol=0)


def test_attention_paths_agree_at_paper_resolution():
    # N = 2816 tokens (256x176 / 16) as in the released DeepFashion model, values C = 256, keys C/8
    torch.manual_seed(0)
    pose, image = torch.randn(1, 256, 64, 44), torch.randn(1, 256, 64, 44)
    att = PoseAttention(256)
    torch.nn.init.constant_(att.gamma, 1.0)
    with torch.no_grad():
        att.impl = "explicit"
        ref, _ = att(pose, image)
        for impl in ("sdpa", "chunked"):
            att.impl = impl
            torch.testing.assert_close(att(pose, image)[0], ref, atol=1e-5, rtol=0)


def test_self_attention_output_is_gamma_attn_plus_beta_x_plus_x():
    sa = SelfAttention(16)
    x = torch.randn(1, 16, 4, 4)
    torch.testing.assert_close(sa(x)[0], x)  # identity at init
    torch.nn.init.constant_(sa.beta, 0.5)
    torch.testing.assert_close(sa(x)[0], 1.5 * x)


def test_config_rejects_out_of_range_values():
    for bad in ({"n_blocks": 0}, {"n_blocks": 6}, {"norm": "layer"}, {"fusion": "side"}, {"image_size": (30, 16)}, {"ngf": 12}):
        with pytest.raises(ValueError):
            GeneratorConfig(**bad)
    with pytest.raises(ValueError, match="unknown generator config keys"):
        GeneratorConfig.from_dict({"ngf": 64, "n_block": 3})
    assert GeneratorConfig.from_dict(GeneratorConfig(image_size=(128, 64)).to_dict()) == GeneratorConfig(image_size=(128, 64))


def test_patn_has_the_pona_interface(tiny_config):
    g = PATNGenerator(dataclasses.replace(tiny_config, arch="patn"))
    out, maps = g(*tiny_inputs(), return_attention=True)
    assert out.shape == (2, 3, 32, 16) and maps == [[], []]


def test_generator_and_reid_checkpoints_share_one_format_and_tell_each_other_apart(tmp_path):
    from pona.errors import CheckpointError
    from pona.models.io import load_generator, save_generator
    from pona.reid import ReIDConfig, ReIDNet, load_reid, save_reid

    g = Generator(TINY_CONFIG)
    r = ReIDNet(ReIDConfig(backbone="small", num_classes=3, image_size=(32, 16)))
    save_generator(g, tmp_path / "g.safetensors", {"iteration": 7})
    save_reid(r, tmp_path / "r.safetensors")
    assert load_generator(tmp_path / "g.safetensors").config == g.config
    assert load_reid(tmp_path / "r.safetensors").config == r.config
    with pytest.raises(CheckpointError, match=r"not a pona generator checkpoint \(format='pona-reid'\)"):
        load_generator(tmp_path / "r.safetensors")
    with pytest.raises(CheckpointError, match=r"not a pona re-ID checkpoint \(format='pona-generator'\)"):
        load_reid(tmp_path / "g.safetensors")


# -- the fast paths (attention kernels, recomputation, channels-last norm, compile) compute what the
#    released way computes

@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("impl", ["sdpa", "chunked"])
@pytest.mark.parametrize("rows", [1, 7, 48])  # one row per chunk; 48 = 6 x 7 + 6, a short last chunk; one chunk
def test_attention_impls_match_explicit_forward_and_gradients(impl, rows, monkeypatch):
    monkeypatch.setattr(attention_module, "CHUNK_ELEMENTS", rows * 48)  # N = 48 keys
    monkeypatch.setattr(attention_module, "MIN_BACKWARD_ROWS", 1)
    g = torch.Generator().manual_seed(3)
    # q/k width 4, value width 12 (unlike q/k), batch 3; values as the layers give them: (B, C, N)^T views
    q, k = (torch.randn(3, 4, 48, generator=g).mul(2).transpose(1, 2).requires_grad_() for _ in range(2))
    v = torch.randn(3, 12, 48, generator=g).transpose(1, 2).requires_grad_()
    w = torch.randn(3, 48, 12, generator=g)
    results = {}
    for name in ("explicit", impl):
        for t in (q, k, v):
            t.grad = None
        out, _ = attention(q, k, v, name)
        (out * w).sum().backward()
        results[name] = [out.detach()] + [t.grad.clone() for t in (q, k, v)]
    for a, b in zip(results["explicit"], results[impl]):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=0)
    assert results["explicit"][1].abs().max() > 1e-2  # the gradients compared are not all ~0


@pytest.mark.usefixtures("one_thread")
@pytest.mark.parametrize("impl", ["sdpa", "chunked", "auto"])
def test_generator_gradients_match_explicit_for_every_attention_impl(tiny_config, impl, monkeypatch):
    monkeypatch.setattr(attention_module, "CHUNK_ELEMENTS", 5 * 32)  # N = 32: chunks of 5, last of 2
    monkeypatch.setattr(attention_module, "MIN_BACKWARD_ROWS", 1)
    g = Generator(tiny_config).eval()
    open_gates(g, 0.7)
    inputs = tiny_inputs(batch=2)
    out, grads = {}, {}
    for name in ("explicit", impl):
        g.zero_grad(set_to_none=True)
        out[name] = g.set_attention_impl(name)(*inputs)
        out[name].square().mean().backward()
        grads[name] = grads_of(g)
    torch.testing.assert_close(out[impl], out["explicit"], atol=1e-4, rtol=0)
    assert grads[impl].keys() == grads["explicit"].keys()
    for n in grads["explicit"]:
        torch.testing.assert_close(grads[impl][n], grads["explicit"][n], atol=1e-4, rtol=1e-4, msg=n)


@pytest.mark.usefixtures("one_thread")
def test_recomputed_blocks_give_the_same_gradients_with_dropout_on(tiny_config):
    g = Generator(tiny_config).train()  # dropout on: the recomputation must replay the same masks
    open_gates(g, 0.7)
    inputs = tiny_inputs(batch=2)
    calls = []
    g.blocks[0].register_forward_pre_hook(lambda *a: calls.append(1))  # a pre-hook: recomputation stops early
    grads, outs = {}, {}
    for recompute in (False, True):
        g.recompute_blocks = recompute
        g.zero_grad(set_to_none=True)
        calls.clear()
        torch.manual_seed(5)
        outs[recompute] = g(*inputs)
        outs[recompute].square().mean().backward()
        grads[recompute] = grads_of(g)
        assert len(calls) == (2 if recompute else 1)  # the block really ran again in the backward pass
    torch.testing.assert_close(outs[True], outs[False], atol=0, rtol=0)
    for n in grads[False]:
        torch.testing.assert_close(grads[True][n], grads[False][n], atol=1e-6, rtol=1e-5, msg=n)


@pytest.mark.parametrize("p", [0.5, 0.2])
def test_dropout_keeps_one_minus_p_scaled_and_passes_gradients_through_the_same_mask(p):
    drop = Dropout(p).train()
    x = torch.rand(4, 64, 16, 11).add_(0.5).contiguous(memory_format=torch.channels_last).requires_grad_()
    y = drop(x)
    kept = y != 0
    assert y.is_contiguous(memory_format=torch.channels_last)
    # 45,056 draws: the kept share is within 5 standard errors of 1 - p
    assert abs(kept.float().mean().item() - (1 - p)) < 5 * (p * (1 - p) / x.numel()) ** 0.5
    torch.testing.assert_close(y[kept], x[kept] / (1 - p))
    y.sum().backward()
    torch.testing.assert_close(x.grad, kept.float() / (1 - p))
    assert not torch.equal(kept, drop(x) != 0)  # a new mask each call
    with torch.autocast("cpu", torch.bfloat16):
        assert drop(x.detach().bfloat16()).dtype == torch.bfloat16
    assert drop.eval()(x) is x and Dropout(0.0).train()(x) is x


@pytest.mark.usefixtures("one_thread")
def test_instance_norm_keeps_channels_last_and_matches_nchw_exactly():
    # the channels-last path normalises in NCHW (the CPU kernel for channels-last is slow): same
    # numbers, and the layout handed on to the next convolution stays channels-last
    norm = InstanceNorm(5)
    x = torch.randn(3, 5, 7, 6)
    x_cl = x.clone().contiguous(memory_format=torch.channels_last).requires_grad_()
    x = x.requires_grad_()
    y, y_cl = norm(x), norm(x_cl)
    assert y_cl.is_contiguous(memory_format=torch.channels_last) and not y_cl.is_contiguous()
    torch.testing.assert_close(y_cl, y, atol=0, rtol=0)
    torch.testing.assert_close(y, torch.nn.functional.instance_norm(x), atol=1e-5, rtol=1e-5)
    weights = torch.randn(3, 5, 7, 6)
    (y * weights).sum().backward()
    (y_cl * weights).sum().backward()
    torch.testing.assert_close(x_cl.grad, x.grad, atol=1e-6, rtol=1e-5)


@pytest.mark.usefixtures("one_thread")
@pytest.mark.skipif(not __import__("os").environ.get("PONA_TEST_COMPILE"),
                    reason="torch.compile of even a tiny generator takes ~3.5 minutes on the 2-core CPU "
                           "machines; set PONA_TEST_COMPILE=1 to run it")
def test_compiled_generator_gives_the_same_outputs(tiny_config):
    g = Generator(tiny_config).eval()
    open_gates(g, 0.7)
    inputs = tiny_inputs(batch=2)
    ref = g(*inputs)
    torch.testing.assert_close(torch.compile(g)(*inputs), ref, atol=1e-4, rtol=0)


# -- save and load (pona.models.io)

@pytest.mark.usefixtures("one_thread")
def test_save_load_round_trip_keeps_config_weights_and_outputs(tmp_path, tiny_config):
    g = Generator(tiny_config).eval()
    for p in g.parameters():
        p.data.add_(torch.randn_like(p) * 0.01)
    path = save_generator(g, tmp_path / "g.safetensors", metadata={"iteration": 12})
    h = load_generator(path)
    assert h.config == tiny_config and not h.training
    for (k, a), (_, b) in zip(g.state_dict().items(), h.state_dict().items()):
        assert torch.equal(a, b), k
    from pona.models.io import read_metadata
    assert read_metadata(path)["iteration"] == "12"
    assert load_generator(tmp_path.joinpath("g.safetensors")).config == tiny_config


@pytest.mark.usefixtures("one_thread")
def test_loading_errors_are_clear(tmp_path, tiny_config):
    with pytest.raises(CheckpointError, match="does not exist"):
        load_generator(tmp_path / "nope.safetensors")
    torch.save({"a": torch.zeros(1)}, tmp_path / "x.pth")
    with pytest.raises(CheckpointError, match="convert-checkpoint"):
        load_generator(tmp_path / "x.pth")
    from safetensors.torch import load_file, save_file
    path = save_generator(Generator(tiny_config), tmp_path / "g.safetensors")
    sd = load_file(str(path))
    meta = {"format": "pona-generator", "version": "1",
            "config": json.dumps({"ngf": tiny_config.ngf, "n_blocks": tiny_config.n_blocks, "image_size": list(tiny_config.image_size)})}
    del sd["decoder.7.weight"]
    save_file(sd, str(tmp_path / "broken.safetensors"), metadata=meta)
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\), e.g. \['decoder.7.weight'\]"):
        load_generator(tmp_path / "broken.safetensors")


@pytest.mark.usefixtures("one_thread")
def test_one_strict_check_for_every_weight_file_batchnorm_counters_aside(tiny_config):
    from pona.models.io import load_strict

    g = Generator(dataclasses.replace(tiny_config, norm="batch")).train()
    g(*tiny_inputs(size=tiny_config.image_size))  # the running statistics and counters move
    state = g.state_dict()
    counters = [k for k in state if k.endswith("num_batches_tracked")]
    assert counters and all(state[k] == 1 for k in counters)
    # kept where the model has them ...
    h = Generator(dataclasses.replace(tiny_config, norm="batch"))
    load_strict(h, state, "mine")
    assert all(torch.equal(a, b) for a, b in zip(h.state_dict().values(), state.values()))
    # ... and never required: files saved before PyTorch 0.4.1 lack them
    h = Generator(dataclasses.replace(tiny_config, norm="batch")).eval()
    load_strict(h, {k: v for k, v in state.items() if k not in counters}, "old")
    x = tiny_inputs(size=tiny_config.image_size)
    assert torch.equal(h(*x), g.eval()(*x))
    # anything else absent, extra or of another shape is named, each kind once
    bad = {k: v for k, v in state.items() if k != "decoder.7.weight"}
    bad["extra.weight"] = torch.zeros(1)
    bad["decoder.7.bias"] = torch.zeros(99)
    with pytest.raises(CheckpointError, match=r"^bad: not the expected weights: 1 missing key\(s\), e\.g\. "
                                              r"\['decoder\.7\.weight'\]; 1 unexpected key\(s\), e\.g\. \['extra\.weight'\]; "
                                              r"1 tensor\(s\) of the wrong shape, e\.g\. \['decoder\.7\.bias \(99,\) "):
        load_strict(h, bad, "bad")
