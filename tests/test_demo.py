import base64
import json
import re

import pytest

from pona.cli import main
from pona.demo import DemoOptions, run_demo, spread
from pona.report import svg_line_chart

# Small tensors and a busy 2-core machine: one thread is faster (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


@pytest.fixture(scope="module")
def tiny_demo(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    return run_demo(DemoOptions(out=out, minutes=2, preset="synth-tiny", train_ids=6, test_ids=3, poses=3,
                                eval_pairs=12, max_iterations=4))


def test_demo_trains_evaluates_and_writes_a_self_contained_report(tiny_demo):
    r = tiny_demo
    assert r.iterations == 4 and (r.checkpoint / "generator.safetensors").is_file()
    html = r.report.read_text()
    # the metric table compares the model with copying the condition image, same pairs
    assert "copy condition" in html and "mask-SSIM" in html
    # what was compared, on how much, and how it ran
    assert "12 held-out pairs" in html and "one seed, 0" in html
    assert re.search(r"training in (fp32|bf16) \w+ \(.+\), inference in (fp32|bf16)", html)
    assert "photo studio" in html  # the default scene
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
    assert summary["seed"] == 0 and "4 iterations" in html and "seed 0" in html


def table_rows(html):
    """The report's metric table: {label: [cells]}, and the column names."""
    table = re.search(r"<table>(.*?)</table>", html, re.S).group(1)
    head = re.findall(r"<th[^>]*>(.*?)</th>", table)
    rows = {}
    for row in re.findall(r"<tr>(.*?)</tr>", table, re.S)[1:]:
        cells = re.findall(r"<td([^>]*)>(.*?)</td>", row, re.S)
        rows[cells[0][1]] = [(("better" in attrs), text) for attrs, text in cells[1:-1]]
    return head, rows


def test_demo_report_table_holds_the_summary_numbers_of_both_methods(tiny_demo):
    html = tiny_demo.report.read_text()
    summary = json.loads((tiny_demo.report.parent / "summary.json").read_text())
    assert summary["metrics"] == tiny_demo.metrics
    head, rows = table_rows(html)
    assert head[1:3] == ["PoNA", "copy condition"]
    # label, key, digits, lower is better; the values printed as Metric.formatted documents
    for label, key, digits, lower in (("SSIM", "ssim", 4, False), ("mask-SSIM", "mask_ssim", 4, False),
                                      ("PSNR", "psnr", 2, False), ("L1", "l1", 4, True),
                                      ("colour ΔE (median)", "colour_de", 1, True), ("colours right", "colour_right", 4, False)):
        values = [summary["metrics"][name][key] for name in head[1:3]]
        assert [text for _, text in rows[label]] == [f"{v:.{digits}f}" for v in values], label
        best = (min if lower else max)(range(2), key=lambda i: values[i])
        assert [bold for bold, _ in rows[label]] == [i == best for i in range(2)], label
    # nothing downloaded: the IS rows are skipped in both columns, and so are their values
    assert [text for _, text in rows["IS"]] == ["skipped", "skipped"]
    assert summary["metrics"]["PoNA"]["is"] is None and summary["metrics"]["copy condition"]["is"] is None


def test_demo_scores_its_generated_images_and_the_condition_images_on_the_same_held_out_pairs(tiny_demo):
    import numpy as np
    from PIL import Image

    from pona.data.layout import find_split, read_pairs
    from pona.metrics.psnr import l1_legacy
    from pona.metrics.ssim import ssim_legacy

    out = tiny_demo.report.parent
    test = find_split(tiny_demo.data, "test")
    pairs = spread(read_pairs(test.pairs), 12)
    assert len(set(pairs)) == 12
    names = {f"{a}___{b}.png" for a, b in pairs}
    assert {p.name for p in (out / "generated").iterdir()} == names == {p.name for p in (out / "copy").iterdir()}
    load = lambda path: np.asarray(Image.open(path).convert("RGB"))  # noqa: E731
    for method, folder in (("PoNA", "generated"), ("copy condition", "copy")):
        ssim, l1 = [], []
        for a, b in pairs:
            generated, target = load(out / folder / f"{a}___{b}.png"), load(test.images / b)
            if folder == "copy":  # the baseline really is the condition image
                assert np.array_equal(generated, load(test.images / a))
            ssim.append(ssim_legacy(target, generated))
            l1.append(l1_legacy(target, generated))
        assert tiny_demo.metrics[method]["ssim"] == pytest.approx(np.mean(ssim)), method
        assert tiny_demo.metrics[method]["l1"] == pytest.approx(np.mean(l1)), method


def test_demo_examples_grid_shows_ten_examples_in_two_columns(tiny_demo):
    from PIL import Image

    grid = Image.open(tiny_demo.report.parent / "figures" / "examples.png")
    # each example: condition | target pose | generated | ground truth (4 x 16 px), 5 rows of
    # 32 px; two columns with a 2 px gap
    assert grid.size == (2 * 4 * 16 + 2, 5 * 32)
    assert grid.getpixel((4 * 16, 0)) == (255, 255, 255)  # the gap
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
    assert "held-out (6 pairs), PoNA vs copying the condition image: SSIM" in out
    # the printed line: each metric, PoNA's value then the copy's, as in summary.json
    m = json.loads((tmp_path / "d" / "summary.json").read_text())["metrics"]
    assert m["PoNA"] != m["copy condition"]
    for label, key, digits in (("SSIM", "ssim", 4), ("mask-SSIM", "mask_ssim", 4), ("PSNR", "psnr", 2), ("L1", "l1", 4),
                               ("colours right", "colour_right", 4)):
        assert f" {label} {m['PoNA'][key]:.{digits}f} vs {m['copy condition'][key]:.{digits}f}" in out, label


def test_spread_picks_evenly_and_keeps_short_lists():
    assert spread(list(range(10)), 3) == [0, 4, 9] or spread(list(range(10)), 3) == [0, 5, 9]
    assert spread([1, 2], 5) == [1, 2]


def test_svg_chart_scales_points_into_the_plot_area():
    svg = svg_line_chart({"a": ([0, 10], [1.0, 2.0])}, "t", "x", width=200, height=100)
    points = re.search(r'points="([^"]+)"', svg).group(1).split()
    (x0, y0), (x1, y1) = (tuple(map(float, p.split(","))) for p in points)
    assert x0 == 52 and x1 == 200 - 12 and y0 > y1  # higher values are drawn higher up
    assert svg_line_chart({"a": ([], [])}, "t", "x") == ""


@pytest.mark.parametrize("scene, preset, name, size", [("studio", None, "pretrained", (64, 44)),
                                                       ("street", None, "pretrained-market", (128, 64)),
                                                       ("studio", "synth-studio-256", "pretrained-studio-256", (256, 176))])
def test_each_packaged_checkpoint_loads_by_name_and_beats_copying_on_its_own_held_out_people(
        tmp_path, capsys, scene, preset, name, size):
    from pona.models.io import load_generator, resolve_checkpoint

    path = resolve_checkpoint(name)
    assert path.stat().st_size < 25 * 2**20  # the limit for a packaged checkpoint
    model = load_generator(name)
    assert tuple(model.config.image_size) == size
    assert path.with_suffix(".metrics.jsonl").is_file()  # the demo report's training curves
    # the demo on it, without training: held-out people, scored against copying the condition image
    r = run_demo(DemoOptions(out=tmp_path / "d", pretrained=True, scene=scene, preset=preset, eval_pairs=24))
    pona, copy = r.metrics["PoNA"], r.metrics["copy condition"]
    assert r.iterations is None
    assert pona["ssim"] > copy["ssim"] and pona["psnr"] > copy["psnr"] and pona["l1"] < copy["l1"]
    main(["info", name])
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

    monkeypatch.setitem(io.PRETRAINED, "pretrained", "no-such-checkpoint")
    with pytest.raises(PonaError, match="benchmarks/pretrain.py"):
        io.load_generator("pretrained")
    with pytest.raises(PonaError, match="unknown packaged checkpoint 'pretrained-moon'"):
        io.pretrained_checkpoint("pretrained-moon")


def test_pretrained_needs_a_preset_that_a_packaged_checkpoint_was_trained_with(tmp_path, capsys):
    from helpers import run_cli

    code, _, err = run_cli(capsys, "demo", "--out", str(tmp_path / "d"), "--pretrained", "--preset", "synth-fashion")
    assert code == 2 and "'synth-fashion'" in err and "synth-studio-256" in err and not (tmp_path / "d").exists()


def test_an_unknown_scene_is_one_clear_error(tmp_path, capsys):
    from helpers import run_cli
    from pona.errors import PonaError

    with pytest.raises(PonaError, match="unknown scene 'moon'"):
        run_demo(DemoOptions(out=tmp_path / "d", scene="moon"))
    code, _, err = run_cli(capsys, "demo", "--out", str(tmp_path / "d"), "--scene", "moon")
    assert code == 2 and "moon" in err and not (tmp_path / "d").exists()
