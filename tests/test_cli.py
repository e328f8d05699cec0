import json
import re
import subprocess
import sys

import pytest
import torch
from safetensors import safe_open

from helpers import run_cli, tiny_inputs
from released_reference import ReleasedGenerator, randomize


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster, above all on a busy machine


def parameters(module):
    return sum(p.numel() for p in module.parameters())


def released_parameters(ngf, n_blocks, norm):
    """The parameter count of the released generator of that size (shapes only: nothing allocated)."""
    with torch.device("meta"):
        return parameters(ReleasedGenerator(ngf, n_blocks, norm))


def test_convert_checkpoint_then_info(tmp_path, capsys):
    from pona.models import Generator, GeneratorConfig, load_generator

    ref = randomize(ReleasedGenerator(16, 2, "batch")).eval()
    torch.save(ref.state_dict(), tmp_path / "latest_net_netG.pth")
    code, out, _ = run_cli(capsys, "convert-checkpoint", str(tmp_path / "latest_net_netG.pth"), str(tmp_path / "g.safetensors"))
    # the renaming keeps every parameter: the count printed is the released model's
    assert code == 0 and "g.safetensors" in out and f"{parameters(ref):,} parameters" in out
    # the file: safetensors, our header, our keys and shapes
    with safe_open(str(tmp_path / "g.safetensors"), framework="pt") as f:
        assert f.metadata()["format"] == "pona-generator"
        shapes = {k: tuple(f.get_slice(k).get_shape()) for k in f.keys()}
    expected = Generator(GeneratorConfig(ngf=16, n_blocks=2, norm="batch", image_size=(128, 64))).state_dict()
    assert shapes == {k: tuple(v.shape) for k, v in expected.items()}
    # ... holding the released weights: the same output as the released model
    image, src, dst = tiny_inputs()
    with torch.no_grad():
        torch.testing.assert_close(load_generator(tmp_path / "g.safetensors")(image, src, dst),
                                   ref(image, torch.cat([src, dst], 1)), atol=1e-4, rtol=0)
    code, out, _ = run_cli(capsys, "info", str(tmp_path / "g.safetensors"))
    info = json.loads(out)
    assert info["config"]["norm"] == "batch" and info["config"]["image_size"] == [128, 64]
    assert info["config"]["ngf"] == 16 and info["config"]["n_blocks"] == 2
    assert info["converted_from"] == "latest_net_netG.pth" and info["parameters"] == parameters(ref)


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    torch.save({"model.att.0.bogus": torch.zeros(1)}, tmp_path / "bad.pth")
    code, _, err = run_cli(capsys, "convert-checkpoint", str(tmp_path / "bad.pth"), str(tmp_path / "out.safetensors"))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "out.safetensors").exists()


def test_bad_option_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "smoke", "--size", "big")
    assert code == 2 and "HEIGHTxWIDTH" in err


SMOKE = re.compile(r"PoNA generator: ([\d,]+) parameters, output \((\d+), (\d+), (\d+), (\d+)\) "
                   r"in \[(-?[\d.]+), (-?[\d.]+)\]")


def test_console_entry_point_runs_smoke():
    r = subprocess.run([sys.executable, "-m", "pona", "smoke", "--size", "32x16"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    m = SMOKE.search(r.stdout)
    assert m, r.stdout
    # the paper's DeepFashion generator (ngf 64, 3 blocks, instance norm): the released model's parameters
    assert m.group(1) == f"{released_parameters(64, 3, 'instance'):,}" == "34,329,356"
    assert tuple(map(int, m.groups()[1:5])) == (1, 3, 32, 16)
    lo, hi = float(m.group(6)), float(m.group(7))
    assert -1 <= lo < hi <= 1  # a tanh output that is not constant


def test_smoke_follows_its_batch_and_block_options(capsys):
    code, out, err = run_cli(capsys, "smoke", "--size", "16x8", "--batch", "2", "--n-blocks", "1")
    assert code == 0, err
    m = SMOKE.search(out)
    assert m, out
    assert m.group(1) == f"{released_parameters(64, 1, 'instance'):,}"
    assert tuple(map(int, m.groups()[1:5])) == (2, 3, 16, 8)
