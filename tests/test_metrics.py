"""Metric code on hand-checked values, the metric networks on random weights saved in the published
key layout, and ``evaluate`` end to end on a tiny dataset built here."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from skimage.metrics import structural_similarity

from pona.cli import main
from pona.data.layout import write_annotations, write_pairs
from pona.errors import CheckpointError, DataError, WeightsNotFoundError
from pona.masks import market_mask
from pona.metrics import inception as inc
from pona.metrics import lpips as lp
from pona.metrics.evaluate import copy_condition_images, evaluate, generated_name, match_generated
from pona.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from pona.metrics.is_score import inception_score
from pona.metrics.pckh import head_box, pair_counts, pckh
from pona.metrics.psnr import l1_legacy, psnr, psnr_uint8_wrap
from pona.metrics.ssim import apply_mask, pad_width, ssim_legacy, ssim_modern


def rand_image(seed, size=(128, 64)):
    return np.random.default_rng(seed).integers(0, 256, (*size, 3), dtype=np.uint8)


def pose(dy=0, dx=0):
    """A standing person in a 128x64 image: head joints, shoulders, hips, knees, ankles."""
    kp = np.full((18, 2), -1)
    for j, (y, x) in {0: (20, 32), 1: (30, 32), 14: (18, 29), 15: (18, 35), 16: (19, 26), 17: (19, 38),
                      2: (30, 22), 5: (30, 42), 8: (70, 26), 11: (70, 38), 9: (95, 26), 12: (95, 38),
                      10: (120, 26), 13: (120, 38)}.items():
        kp[j] = (y + dy, x + dx)
    return kp


# --------------------------------------------------------------------------------------------- SSIM


def test_ssim_of_an_image_with_itself_is_one_and_matches_skimage_called_directly():
    a, b = rand_image(0), rand_image(1)
    assert ssim_legacy(a, a) == pytest.approx(1.0) and ssim_modern(a, a) == pytest.approx(1.0)
    direct = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                   channel_axis=-1, data_range=float(b.max()) - float(b.min()))
    assert ssim_legacy(a, b) == direct
    direct = structural_similarity(a / np.float32(255), b / np.float32(255), win_size=51, channel_axis=-1, data_range=1.0)
    assert ssim_modern(a, b) == pytest.approx(direct, abs=1e-6) and ssim_modern(a, b) != pytest.approx(ssim_legacy(a, b))


def test_legacy_ssim_takes_its_data_range_from_the_generated_image():
    a = rand_image(0)
    b = (a // 2).astype(np.uint8)  # range ~0..127: the field divides by that, not by 255
    expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     channel_axis=-1, data_range=127.0)
    assert ssim_legacy(a, b) == pytest.approx(expected)
    assert math.isnan(ssim_legacy(a, np.zeros_like(a)))  # constant image: data_range 0


def test_deepfashion_padding_adds_40_white_columns_each_side():
    img = rand_image(2, (256, 176))
    padded = pad_width(img)
    assert padded.shape == (256, 256, 3)
    assert (padded[:, :40] == 255).all() and (padded[:, -40:] == 255).all() and (padded[:, 40:216] == img).all()


def test_mask_ssim_ignores_differences_outside_the_target_mask():
    mask = market_mask(pose(), 128, 64)
    a = rand_image(3)
    b = a.copy()
    b[~mask] = 255 - b[~mask]  # change only the background
    assert (apply_mask(b, mask)[~mask] == 0).all()
    assert ssim_legacy(apply_mask(a, mask), apply_mask(b, mask)) == pytest.approx(1.0)
    assert ssim_legacy(a, b) < 0.9


# ---------------------------------------------------------------------------------------- PSNR, L1


def test_psnr_of_a_known_noise_level():
    target = np.full((8, 8, 3), 128, np.uint8)
    noise = np.where(np.indices((8, 8, 3)).sum(0) % 2 == 0, 10, -10)  # +-10 everywhere: MSE = 100
    generated = (target.astype(int) + noise).astype(np.uint8)
    assert psnr(target, generated) == pytest.approx(10 * math.log10(255**2 / 100))  # 28.13 dB
    assert psnr(target, target) == math.inf
    assert l1_legacy(target, generated) == pytest.approx(10 * 2 / 255)


def test_uint8_wrap_psnr_differs_from_psnr_as_the_wrapping_predicts():
    target = np.zeros((4, 4, 3), np.uint8)
    assert psnr_uint8_wrap(target, target + 1) == pytest.approx(psnr(target, target + 1))  # 1^2 = 1: no wrap
    # an error of 16 everywhere: 16^2 = 256 wraps to 0, so the "MSE" is 0 and the "PSNR" infinite
    assert psnr(target, target + 16) == pytest.approx(10 * math.log10(255**2 / 256))
    assert psnr_uint8_wrap(target, target + 16) == math.inf


# --------------------------------------------------------------------------------------------- PCKh


def test_pckh_on_hand_made_keypoints_uses_strict_head_box_thresholds():
    target = np.full((18, 2), -1)
    target[0], target[1], target[14], target[15] = (10, 10), (20, 10), (8, 8), (8, 12)  # box w 4, h 12
    target[2], target[5] = (20, 4), (20, 16)
    assert head_box(target) == (4.0, 12.0)  # thresholds |dx| < 2, |dy| < 6
    pred = target.astype(float).copy()
    pred[0] += (0, 1.9)     # right: |dx| 1.9 < 2
    pred[1] += (5.9, 0)     # right: |dy| 5.9 < 6
    pred[14] += (0, 2)      # wrong: |dx| = 2 is not < 2
    pred[15] += (6, 0)      # wrong: |dy| = 6 is not < 6
    pred[2] = -1            # wrong: missing in the prediction
    #  pred[5] exact        # right
    pred[3] = (30, 4)       # not annotated in the target: not counted
    assert pair_counts(pred, target) == (3, 6)
    assert pair_counts(None, target) == (0, 6)  # no person found: every joint wrong


def test_pckh_zero_width_head_box_makes_every_joint_wrong_and_is_reported():
    target = np.full((18, 2), -1)
    target[0], target[1], target[2] = (10, 10), (20, 10), (20, 4)  # head joints in one column: w = 0
    assert head_box(target) == (0.0, 10.0)
    assert pair_counts(target, target) == (0, 3)  # even a perfect prediction: |dx| = 0 is not < 0
    result = pckh([target], [target])
    assert (result.correct, result.total, result.degenerate, result.value) == (0, 3, 1, 0.0)


def test_pckh_skips_pairs_without_two_head_joints_and_pools_counts():
    good = pose()
    no_head = pose()
    no_head[[0, 1, 14, 15, 16]] = -1  # only l_ear left
    half = pose(dx=100)               # every joint far off
    half[[0, 1]] = good[[0, 1]]       # but nose and neck right: 2 of 14
    result = pckh([good, no_head, half], [good, no_head, good])
    assert (result.correct, result.total, result.pairs, result.skipped) == (14 + 2, 14 + 14, 2, 1)
    assert result.value == pytest.approx(16 / 28)  # pooled; the mean of ratios would be (1 + 1/7) / 2


# ------------------------------------------------------------------------------------------ FID, IS


def test_fid_of_a_set_with_itself_is_zero_and_fid_is_symmetric():
    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(200, 8)), rng.normal(1.0, 2.0, size=(150, 8))
    mu_a, s_a = feature_statistics(a)
    mu_b, s_b = feature_statistics(b)
    assert frechet_distance(mu_a, s_a, mu_a, s_a) == pytest.approx(0.0, abs=1e-6)
    assert frechet_distance(mu_a, s_a, mu_b, s_b) == pytest.approx(frechet_distance(mu_b, s_b, mu_a, s_a))
    # hand value: |(1, 0)|^2 + tr(I + diag(4, 9)) - 2 tr(diag(2, 3)) = 1 + 15 - 10
    assert frechet_distance([0, 0], np.eye(2), [1, 0], np.diag([4.0, 9.0])) == pytest.approx(6.0)


def test_fid_eigh_and_the_fields_sqrtm_give_the_same_number():
    rng = np.random.default_rng(2)
    a, b = rng.normal(size=(300, 40)), rng.normal(0.5, 1.5, size=(300, 40)) @ rng.normal(size=(40, 40))
    stats = (*feature_statistics(a), *feature_statistics(b))
    assert frechet_distance(*stats, method="eigh") == pytest.approx(frechet_distance(*stats, method="sqrtm"), rel=1e-8)


def test_fid_from_few_features_takes_the_exact_low_rank_path():
    rng = np.random.default_rng(3)
    few, ref = rng.normal(size=(6, 30)), rng.normal(0.3, 1.2, size=(100, 30))  # 6 samples in 30-d
    mu_r, s_r = feature_statistics(ref)
    assert fid_from_features(few, mu_r, s_r) == pytest.approx(frechet_distance(*feature_statistics(few), mu_r, s_r))
    assert fid_from_features(ref, mu_r, s_r) == pytest.approx(0.0, abs=1e-6)  # N > D: the full path


def test_fid_survives_a_singular_covariance():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(5, 16)), rng.normal(size=(5, 16))  # 5 samples in 16-d: rank 4
    stats = (*feature_statistics(a), *feature_statistics(b))
    value = frechet_distance(*stats)
    assert math.isfinite(value) and value > 0
    assert frechet_distance(*stats, method="sqrtm") == pytest.approx(value, rel=1e-4)


def test_inception_score_of_uniform_logits_is_one_and_of_confident_distinct_classes_is_their_count():
    assert inception_score(np.zeros((20, 1008))) == pytest.approx((1.0, 0.0))
    logits = np.full((100, 1008), -50.0)
    logits[np.arange(100), np.arange(100) % 10] = 50.0  # each chunk of 10: 10 classes, one image each
    mean, std = inception_score(logits, splits=10)
    assert mean == pytest.approx(10.0, rel=1e-6) and std == pytest.approx(0.0, abs=1e-6)
    with pytest.raises(ValueError):
        inception_score(np.zeros((5, 10)), splits=10)


# ------------------------------------------------------------------------------------------ networks


def random_state_dict(contract, seed=0, bn_counters=False):
    """Random tensors of the published files' key layout (BatchNorm variances positive)."""
    g = torch.Generator().manual_seed(seed)
    sd = {}
    for k, shape in contract.items():
        t = torch.randn(shape, generator=g) * 0.05
        if k.endswith("running_var") or k.endswith("bn.weight"):
            t = t.abs() + 1.0
        sd[k] = t
        if bn_counters and k.endswith("running_var"):
            sd[k.replace("running_var", "num_batches_tracked")] = torch.tensor(0)
    return sd


