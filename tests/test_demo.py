import base64
import json
import re

import pytest

from pona.cli import main
from pona.demo import DemoOptions, run_demo, spread
from pona.report import svg_line_chart


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return run_demo(DemoOptions(out=out, minutes=1, preset="synth-tiny", train_ids=6, test_ids=3, poses=3,
                                eval_pairs=12, max_iterations=4))


def test_demo_trains_evaluates_and_writes_a_self_contained_report(tiny_demo):
    r = tiny_demo
    assert r.iterations == 4 and (r.checkpoint / "generator.safetensors").is_file()
    html = r.report.read_text()
    # the metric table compares the model with copying the condition image, same pairs
    assert "copy condition" in html and "mask-SSIM" in html
    for name in ("PoNA", "copy condition"):
        assert 0 <= r.metrics[name]["ssim"] <= 1 and r.metrics[name]["l1"] > 0
    assert r.metrics["copy condition"]["ssim"] != r.metrics["PoNA"]["ssim"]
    # every figure is embedded, nothing is linked from outside the file
    images = re.findall(r'src="data:image/(png|gif);base64,([^"]+)"', html)
    assert [kind for kind, _ in images] == ["png", "gif", "png"]
    assert all(base64.b64decode(data)[:4] in (b"\x89PNG", b"GIF8") for _, data in images)
    assert "http://" not in html.replace("http://www.w3.org/2000/svg", "") and "https://" not in html
    assert "<polyline" in html  # training curves
    summary = json.loads((r.report.parent / "summary.json").read_text())
    assert summary["data"]["evaluated_pairs"] == 12 and summary["iterations"] == 4


def test_demo_examples_grid_has_one_row_per_example(tiny_demo):
    from PIL import Image

    grid = Image.open(tiny_demo.report.parent / "figures" / "examples.png")
    assert grid.size == (4 * 16, 8 * 32)  # condition | target pose | generated | ground truth, 8 rows
    gif = Image.open(tiny_demo.report.parent / "figures" / "animation.gif")
    total = 0
    for i in range(gif.n_frames):  # Pillow merges identical consecutive frames, adding their durations
        gif.seek(i)
        total += gif.info["duration"]
    # 24 frames at 8 fps (GIF stores centiseconds, so 125 ms frames round), skeleton | generated
    assert abs(total - 24 * 125) <= 24 * 5 and gif.size == (2 * 16, 32)


def test_demo_reuses_the_rendered_data(tiny_demo, tmp_path):
    stamp = tiny_demo.data / "demo-data.json"
    before = stamp.stat().st_mtime_ns
    from pona.demo import make_data

    make_data(DemoOptions(out=tiny_demo.data.parent, preset="synth-tiny", train_ids=6, test_ids=3, poses=3))
    assert stamp.stat().st_mtime_ns == before


def test_demo_cli_prints_the_report_and_the_serve_command(tmp_path, capsys):
    main(["demo", "--out", str(tmp_path / "d"), "--minutes", "1", "--preset", "synth-tiny", "--train-ids", "5",
          "--test-ids", "2", "--poses", "3", "--eval-pairs", "6", "optim.constant_iterations=3", "optim.decay_iterations=0"])
    out = capsys.readouterr().out
    assert "report:" in out and "report.html" in out and "pona serve --checkpoint" in out
    assert "held-out SSIM" in out and "copying the condition image" in out


def test_spread_picks_evenly_and_keeps_short_lists():
    assert spread(list(range(10)), 3) == [0, 4, 9] or spread(list(range(10)), 3) == [0, 5, 9]
    assert spread([1, 2], 5) == [1, 2]


def test_svg_chart_scales_points_into_the_plot_area():
    svg = svg_line_chart({"a": ([0, 10], [1.0, 2.0])}, "t", "x", width=200, height=100)
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in points)
    assert x0 == 52 and x1 == 200 - 12 and y0 > y1  # higher values are drawn higher up
    assert svg_line_chart({"a": ([], [])}, "t", "x") == ""


def test_the_packaged_checkpoint_loads_by_name_and_beats_copying_on_its_own_held_out_people(tmp_path, capsys):
    from pona.models.io import load_generator, pretrained_checkpoint

    path = pretrained_checkpoint()
    assert path.stat().st_size < 15 * 2**20  # the limit for a packaged checkpoint
    model = load_generator("pretrained")
    assert tuple(model.config.image_size) == (128, 64)
    assert (path.parent / "synth-market.metrics.jsonl").is_file()  # the demo report's training curves
    # the demo on it, without training: held-out people, scored against copying the condition image
    r = run_demo(DemoOptions(out=tmp_path / "d", pretrained=True, eval_pairs=24))  # the demo's people (~10 s)
    assert r.iterations is None and r.metrics["PoNA"]["mask_ssim"] > r.metrics["copy condition"]["mask_ssim"]
    main(["info", "pretrained"])
    assert json.loads(capsys.readouterr().out)["parameters"] == sum(p.numel() for p in model.parameters())
    code = 0
    try:
        main(["transfer", "--help"])
    except SystemExit as e:
        code = e.code
    assert code == 0 and "'pretrained'" in capsys.readouterr().out


def test_a_missing_packaged_checkpoint_says_how_to_make_one(monkeypatch):
    from pona.errors import PonaError
    from pona.models import io

    monkeypatch.setattr(io, "PRETRAINED_FILE", "no-such-checkpoint.safetensors")
    with pytest.raises(PonaError, match="benchmarks/pretrain.py"):
        io.load_generator("pretrained")
