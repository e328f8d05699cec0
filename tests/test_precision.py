"""pona.precision: the rules of auto / fp32 / bf16 / fp16, the layout, and what a generator computes in bf16."""

import pytest
import torch

from helpers import grads_of, open_gates, tiny_inputs
from pona import precision
from pona.errors import PonaError
from pona.models import Generator
from pona.precision import Precision, autocast, resolve_precision, to_layout

AVX2 = frozenset({"avx2"})
AVX512 = frozenset({"avx2", "avx512f"})
ZEN4 = frozenset({"avx2", "avx512f", "avx512_bf16"})
SAPPHIRE_RAPIDS = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})


@pytest.fixture
def cpu_with(monkeypatch):
    def set_features(features):
        monkeypatch.setattr(precision, "cpu_features", lambda: features)
    return set_features


def test_auto_is_fp32_in_the_old_layout_on_a_cpu_without_bf16_units(cpu_with):
    cpu_with(AVX2)
    p = resolve_precision("auto", "cpu")
    assert (p.name, p.dtype, p.channels_last) == ("fp32", None, False)
    assert "no native bf16" in p.reason


def test_fp32_is_channels_last_on_avx512_cpus(cpu_with):
    cpu_with(AVX512)
    assert resolve_precision("auto", "cpu") == Precision("fp32", None, True, "auto: CPU has no native bf16")
    assert resolve_precision("fp32", "cpu").channels_last
    assert not resolve_precision("fp32", "cpu", channels_last=False).channels_last  # forced layout wins


@pytest.mark.parametrize("features", [ZEN4, SAPPHIRE_RAPIDS, frozenset({"amx_bf16"})])
def test_auto_is_bf16_channels_last_on_a_cpu_with_bf16_units(cpu_with, features):
    cpu_with(features)
    p = resolve_precision("auto", "cpu")
    assert (p.name, p.dtype, p.channels_last) == ("bf16", torch.bfloat16, True)
    assert resolve_precision("bf16", "cpu") == Precision("bf16", torch.bfloat16, True, "requested")
    assert str(p) == "bf16 channels_last (auto: CPU has native bf16)"


@pytest.mark.parametrize("features", [AVX2, AVX512])
def test_bf16_is_refused_on_a_cpu_without_bf16_units_in_one_line(cpu_with, features):
    cpu_with(features)
    with pytest.raises(PonaError) as e:
        resolve_precision("bf16", "cpu")
    message = str(e.value)
    assert "\n" not in message and message.startswith("--precision bf16:")
    assert "AVX512-BF16 or AMX" in message and "slower than fp32" in message and "use fp32, or auto" in message


def test_fp16_needs_cuda_and_unknown_names_list_the_choices(cpu_with):
    cpu_with(SAPPHIRE_RAPIDS)
    with pytest.raises(PonaError, match=r"^run.amp fp16: fp16 runs only on CUDA") as e:
        resolve_precision("fp16", "cpu", setting="run.amp")
    assert "\n" not in str(e.value)
    with pytest.raises(PonaError, match=r"unknown precision 'fp8'; choose one of auto, fp32, bf16, fp16$"):
        resolve_precision("fp8", "cpu")


def test_cpu_features_agree_with_torchs_own_probes():
    found = precision.cpu_features()
    assert found <= set(precision.CPU_FEATURES)
    for name, probe in (("avx2", "_is_avx2_supported"), ("avx512_bf16", "_is_avx512_bf16_supported"),
                        ("amx_tile", "_is_amx_tile_supported")):
        if hasattr(torch.cpu, probe):
            assert (name in found) == getattr(torch.cpu, probe)(), name


def test_autocast_and_layout_follow_the_precision():
    conv = torch.nn.Conv2d(3, 4, 3)
    bf16 = Precision("bf16", torch.bfloat16, True, "test")
    fp32 = Precision("fp32", None, False, "test")
    x = torch.rand(1, 3, 8, 6)
    with autocast(bf16, "cpu"):
        assert conv(x).dtype == torch.bfloat16
    with autocast(fp32, "cpu"):
        assert conv(x).dtype == torch.float32
    assert to_layout(conv, bf16).weight.is_contiguous(memory_format=torch.channels_last)
    assert conv.weight.dtype == torch.float32  # the layout changes, never the weights' dtype
    assert to_layout(x, bf16).is_contiguous(memory_format=torch.channels_last) and not x.is_contiguous(
        memory_format=torch.channels_last)
    tokens = torch.rand(2, 5, 3)
    assert to_layout(tokens, bf16) is tokens and to_layout(x, fp32).is_contiguous()


def test_a_generator_in_bf16_stays_close_to_fp32_on_the_same_weights(tiny_config, one_thread):
    """Tolerance: max |bf16 - fp32| < 0.06 on outputs in [-1, 1] (under 8 levels of an 8-bit image),
    mean < 0.01. Measured here: max 0.024, mean 0.004 (random weights, attention gates open)."""
    from pona.inference import PoNA

    g = Generator(tiny_config)
    open_gates(g)
    x, s, d = tiny_inputs()
    # bf16 built by hand, not resolved: it runs (slowly, emulated) on any CPU
    fp32 = PoNA(g, precision="fp32").run(x, s, d)
    bf16 = PoNA(g, precision=Precision("bf16", torch.bfloat16, True, "test")).run(x, s, d)
    assert bf16.dtype == torch.float32 and next(g.parameters()).dtype == torch.float32
    diff = (bf16 - fp32).abs()
    assert 0 < diff.max() < 0.06 and diff.mean() < 0.01, (diff.max(), diff.mean())


def test_laying_out_under_inference_mode_keeps_normal_weights_trainable(tiny_config):
    cl = Precision("fp32", None, True, "test")
    G = Generator(tiny_config)
    with torch.inference_mode():  # as pona.reid.augment builds its PoNA
        to_layout(G, cl)
    assert not any(p.is_inference() for p in G.parameters())
    image, src, dst = tiny_inputs(1)
    G(image, src, dst).sum().backward()  # autograd still works on them
    with torch.inference_mode():  # weights loaded in inference mode stay inference tensors
        H = to_layout(Generator(tiny_config), cl)
        assert H(image, src, dst).shape == image.shape


def test_channels_last_gives_the_same_outputs_and_gradients_on_cpu(tiny_config):
    g = Generator(tiny_config).eval()
    open_gates(g, 0.7)
    inputs = tiny_inputs(batch=2)
    out, grads = {}, {}
    for fmt in (torch.contiguous_format, torch.channels_last):
        g.to(memory_format=fmt).zero_grad(set_to_none=True)
        out[fmt] = g(*(x.contiguous(memory_format=fmt) for x in inputs))
        out[fmt].square().mean().backward()
        grads[fmt] = grads_of(g)
    assert g.image_encoder[1].weight.is_contiguous(memory_format=torch.channels_last)  # the switch took effect
    torch.testing.assert_close(out[torch.channels_last], out[torch.contiguous_format], atol=1e-4, rtol=0)
    for n in grads[torch.contiguous_format]:
        torch.testing.assert_close(grads[torch.channels_last][n], grads[torch.contiguous_format][n],
                                   atol=1e-4, rtol=1e-4, msg=n)
