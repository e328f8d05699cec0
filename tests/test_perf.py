"""The fast paths compute what the released way computes; the benchmark runs. Nothing here is timed."""

import json

import pytest
import torch

import pona.models.attention as attention_module
from helpers import open_gates, run_cli, tiny_inputs
from pona.bench import BenchOptions, generator_gflops, run_benchmark
from pona.models import Generator
from pona.models.attention import attention
from pona.train.config import load_config


pytestmark = pytest.mark.usefixtures("one_thread")


def _grads(model):
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


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
        grads[name] = _grads(g)
    torch.testing.assert_close(out[impl], out["explicit"], atol=1e-4, rtol=0)
    assert grads[impl].keys() == grads["explicit"].keys()
    for n in grads["explicit"]:
        torch.testing.assert_close(grads[impl][n], grads["explicit"][n], atol=1e-4, rtol=1e-4, msg=n)


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
        grads[recompute] = _grads(g)
        assert len(calls) == (2 if recompute else 1)  # the block really ran again in the backward pass
    torch.testing.assert_close(outs[True], outs[False], atol=0, rtol=0)
    for n in grads[False]:
        torch.testing.assert_close(grads[True][n], grads[False][n], atol=1e-6, rtol=1e-5, msg=n)


def test_channels_last_gives_the_same_outputs_and_gradients_on_cpu(tiny_config):
    g = Generator(tiny_config).eval()
    open_gates(g, 0.7)
    inputs = tiny_inputs(batch=2)
    out, grads = {}, {}
    for fmt in (torch.contiguous_format, torch.channels_last):
        g.to(memory_format=fmt).zero_grad(set_to_none=True)
        out[fmt] = g(*(x.contiguous(memory_format=fmt) for x in inputs))
        out[fmt].square().mean().backward()
        grads[fmt] = _grads(g)
    assert g.image_encoder[1].weight.is_contiguous(memory_format=torch.channels_last)  # the switch took effect
    torch.testing.assert_close(out[torch.channels_last], out[torch.contiguous_format], atol=1e-4, rtol=0)
    for n in grads[torch.contiguous_format]:
        torch.testing.assert_close(grads[torch.channels_last][n], grads[torch.contiguous_format][n],
                                   atol=1e-4, rtol=1e-4, msg=n)


def test_light_preset_costs_at_most_a_quarter_of_the_full_model():
    light, full = load_config("fashion-light").model, load_config("fashion").model
    assert light.image_size == full.image_size == (256, 176)
    ratio = generator_gflops(light.image_size, light.ngf, light.n_blocks) / generator_gflops(full.image_size, full.ngf, full.n_blocks)
    assert 0.1 < ratio <= 0.25


def test_flop_count_matches_the_released_generator_and_includes_attention():
    assert generator_gflops((256, 176)) == pytest.approx(249.2, abs=0.1)  # the measured count
    assert generator_gflops((128, 64)) == pytest.approx(39.2, abs=0.1)  # the issue rounds it to 39
    # the 6 attention products at N = 2816: 2 N^2 (64 + 512) x 3 + 2 N^2 (32 + 256) x 3
    n = 2816
    attention_gflops = 3 * 2 * n * n * (64 + 512 + 32 + 256) / 1e9
    assert generator_gflops((256, 176)) - attention_gflops == pytest.approx(208.1, abs=0.5)


def test_bench_runs_end_to_end_and_writes_the_table_as_json(tmp_path):
    options = BenchOptions(sizes=((32, 16),), batches=(2,), repeats=1, threads=1, ngf=8, n_blocks=2,
                           data_batches=2, peak_size=256)
    result = run_benchmark(options)
    rows = json.loads(result.to_json())["rows"]
    assert [(r["size"], r["batch"], r["task"]) for r in rows] == [
        ("32x16", 2, "inference"), ("32x16", 2, "train"), ("32x16", 2, "data")]
    for r in rows[:2]:
        assert r["rate"] > 0 and r["ref_rate"] > 0 and r["memory_mb"] > 0 and r["ref_memory_mb"] > 0
        assert r["max_abs_diff"] <= 1e-4, r
        assert r["note"] == ""
    assert rows[0]["gflop_per_s"] > 0 and rows[0]["peak_fraction"] > 0
    assert rows[2]["rate"] > 0 and rows[2]["ref_rate"] == rows[1]["rate"]  # data against our training rate
    text = result.to_text()
    assert "32x16" in text and "max|diff|" in text and "light preset" in text


@pytest.mark.skipif(not __import__("pona.precision").precision.native_bf16("cpu"), reason="this CPU has no bf16 units")
def test_bench_runs_ours_in_bf16_against_the_fp32_reference(tmp_path):
    options = BenchOptions(sizes=((32, 16),), batches=(1,), repeats=1, threads=1, ngf=8, n_blocks=2,
                           tasks=("inference", "train"), peak_size=256, precision="bf16")
    result = run_benchmark(options)
    assert result.options["precision"] == "bf16 channels_last"
    for r in result.rows:
        assert r.rate > 0 and r.ref_rate > 0 and r.note == "" and r.max_abs_diff > 1e-4, r  # bf16 really ran
    # inference: the same image roughly (training differs more: channels_last dropout draws other masks)
    assert result.rows[0].task == "inference" and result.rows[0].max_abs_diff < 0.5
    assert "ours in bf16 channels_last" in result.to_text() and "peak: " in result.to_text()


def test_bench_command_help_lists_its_options(capsys):
    code, out, _ = run_cli(capsys, "bench", "--help")
    assert code == 0
    for option in ("--sizes", "--batches", "--repeats", "--threads", "--precision", "--quick", "--out"):
        assert option in out


@pytest.mark.skipif(not __import__("os").environ.get("PONA_TEST_COMPILE"),
                    reason="torch.compile of even a tiny generator takes ~3.5 minutes on the 2-core CPU "
                           "machines; set PONA_TEST_COMPILE=1 to run it")
def test_compiled_generator_gives_the_same_outputs(tiny_config):
    g = Generator(tiny_config).eval()
    open_gates(g, 0.7)
    inputs = tiny_inputs(batch=2)
    ref = g(*inputs)
    torch.testing.assert_close(torch.compile(g)(*inputs), ref, atol=1e-4, rtol=0)