@pytest.fixture(scope="module")
def published_weights(tmp_path_factory):
    """All four published files, random, under their published names (built once: ~400 MB)."""
    d = tmp_path_factory.mktemp("weights")
    torch.save(random_state_dict(inc.published_keys("fid"), 1, bn_counters=True), d / inc.FID_INCEPTION_FILE)
    torch.save(random_state_dict(inc.published_keys("torchvision"), 2), d / inc.TV_INCEPTION_FILE)
    alexnet = random_state_dict({k: s for k, s in lp.ALEXNET_KEYS.items() if k.startswith("features.")}, 3)
    alexnet.update({k: torch.zeros(s) for k, s in lp.ALEXNET_KEYS.items() if k.startswith("classifier.")})  # unused
    torch.save(alexnet, d / lp.ALEXNET_FILE)
    lin = {k: v.abs() for k, v in random_state_dict(lp.LPIPS_KEYS, 4).items()}  # real LPIPS weights are >= 0
    torch.save(lin, d / lp.LPIPS_FILE)
    return d


@pytest.fixture
def weights_dir(published_weights, tmp_path, monkeypatch):
    """The published files, with an empty torch hub cache (nothing found or downloaded elsewhere)."""
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    return published_weights


def test_published_key_layouts_match_the_documented_parameter_counts():
    def params(contract):
        return sum(math.prod(s) for k, s in contract.items() if "running_" not in k)
    assert params(inc.published_keys("torchvision")) == 27_161_264  # torchvision's documented count
    assert params(lp.ALEXNET_KEYS) == 61_100_840                      # torchvision's documented count
    assert params(inc.published_keys("fid")) == 27_161_264 - 3_326_696 + 8 * 2049  # no aux head, 1008 classes
    assert [s for s in lp.LPIPS_KEYS.values()] == [(1, 64, 1, 1), (1, 192, 1, 1), (1, 384, 1, 1), (1, 256, 1, 1), (1, 256, 1, 1)]
    for variant in ("fid", "torchvision"):
        own = {k: tuple(v.shape) for k, v in inc.InceptionV3(variant).state_dict().items()
               if not k.endswith("num_batches_tracked")}
        assert own == {k: s for k, s in inc.published_keys(variant).items() if not k.startswith("AuxLogits.")}


