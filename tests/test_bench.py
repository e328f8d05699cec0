"""pona.bench: the flop count, the peak and the benchmark run end to end. Nothing here is timed
(the fast paths it measures are checked against the released way in test_models and test_precision)."""

import json

import pytest
import torch

from helpers import run_cli
from pona import bench, precision
from pona.bench import BenchOptions, generator_gflops, run_benchmark
from pona.errors import PonaError
from pona.train.config import load_config


pytestmark = pytest.mark.usefixtures("one_thread")


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


# a peak in milliseconds: one tiny matrix product and one tiny convolution per precision
TINY_PEAK = dict(peak_matmuls=(64,), peak_convs=((1, 8, 16, 16),), peak_repeats=2)
HAS_BF16 = precision.native_bf16("cpu")


@pytest.fixture(scope="module")
def fp32_run():
    options = BenchOptions(sizes=((32, 16),), batches=(2,), repeats=1, threads=1, ngf=8, n_blocks=2,
                           data_batches=2, **TINY_PEAK)
    return run_benchmark(options)


@pytest.fixture(scope="module")
def fp32_and_bf16_run():
    if not HAS_BF16:
        pytest.skip("this CPU has no bf16 units")
    options = BenchOptions(sizes=((32, 16),), batches=(1,), repeats=1, threads=1, ngf=8, n_blocks=2,
                           data_batches=2, precisions=("fp32", "bf16"), **TINY_PEAK)
    return run_benchmark(options)


def test_bench_runs_end_to_end_and_writes_the_table_as_json(fp32_run):
    rows = json.loads(fp32_run.to_json())["rows"]
    assert [(r["size"], r["batch"], r["task"], r["precision"]) for r in rows] == [
        ("32x16", 2, "inference", "fp32 NCHW"), ("32x16", 2, "train", "fp32 NCHW"), ("32x16", 2, "data", "")]
    for r in rows[:2]:
        assert r["rate"] > 0 and r["ref_rate"] > 0 and r["memory_mb"] > 0 and r["ref_memory_mb"] > 0
        assert r["max_abs_diff"] <= 1e-4, r
        assert r["note"] == ""
    assert rows[0]["gflop_per_s"] > 0 and rows[0]["peak_fraction"] > 0
    assert rows[2]["rate"] > 0 and rows[2]["ref_rate"] == rows[1]["rate"]  # data against our training rate
    text = fp32_run.to_text()
    assert "32x16" in text and "max|diff|" in text and "light preset" in text and "precision" in text


def test_bench_report_starts_with_the_cpus_capabilities(fp32_run):
    features = precision.cpu_features()
    expected = {"AVX2": "avx2" in features, "AVX-512": "avx512f" in features,
                "AVX512-BF16": "avx512_bf16" in features, "AMX": "amx_bf16" in features}
    machine = json.loads(fp32_run.to_json())["machine"]
    assert machine["capabilities"] == expected and machine["native_bf16"] == HAS_BF16
    assert machine["cpu_features"] == sorted(features)
    line = fp32_run.to_text().splitlines()[1]
    words = ", ".join(f"{name} {'yes' if has else 'no'}" for name, has in expected.items())
    assert line == f"CPU: {words}; native bf16: {'yes' if HAS_BF16 else 'no'}"


def test_capability_line_names_amx_and_bf16_units_when_the_cpu_has_them(monkeypatch):
    sapphire_rapids = frozenset({"avx2", "avx512f", "avx512_bf16", "amx_bf16", "amx_tile"})
    monkeypatch.setattr(precision, "cpu_features", lambda: sapphire_rapids)
    monkeypatch.setattr(bench, "cpu_features", lambda: sapphire_rapids)
    assert bench.capability_line(bench.machine_info(1)) == (
        "CPU: AVX2 yes, AVX-512 yes, AVX512-BF16 yes, AMX yes; native bf16: yes")
    monkeypatch.setattr(precision, "cpu_features", lambda: frozenset({"avx2"}))
    monkeypatch.setattr(bench, "cpu_features", lambda: frozenset({"avx2"}))
    assert bench.capability_line(bench.machine_info(1)) == (
        "CPU: AVX2 yes, AVX-512 no, AVX512-BF16 no, AMX no; native bf16: no")


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16])
def test_peak_cases_run_in_their_dtype_with_channels_last_convolutions_and_count_their_flops(dtype):
    cases = bench.peak_cases(dtype, matmuls=(16,), convs=((2, 4, 5, 3),))
    (mm_name, mm_flops, mm), (conv_name, conv_flops, conv) = cases
    assert (mm_name, mm_flops) == ("matmul 16", 2 * 16**3)
    assert (conv_name, conv_flops) == ("conv 2x4x5x3", 2 * (2 * 4 * 5 * 3) * (4 * 3 * 3))  # 2 x outputs x MACs each
    assert mm().dtype == dtype and mm().shape == (16, 16)
    y = conv()
    assert y.dtype == dtype and y.shape == (2, 4, 5, 3) and y.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize("name", ["fp32", "bf16"])
