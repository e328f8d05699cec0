import json
import subprocess
import sys

import torch

from released_reference import ReleasedGenerator, randomize
from helpers import run_cli


def test_convert_checkpoint_then_info(tmp_path, capsys):
    torch.save(randomize(ReleasedGenerator(16, 2, "batch")).state_dict(), tmp_path / "latest_net_netG.pth")
    code, out, _ = run_cli(capsys, "convert-checkpoint", str(tmp_path / "latest_net_netG.pth"), str(tmp_path / "g.safetensors"))
    assert code == 0 and "g.safetensors" in out
    code, out, _ = run_cli(capsys, "info", str(tmp_path / "g.safetensors"))
    info = json.loads(out)
    assert info["config"]["norm"] == "batch" and info["config"]["image_size"] == [128, 64]
    assert info["converted_from"] == "latest_net_netG.pth" and info["parameters"] > 0


def test_errors_are_one_line_and_exit_2(tmp_path, capsys):
    torch.save({"model.att.0.bogus": torch.zeros(1)}, tmp_path / "bad.pth")
    code, _, err = run_cli(capsys, "convert-checkpoint", str(tmp_path / "bad.pth"), str(tmp_path / "out.safetensors"))
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert not (tmp_path / "out.safetensors").exists()


def test_bad_option_is_a_usage_error(capsys):
    code, _, err = run_cli(capsys, "smoke", "--size", "big")
    assert code == 2 and "HEIGHTxWIDTH" in err


def test_console_entry_point_runs_smoke():
    r = subprocess.run([sys.executable, "-m", "pona", "smoke", "--size", "32x16"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert "34,329,356 parameters" in r.stdout and "(1, 3, 32, 16)" in r.stdout