@pytest.mark.slow
def test_inception_networks_load_the_published_layout_and_give_pool3_and_logits(weights_dir):
    saved = torch.load(weights_dir / inc.FID_INCEPTION_FILE)
    fid_net = inc.load_inception("fid", weights_dir=weights_dir, download=False)
    assert torch.equal(fid_net.fc.weight, saved["fc.weight"])
    assert torch.equal(fid_net.Mixed_7c.branch_pool.bn.running_var, saved["Mixed_7c.branch_pool.bn.running_var"])
    tv_net = inc.load_inception("torchvision", weights_dir=weights_dir, download=False)
    x = torch.rand(2, 3, 75, 75) * 2 - 1  # 75 px: the smallest input the network takes; 299 in use
    with torch.no_grad():
        pool = fid_net(x)
        assert pool.shape == (2, 2048) and torch.isfinite(pool).all()
        assert fid_net.classify(pool).shape == (2, 1008)
        assert torch.allclose(fid_net.classify(pool) - fid_net.classify(pool, bias=False), fid_net.fc.bias.expand(2, -1), atol=1e-5)
        assert tv_net.classify(tv_net(x)).shape == (2, 1000)
    assert not any(p.requires_grad for p in fid_net.parameters()) and not fid_net.training


def test_the_2015_graph_variant_pools_like_tensorflow():
    ones = torch.ones(1, 1, 4, 4)
    assert inc._pool3x3(ones, "avg_tf")[0, 0, 0, 0] == 1.0          # padding excluded
    assert inc._pool3x3(ones, "avg")[0, 0, 0, 0] == pytest.approx(4 / 9)  # torchvision: padding counted
    net = inc.InceptionV3("fid")
    assert [net.Mixed_5b.pool, net.Mixed_6e.pool, net.Mixed_7b.pool, net.Mixed_7c.pool] == ["avg_tf"] * 3 + ["max"]
    net = inc.InceptionV3("torchvision")
    assert [net.Mixed_5b.pool, net.Mixed_7b.pool, net.Mixed_7c.pool] == ["avg"] * 3