def test_peak_is_the_best_of_matrix_products_and_convolutions(name):
    if name == "bf16" and not HAS_BF16:
        pytest.skip("this CPU has no bf16 units")
    peak = bench.measure_peak(name, matmuls=(32, 64), convs=((1, 8, 16, 16), (1, 16, 8, 8)), repeats=2)
    assert peak.precision == name
    assert set(peak.medians) == {"matmul 32", "matmul 64", "conv 1x8x16x16", "conv 1x16x8x8"}
    assert all(v > 0 for v in peak.medians.values())
    assert peak.matmul == max(peak.medians["matmul 32"], peak.medians["matmul 64"])
    assert peak.conv == max(peak.medians["conv 1x8x16x16"], peak.medians["conv 1x16x8x8"])
    assert peak.gflop_per_s == max(peak.matmul, peak.conv)


def test_bench_measures_the_peak_of_only_the_precisions_it_runs(fp32_run):
    assert list(fp32_run.peaks) == ["fp32"] and fp32_run.peaks["fp32"].gflop_per_s > 0
    assert fp32_run.to_text().count("peak fp32: matmul ") == 1 and "peak bf16" not in fp32_run.to_text()


def test_bench_gives_fp32_and_bf16_rows_side_by_side_against_one_fp32_reference(fp32_and_bf16_run):
    result = fp32_and_bf16_run
    assert result.options["precisions"] == ["fp32 NCHW", "bf16 channels_last"]
    assert [(r.task, r.precision) for r in result.rows] == [
        ("inference", "fp32 NCHW"), ("inference", "bf16 channels_last"),
        ("train", "fp32 NCHW"), ("train", "bf16 channels_last"), ("data", "")]
    inference, train = result.rows[0:2], result.rows[2:4]
    for fp32, bf16 in (inference, train):
        assert fp32.ref_rate == bf16.ref_rate > 0  # one reference, measured once
        assert fp32.rate > 0 and bf16.rate > 0 and fp32.note == bf16.note == ""
        assert fp32.max_abs_diff <= 1e-4 < bf16.max_abs_diff, (fp32, bf16)  # bf16 really ran
    # inference: the same image roughly (training differs more: channels_last dropout draws other masks)
    assert inference[1].max_abs_diff < 0.5
    fastest = max(train, key=lambda r: r.rate)
    assert result.rows[4].ref_rate == fastest.rate and fastest.precision in result.rows[4].note
    rows = json.loads(result.to_json())["rows"]
    assert [r["precision"] for r in rows] == ["fp32 NCHW", "bf16 channels_last"] * 2 + [""]
    text = result.to_text()
    assert "ours in fp32 NCHW, bf16 channels_last; the reference in fp32 NCHW" in text
    assert "bf16 channels_last" in text.split("max|diff|")[1]  # in the table, not only the header


def test_bench_percent_peak_is_against_the_peak_of_the_rows_precision(fp32_and_bf16_run):
    peaks = fp32_and_bf16_run.peaks
    assert list(peaks) == ["fp32", "bf16"] and peaks["fp32"].gflop_per_s != peaks["bf16"].gflop_per_s
    assert all(p.matmul > 0 and p.conv > 0 for p in peaks.values())
    fp32, bf16 = fp32_and_bf16_run.rows[0:2]
    assert fp32.peak_fraction == fp32.gflop_per_s / peaks["fp32"].gflop_per_s
    assert bf16.peak_fraction == bf16.gflop_per_s / peaks["bf16"].gflop_per_s
    text = fp32_and_bf16_run.to_text()
    for p in peaks.values():
        assert (f"peak {p.precision}: matmul {p.matmul:.1f} / conv(channels_last) {p.conv:.1f} GFLOP/s -> "
                f"{p.gflop_per_s:.1f}") in text


def test_bench_refuses_bf16_without_bf16_units_before_measuring_anything(monkeypatch, capsys):
    monkeypatch.setattr(precision, "cpu_features", lambda: frozenset({"avx2", "avx512f"}))
    monkeypatch.setattr(bench, "measure_peak", lambda *a, **k: pytest.fail("measured before refusing"))
    with pytest.raises(PonaError, match=r"^--precision bf16: this CPU has no AVX512-BF16 or AMX units"):
        run_benchmark(BenchOptions(precisions=("fp32", "bf16"), **TINY_PEAK))
    code, out, err = run_cli(capsys, "bench", "--quick", "--precision", "fp32,bf16")
    assert code == 2 and out == ""
    assert err.startswith("error: --precision bf16:") and err.count("\n") == 1 and "Traceback" not in err


def test_bench_precision_option_takes_a_list_and_rejects_unknown_names(capsys):
    code, _, err = run_cli(capsys, "bench", "--precision", "fp32,fp8")
    assert code == 2 and "unknown precision(s) ['fp8']" in err
    assert bench.resolve_precisions(("fp32", "fp32")) == [precision.resolve_precision("fp32", "cpu", channels_last=False)]
    if HAS_BF16:  # auto means what it resolves to: bf16 here, so "auto,bf16" is one set of rows
        assert [p.label for p in bench.resolve_precisions(("fp32", "auto", "bf16"))] == ["fp32 NCHW", "bf16 channels_last"]


def test_bench_command_help_lists_its_options(capsys):
    code, out, _ = run_cli(capsys, "bench", "--help")
    assert code == 0
    for option in ("--sizes", "--batches", "--repeats", "--threads", "--precision", "--quick", "--out"):
        assert option in out

