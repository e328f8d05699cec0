import pytest
import torch

from helpers import open_gates, tiny_inputs
from pona.models import (
    Generator, GeneratorConfig, PATNGenerator, appearance_discriminator, build_generator, pose_discriminator,
)
from pona.models import attention as attention_module
from pona.models.attention import PoseAttention, SelfAttention, attention


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
    cfg = GeneratorConfig(**{**tiny_config.__dict__, **overrides})
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
    g = Generator(GeneratorConfig(**{**tiny_config.__dict__, "norm": "batch"}))
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
    g = PATNGenerator(GeneratorConfig(arch="patn", ngf=16, n_blocks=2, image_size=(32, 16)))
    out, maps = g(*tiny_inputs(), return_attention=True)
    assert out.shape == (2, 3, 32, 16) and maps == [[], []]


def test_generator_and_reid_checkpoints_share_one_format_and_tell_each_other_apart(tmp_path):
    from pona.errors import CheckpointError
    from pona.models.io import load_generator, save_generator
    from pona.reid import ReIDConfig, ReIDNet, load_reid, save_reid

    g = Generator(GeneratorConfig(ngf=8, n_blocks=1, image_size=(32, 16)))
    r = ReIDNet(ReIDConfig(backbone="small", num_classes=3, image_size=(32, 16)))
    save_generator(g, tmp_path / "g.safetensors", {"iteration": 7})
    save_reid(r, tmp_path / "r.safetensors")
    assert load_generator(tmp_path / "g.safetensors").config == g.config
    assert load_reid(tmp_path / "r.safetensors").config == r.config
    with pytest.raises(CheckpointError, match=r"not a pona generator checkpoint \(format='pona-reid'\)"):
        load_generator(tmp_path / "r.safetensors")
    with pytest.raises(CheckpointError, match=r"not a pona re-ID checkpoint \(format='pona-generator'\)"):
        load_reid(tmp_path / "g.safetensors")