def test_tensorflow1_resize_has_no_half_pixel_offset():
    x = torch.tensor([[[[0.0, 10.0]]]])                 # (1, 1, 1, 2)
    out = inc.resize_tf1(x, (1, 4))[0, 0, 0]
    assert out.tolist() == pytest.approx([0.0, 5.0, 10.0, 10.0])  # sources 0, 0.5, 1, 1.5 (clamped)
    half_pixel = torch.nn.functional.interpolate(x, size=(1, 4), mode="bilinear", align_corners=False)[0, 0, 0]
    assert half_pixel.tolist() == pytest.approx([0.0, 2.5, 7.5, 10.0])


def test_preprocessing_ranges_of_each_tool():
    black, white = torch.zeros(1, 8, 8, 3, dtype=torch.uint8), torch.full((1, 8, 8, 3), 255, dtype=torch.uint8)
    assert inc.preprocess(black, "tf_graph").shape == (1, 3, 299, 299)
    assert inc.preprocess(black, "tf_graph").max() == pytest.approx(-1.0)
    assert inc.preprocess(white, "tf_graph").min() == pytest.approx(127 / 128)
    assert inc.preprocess(white, "pytorch_fid").min() == pytest.approx(1.0)
    red = inc.preprocess(white, "torchvision")[0, 0, 0, 0]  # transform_input applied to a [0, 1] image
    assert red == pytest.approx(0.229 / 0.5 + (0.485 - 0.5) / 0.5)
    with pytest.raises(ValueError):
        inc.preprocess(black, "caffe")


def test_lpips_loads_the_published_layout_and_is_zero_for_identical_images(weights_dir):
    net = lp.load_lpips(weights_dir=weights_dir, download=False)
    saved = torch.load(weights_dir / lp.LPIPS_FILE)
    assert torch.equal(net.lin2.model[1].weight, saved["lin2.model.1.weight"])
    x, y = torch.rand(3, 3, 64, 32) * 2 - 1, torch.rand(3, 3, 64, 32) * 2 - 1
    with torch.no_grad():
        d = net(x, y)
        assert d.shape == (3,) and (d > 0).all() and net(x, x).abs().max() < 1e-6


def test_missing_weights_error_names_each_file_and_where_to_put_it(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(WeightsNotFoundError) as e:
        lp.load_lpips(weights_dir=empty, download=False)
    message = str(e.value)
    assert lp.ALEXNET_FILE in message and lp.LPIPS_FILE in message and lp.LPIPS_URL in message
    assert str(empty) in message and str(tmp_path / "torch-home") in message
    with pytest.raises(WeightsNotFoundError, match=inc.FID_INCEPTION_FILE):
        inc.load_inception("fid", weights_dir=empty, download=False)


def test_a_wrong_weight_file_is_named_with_its_differences(weights_dir, tmp_path):
    sd = torch.load(weights_dir / inc.TV_INCEPTION_FILE)
    del sd["Mixed_6b.branch1x1.conv.weight"]
    sd["fc.weight"] = torch.zeros(1008, 2048)
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match=r"bad.pth.*1 missing key.*Mixed_6b.*wrong shape.*fc.weight"):
        inc.load_inception("torchvision", weights=tmp_path / "bad.pth", download=False)


# ------------------------------------------------------------------------------------------ evaluate


def person_image(kp, seed):
    """A light background with a darker blob around each joint: enough structure for the metrics."""
    rng = np.random.default_rng(seed)
    img = np.full((128, 64, 3), 200, np.uint8) + rng.integers(0, 20, (128, 64, 3), dtype=np.uint8)
    for y, x in kp[(kp >= 0).all(1)]:
        img[max(0, y - 4):y + 4, max(0, x - 3):x + 3] = rng.integers(0, 120, 3)
    return img


@pytest.fixture
def tiny_data(tmp_path):
    """PATN layout: 6 training and 5 test images of 128x64 with keypoints, 5 test pairs."""
    root = tmp_path / "data"
    for split, n in (("train", 6), ("test", 5)):
        (root / split).mkdir(parents=True)
        ann = {}
        for i in range(n):
            kp = pose(dy=i % 3, dx=2 * i - 4)
            name = f"{split}_{i}.jpg"
            Image.fromarray(person_image(kp, 10 * i + len(split))).save(root / split / name, quality=95)
            ann[name] = kp
        write_annotations(root / f"toy-annotation-{split}.csv", ann)
        names = list(ann)
        write_pairs(root / f"toy-pairs-{split}.csv", [(names[i], names[(i + 1) % n]) for i in range(n)])
    return root


def test_copy_baseline_writes_the_condition_images_under_the_generated_names(tiny_data, tmp_path):
    n = copy_condition_images(tiny_data, tmp_path / "copy")
    assert n == 5
    out = np.asarray(Image.open(tmp_path / "copy" / generated_name("test_0.jpg", "test_1.jpg")))
    assert np.array_equal(out, np.asarray(Image.open(tiny_data / "test" / "test_0.jpg")))


def test_match_generated_reports_missing_and_extra_files(tmp_path):
    (tmp_path / "a.jpg___b.jpg.png").touch()
    (tmp_path / "stray.png").touch()
    (tmp_path / "notes.txt").touch()
    matched, missing, extra = match_generated(tmp_path, [("a.jpg", "b.jpg"), ("b.jpg", "c.jpg")])
    assert [m[:2] for m in matched] == [("a.jpg", "b.jpg")]
    assert missing == ["b.jpg___c.jpg.png"] and extra == ["stray.png"]


def fixed_estimator(image):
    """A stand-in pose estimator: always the same pose (PCKh is then checked against pckh() directly)."""
    return pose(dx=1)


def test_evaluate_without_weights_reports_pixel_metrics_and_names_the_missing_files(tiny_data, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    gen = tmp_path / "gen"
    copy_condition_images(tiny_data, gen)
    (gen / generated_name("test_4.jpg", "test_0.jpg")).unlink()              # a missing image
    (gen / "test_9.jpg___test_0.jpg.png").write_bytes((gen / generated_name("test_0.jpg", "test_1.jpg")).read_bytes())
    r = evaluate(gen, tiny_data, "all", weights_dir=tmp_path / "none", estimator=fixed_estimator,
                 batch_size=3, download=False)
    assert (r.pairs, r.evaluated) == (5, 4)
    assert r.missing == ["test_4.jpg___test_0.jpg.png"] and r.extra == ["test_9.jpg___test_0.jpg.png"]
    pairs = [(f"test_{i}.jpg", f"test_{i + 1}.jpg") for i in range(4)]
    load = lambda name: np.asarray(Image.open(tiny_data / "test" / name).convert("RGB"))  # noqa: E731
    assert r.value("ssim") == pytest.approx(np.mean([ssim_legacy(load(b), load(a)) for a, b in pairs]))
    assert r.value("psnr") == pytest.approx(np.mean([psnr(load(b), load(a)) for a, b in pairs]))
    from pona.data.layout import read_annotations
    ann = read_annotations(tiny_data / "toy-annotation-test.csv")
    assert r.value("pckh") == pytest.approx(pckh([pose(dx=1)] * 4, [ann[b] for _, b in pairs]).value)
    for key, files in (("is", [inc.FID_INCEPTION_FILE]), ("fid_torchvision", [inc.TV_INCEPTION_FILE]),
                       ("lpips", [lp.ALEXNET_FILE, lp.LPIPS_FILE])):
        assert r.value(key) is None and all(f in r[key].error for f in files) and "put it in" in r[key].error
    for key in ("mask_ssim", "l1", "psnr_uint8_wrap", "ssim_modern"):
        assert r.value(key) is not None and math.isfinite(r.value(key))
    text = r.to_text()
    assert "4 of 5 pairs evaluated" in text and "test_4.jpg___test_0.jpg.png" in text and "OpenPose" in text
    assert "| mask-SSIM | legacy |" in r.to_markdown()
    assert json.loads(r.to_json())["missing"] == r.missing


def test_evaluate_of_the_targets_themselves_gives_perfect_scores(tiny_data, tmp_path):
    gen = tmp_path / "gen"
    gen.mkdir()
    for i in range(5):
        a, b = f"test_{i}.jpg", f"test_{(i + 1) % 5}.jpg"
        Image.open(tiny_data / "test" / b).save(gen / generated_name(a, b))
    r = evaluate(gen, tiny_data, "legacy", estimator="none", download=False)
    assert r.value("ssim") == pytest.approx(1.0) and r.value("mask_ssim") == pytest.approx(1.0)
    assert r.value("psnr") == math.inf and r.value("l1") == 0.0
    assert json.loads(r.to_json())["metrics"][[m.key for m in r.metrics].index("psnr")]["value"] == "inf"
    assert r.value("pckh") is None and "no pose estimator" in r["pckh"].error


def test_evaluate_rejects_a_generated_image_of_the_wrong_size(tiny_data, tmp_path):
    gen = tmp_path / "gen"
    copy_condition_images(tiny_data, gen)
    Image.new("RGB", (32, 64)).save(gen / generated_name("test_0.jpg", "test_1.jpg"))
    with pytest.raises(DataError, match="32x64"):
        evaluate(gen, tiny_data, estimator="none", download=False)
    with pytest.raises(DataError, match="missing"):
        (gen / generated_name("test_0.jpg", "test_1.jpg")).unlink()
        evaluate(gen, tiny_data, estimator="none", download=False, strict=True)


@pytest.mark.slow
def test_evaluate_with_weights_computes_every_metric_and_keeps_partial_batches(tiny_data, tmp_path, weights_dir, monkeypatch):
    monkeypatch.setattr(inc, "SIZE", 75)  # random weights: the input size only changes the cost here
    gen = tmp_path / "gen"
    copy_condition_images(tiny_data, gen)
    common = dict(weights_dir=weights_dir, estimator=fixed_estimator, download=False, cache_dir=tmp_path / "cache")
    r = evaluate(gen, tiny_data, "all", batch_size=2, **common)  # batches of 2, 2, 1
    for m in r.metrics:
        assert m.error is None and m.value is not None and math.isfinite(m.value), m
    # every pair entered, although the last batch held one
    assert "5 generated vs 6 training images" in r["fid_2015"].detail and r.value("is") >= 1.0
    assert "5 splits" in r["is"].detail
    assert len(list((tmp_path / "cache").glob("fid-reference-*.npz"))) == 2
    r64 = evaluate(gen, tiny_data, "legacy", batch_size=64, **common)  # one batch: same numbers
    for key in ("ssim", "is", "mask_is", "pckh"):
        assert r64.value(key) == pytest.approx(r.value(key), rel=1e-4, abs=1e-4), key


def test_cli_evaluate_copy_baseline_writes_json_and_markdown(tiny_data, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    try:
        main(["evaluate", "--copy-baseline", "--data", str(tiny_data), "--offline", "--estimator", "none",
              "--json", str(out_json), "--markdown", str(out_md)])
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr().out
    assert code == 0 and "5 of 5 pairs evaluated" in out and "mask-SSIM" in out
    assert json.loads(out_json.read_text())["evaluated"] == 5 and "| SSIM | legacy |" in out_md.read_text()


def test_cli_evaluate_errors_exit_2(tiny_data, tmp_path, capsys):
    for args in (["evaluate", "--data", str(tiny_data)],
                 ["evaluate", "--generated", str(tmp_path / "nope"), "--data", str(tiny_data)]):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
    assert "error: " in capsys.readouterr().err
