"""Metric code on hand-checked values, the metric networks on random weights saved in the published
key layout, and ``evaluate`` end to end on a tiny dataset built here."""

import json
import math
import shutil

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from skimage.color import rgb2lab
from skimage.metrics import structural_similarity

from helpers import run_cli
from pona.cli import main
from pona.data.layout import read_annotations, read_pairs, write_annotations, write_pairs
from pona.errors import CheckpointError, DataError, WeightsNotFoundError
from pona.masks import market_mask
from pona.metrics import inception as inc
from pona.metrics import lpips as lp
from pona.metrics.colour import COLOUR_RIGHT, colour_error, colour_summary, leg_radius, region_masks
from pona.metrics.evaluate import copy_condition_images, evaluate, generated_name, match_generated
from pona.metrics.fid import feature_statistics, fid_from_features, frechet_distance
from pona.metrics.is_score import inception_score
from pona.metrics.pckh import head_box, pair_counts, pckh
from pona.metrics.psnr import l1_legacy, psnr, psnr_uint8_wrap
from pona.metrics.ssim import apply_mask, pad_width, ssim_legacy, ssim_modern

# Small tensors and a busy 2-core machine: one thread is faster (conftest.one_thread).
pytestmark = pytest.mark.usefixtures("one_thread")


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


def luminance_term(x, y, data_range):
    """SSIM (Wang et al. 2004, eq. 13) of two constant signals x and y: every window has sigma_x =
    sigma_y = sigma_xy = 0, so the contrast-structure factor is C2 / C2 = 1 and what is left is
    (2 x y + C1) / (x^2 + y^2 + C1), with C1 = (K1 L)^2, K1 = 0.01, L the data range."""
    c1 = (0.01 * data_range) ** 2
    return (2 * x * y + c1) / (x * x + y * y + c1)


def test_legacy_ssim_of_constant_channels_is_the_hand_computed_luminance_term():
    # Each channel constant; the channels differ, so the generated image is not constant and its
    # range (the legacy data_range) is 210 - 10 = 200, while the target's is 250 and 8 bits' is 255.
    target = np.empty((24, 20, 3), np.uint8)
    generated = np.empty_like(target)
    target[:], generated[:] = (0, 100, 250), (10, 100, 210)
    expected = np.mean([luminance_term(t, g, 200) for t, g in ((0, 10), (100, 100), (250, 210))])
    assert ssim_legacy(target, generated) == pytest.approx(expected, rel=1e-9)
    # (these numbers are far apart: with L = 250 or 255 instead of 200 the first channel alone moves by > 0.005)
    for wrong in (250, 255):
        assert abs(np.mean([luminance_term(t, g, wrong) for t, g in ((0, 10), (100, 100), (250, 210))]) - expected) > 5e-3


def test_modern_ssim_of_constant_images_uses_unit_range_floats():
    # Values so dark that C1 = (0.01 * 1)^2 matters: 1/255 vs 3/255 gives 0.7576, without C1 0.6.
    a, b = np.full((12, 10, 3), 1, np.uint8), np.full((12, 10, 3), 3, np.uint8)
    expected = luminance_term(1 / 255, 3 / 255, 1.0)
    assert 0.75 < expected < 0.76
    assert ssim_modern(a, b) == pytest.approx(expected, rel=1e-4)
    # what the usual mistakes would give instead: 8-bit values with L = 1 -> 0.6; [0, 1] values with L = 255 -> ~1
    assert abs(luminance_term(1, 3, 1.0) - expected) > 0.1 and abs(luminance_term(1 / 255, 3 / 255, 255) - expected) > 0.2
    assert ssim_modern(a, a) == pytest.approx(1.0)


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


def test_l1_and_psnr_of_constant_images_by_hand_without_uint8_wraparound():
    black, white = np.zeros((6, 4, 3), np.uint8), np.full((6, 4, 3), 255, np.uint8)
    grey = np.full((6, 4, 3), 51, np.uint8)
    assert l1_legacy(black, grey) == pytest.approx(51 * 2 / 255) == pytest.approx(0.4)
    # the extremes of the documented [0, 2] range, both ways round (0 - 255 in uint8 would be 1)
    assert l1_legacy(black, white) == pytest.approx(2.0) and l1_legacy(white, black) == pytest.approx(2.0)
    assert psnr(black, white) == pytest.approx(0.0, abs=1e-12) and psnr(white, black) == pytest.approx(0.0, abs=1e-12)
    ten, far = np.full((6, 4, 3), 10, np.uint8), np.full((6, 4, 3), 250, np.uint8)
    # |10 - 250| = 240: MSE 57600 (in uint8, 10 - 250 wraps to 16 and 16^2 to 0)
    assert psnr(ten, far) == pytest.approx(10 * math.log10(255**2 / 240**2))
    assert psnr(ten, far) == pytest.approx(psnr(far, ten))


def test_uint8_wrap_psnr_of_mixed_errors_follows_squares_modulo_256():
    target = np.full((4, 4, 3), 100, np.uint8)
    generated = target.copy()
    generated[:2] += 20  # 100 - 120 wraps to 236; 236^2 = 55696 = 217 * 256 + 144 (as 20^2 = 400 = 256 + 144)
    generated[2:] -= 3   # 100 - 97 = 3; 3^2 = 9
    assert psnr_uint8_wrap(target, generated) == pytest.approx(10 * math.log10(255**2 / ((144 + 9) / 2)))
    assert psnr(target, generated) == pytest.approx(10 * math.log10(255**2 / ((400 + 9) / 2)))  # the correct PSNR


# ------------------------------------------------------------------------------------------- colour


def scaled_pose(height):
    """``pose()`` (drawn for 128x64) scaled to a height x height/2 image."""
    kp = pose().astype(np.float64)
    kp[(kp >= 0).all(1)] *= height / 128
    return kp


def dressed_person(torso=(30, 60, 200), legs=(40, 40, 40), backdrop=(210, 210, 200)):
    """A 128x64 image of ``pose()``: flat backdrop, the torso quad and the legs' bands in flat colours
    (wider than region_masks' regions, as clothes are)."""
    img = np.zeros((128, 64, 3), np.uint8)
    img[:] = backdrop
    for y in range(28, 73):  # shoulders (30, 22)-(30, 42) to hips (70, 26)-(70, 38), 2 px margin
        t = np.clip((y - 30) / 40, 0, 1)
        img[y, int(22 + 4 * t) - 2:int(42 - 4 * t) + 3] = torso
    img[73:123, 23:30] = legs  # below the torso: the regions meet at the hips
    img[73:123, 35:42] = legs
    return img


def test_colour_error_of_an_image_with_itself_is_zero_and_every_pair_is_right():
    a = person_image(pose(), 0)
    assert colour_error(a, a, pose()) == 0.0
    s = colour_summary([colour_error(a, a, pose()), colour_error(b := rand_image(1), b, pose())])
    assert s == {"colour_de": 0.0, "colour_right": 1.0, "right": 2, "pairs": 2}


def test_a_recoloured_shirt_is_a_colour_error_and_a_recoloured_backdrop_is_not():
    blue, red = (30, 60, 200), (200, 30, 30)
    target = dressed_person(torso=blue)
    # the whole error is the torso's: the distance between blue and red in CIELAB, computed here directly
    lab = rgb2lab(np.array([[blue, red]], np.uint8))[0]
    assert colour_error(target, dressed_person(torso=red), pose()) == pytest.approx(np.linalg.norm(lab[0] - lab[1]))
    assert colour_error(target, dressed_person(torso=red), pose()) > 3 * COLOUR_RIGHT
    # a slightly darker blue shirt is a shade, still right
    assert 0 < colour_error(target, dressed_person(torso=(25, 50, 180)), pose()) < COLOUR_RIGHT
    # trousers of another colour: the worst region counts
    assert colour_error(target, dressed_person(torso=blue, legs=(200, 200, 40)), pose()) > COLOUR_RIGHT
    # another backdrop, same clothes: no region sees it
    assert colour_error(target, dressed_person(torso=blue, backdrop=(20, 120, 20)), pose()) == pytest.approx(0, abs=1e-9)
    # ... but it is the target pose that places the regions: shifted 12 px, they see the backdrop
    moved = pose(dx=12)
    assert colour_error(target, dressed_person(torso=blue, backdrop=(20, 120, 20)), moved) > COLOUR_RIGHT


def test_colour_regions_lie_in_the_shoulder_hip_quad_and_on_the_leg_segments():
    m = region_masks(pose(), 128, 64)
    assert set(m) == {"torso", "legs"}
    ys, xs = np.nonzero(m["torso"])
    # the quad: shoulders (30, 22)-(30, 42), hips (70, 26)-(70, 38); its edges at row y, 1 px of rasterisation
    t = (ys - 30) / 40
    assert ys.min() == 30 and ys.max() == 70
    assert ((xs >= 22 + 4 * t - 1) & (xs <= 42 - 4 * t + 1)).all()
    assert abs(m["torso"].sum() - 41 * (20 + 12) / 2) < 2 * 41  # the trapezoid's area, to its edges
    assert m["torso"][50, 22:42].sum() > 15 and not m["torso"][50, :20].any() and not m["torso"][:29].any()
    # legs: x = 26 and x = 38 from the hips (y 70) to the ankles (y 120), 1 px either side at 128 px of height
    ys, xs = np.nonzero(m["legs"])
    assert set(xs) == {25, 26, 27, 37, 38, 39} and ys.min() == 69 and ys.max() == 121
    assert list(np.nonzero(m["legs"][95])[0]) == [25, 26, 27, 37, 38, 39]


def test_colour_regions_drop_what_missing_joints_leave_undefined():
    kp = pose()
    kp[8] = -1  # the right hip: no torso, no right thigh
    m = region_masks(kp, 128, 64)
    assert set(m) == {"legs"}
    assert set(np.nonzero(m["legs"])[1]) == {25, 26, 27, 37, 38, 39}  # the right shin is still there
    assert not m["legs"][69:90, 20:32].any()                             # the right thigh is not
    kp[[9, 10, 11, 12, 13]] = -1
    assert region_masks(kp, 128, 64) == {}
    a = person_image(pose(), 0)
    assert math.isnan(colour_error(a, rand_image(1), kp))
    # a region of fewer than 4 pixels is dropped: a torso squeezed to a point, one shin of 3 px
    torso, shin = np.full((18, 2), -1), np.full((18, 2), -1)
    torso[[2, 5, 8, 11]] = (10, 10)
    shin[[12, 13]] = (50, 20), (52, 20)
    assert region_masks(torso, 64, 32) == {} and region_masks(shin, 64, 32) == {}
    shin[13] = (53, 20)
    assert region_masks(shin, 64, 32)["legs"].sum() == 4
    # joints outside the image: the segment is clipped to it
    out = np.full((18, 2), -1)
    out[[11, 12]] = (40, 10), (90, 10)
    legs = region_masks(out, 64, 32)["legs"]
    assert legs[40:, 10].all() and legs.sum() == 24


def test_colour_legs_thicken_with_the_image_height():
    widths = {}
    for h in (64, 128, 256, 512):
        legs = region_masks(scaled_pose(h), h, h // 2)["legs"]
        widths[h] = int(legs[round(h * 100 / 128)].sum() // 2)  # one row across both shins, per leg
    assert widths == {64: 1, 128: 3, 256: 3, 512: 5}
    assert [leg_radius(h) for h in (64, 127, 128, 383, 384)] == [0, 0, 1, 1, 2]


def test_colour_summary_takes_the_median_and_the_share_below_the_threshold():
    s = colour_summary([3.0, 10.0, COLOUR_RIGHT, 40.0, math.nan])  # the NaN pair has no region: left out
    assert s == {"colour_de": 12.5, "colour_right": 0.5, "right": 2, "pairs": 4}  # ΔE = 15 is not "right"
    empty = colour_summary([math.nan])
    assert empty["pairs"] == 0 and math.isnan(empty["colour_de"]) and math.isnan(empty["colour_right"])


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


def one_hot_logits(classes, n_classes=12):
    """Logits whose softmax is one-hot to within e^-100: image i is sure of class classes[i]."""
    logits = np.full((len(classes), n_classes), -50.0)
    logits[np.arange(len(classes)), classes] = 50.0
    return logits


def test_inception_score_of_one_hot_predictions_counts_the_distinct_classes():
    # identical confident predictions: p(y|x) = p(y), KL 0, IS = e^0 = 1
    assert inception_score(one_hot_logits([3] * 8), splits=1) == pytest.approx((1.0, 0.0))
    # N images spread over N classes: p(y) uniform on N, KL = log N for each, IS = N
    for n in (2, 7):
        assert inception_score(one_hot_logits(list(range(n))), splits=1)[0] == pytest.approx(n, rel=1e-9)


def test_inception_score_by_hand_on_two_images():
    # p(y|x1) = (1, 0), p(y|x2) = (1/2, 1/2): p(y) = (3/4, 1/4); KL1 = log(4/3), KL2 = (log(2/3) + log 2) / 2 =
    # log(4/3) / 2; IS = exp(mean KL) = (4/3)^(3/4). (The mean of exp(KL) would be 1.2440, KL(p(y) || p(y|x)) infinite.)
    logits = np.array([[50.0, -50.0], [0.0, 0.0]])
    assert inception_score(logits, splits=1)[0] == pytest.approx((4 / 3) ** 0.75, rel=1e-9)


def test_inception_score_survives_probabilities_that_underflow():
    # the same predictions as above, surer: p(y|x) = p(y) = one-hot, so IS = 1 exactly
    assert inception_score(20 * one_hot_logits([3] * 8), splits=1) == pytest.approx((1.0, 0.0))


def test_inception_score_splits_are_consecutive_chunks_with_a_population_std():
    # chunks [i N // s, (i + 1) N // s): images (a, a | b, c) -> IS 1 and 2: mean 1.5, population std 0.5
    # (interleaved chunks (a, b), (a, c) would give 2 and 2; the sample std would be 0.707)
    assert inception_score(one_hot_logits([0, 0, 1, 2]), splits=2) == pytest.approx((1.5, 0.5), rel=1e-9)
    # N = 5, 2 splits: [0, 2) and [2, 5), so (a, b | c, c, c) -> 2 and 1 (np.array_split's [0, 3), [3, 5) gives 3 and 1)
    assert inception_score(one_hot_logits([0, 1, 2, 2, 2]), splits=2) == pytest.approx((1.5, 0.5), rel=1e-9)


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


# torchvision's Inception-v3 (torchvision/models/inception.py; pytorch-fid's FIDInception* blocks
# subclass it and change only the pools), written out here from that source, independently of pona:
# every BasicConv2d as (name, in, out, kernel (h, w), stride, padding (h, w)), in registration order,
# which is the state_dict order of the published files. Each block also says where each conv reads
# from ("x": the block input, "pool": the 3x3 stride-1 pool of the input, else a conv of the block)
# and what it concatenates, in order ("maxpool": the 3x3 stride-2 max pool of the input).

def _c(name, cin, cout, k=1, s=1, p=0):
    k = (k, k) if isinstance(k, int) else k
    p = (p, p) if isinstance(p, int) else p
    return (name, cin, cout, k, s, p)


def _block_a(cin, pool_features):
    convs = [_c("branch1x1", cin, 64), _c("branch5x5_1", cin, 48), _c("branch5x5_2", 48, 64, 5, p=2),
             _c("branch3x3dbl_1", cin, 64), _c("branch3x3dbl_2", 64, 96, 3, p=1), _c("branch3x3dbl_3", 96, 96, 3, p=1),
             _c("branch_pool", cin, pool_features)]
    reads = {"branch1x1": "x", "branch5x5_1": "x", "branch5x5_2": "branch5x5_1", "branch3x3dbl_1": "x",
             "branch3x3dbl_2": "branch3x3dbl_1", "branch3x3dbl_3": "branch3x3dbl_2", "branch_pool": "pool"}
    return convs, reads, ["branch1x1", "branch5x5_2", "branch3x3dbl_3", "branch_pool"]


def _block_b(cin):
    convs = [_c("branch3x3", cin, 384, 3, s=2), _c("branch3x3dbl_1", cin, 64), _c("branch3x3dbl_2", 64, 96, 3, p=1),
             _c("branch3x3dbl_3", 96, 96, 3, s=2)]
    reads = {"branch3x3": "x", "branch3x3dbl_1": "x", "branch3x3dbl_2": "branch3x3dbl_1", "branch3x3dbl_3": "branch3x3dbl_2"}
    return convs, reads, ["branch3x3", "branch3x3dbl_3", "maxpool"]


def _block_c(cin, c7):
    convs = [_c("branch1x1", cin, 192), _c("branch7x7_1", cin, c7), _c("branch7x7_2", c7, c7, (1, 7), p=(0, 3)),
             _c("branch7x7_3", c7, 192, (7, 1), p=(3, 0)), _c("branch7x7dbl_1", cin, c7),
             _c("branch7x7dbl_2", c7, c7, (7, 1), p=(3, 0)), _c("branch7x7dbl_3", c7, c7, (1, 7), p=(0, 3)),
             _c("branch7x7dbl_4", c7, c7, (7, 1), p=(3, 0)), _c("branch7x7dbl_5", c7, 192, (1, 7), p=(0, 3)),
             _c("branch_pool", cin, 192)]
    reads = {"branch1x1": "x", "branch7x7_1": "x", "branch7x7_2": "branch7x7_1", "branch7x7_3": "branch7x7_2",
             "branch7x7dbl_1": "x", "branch7x7dbl_2": "branch7x7dbl_1", "branch7x7dbl_3": "branch7x7dbl_2",
             "branch7x7dbl_4": "branch7x7dbl_3", "branch7x7dbl_5": "branch7x7dbl_4", "branch_pool": "pool"}
    return convs, reads, ["branch1x1", "branch7x7_3", "branch7x7dbl_5", "branch_pool"]


def _block_d(cin):
    convs = [_c("branch3x3_1", cin, 192), _c("branch3x3_2", 192, 320, 3, s=2), _c("branch7x7x3_1", cin, 192),
             _c("branch7x7x3_2", 192, 192, (1, 7), p=(0, 3)), _c("branch7x7x3_3", 192, 192, (7, 1), p=(3, 0)),
             _c("branch7x7x3_4", 192, 192, 3, s=2)]
    reads = {"branch3x3_1": "x", "branch3x3_2": "branch3x3_1", "branch7x7x3_1": "x", "branch7x7x3_2": "branch7x7x3_1",
             "branch7x7x3_3": "branch7x7x3_2", "branch7x7x3_4": "branch7x7x3_3"}
    return convs, reads, ["branch3x3_2", "branch7x7x3_4", "maxpool"]


def _block_e(cin):
    convs = [_c("branch1x1", cin, 320), _c("branch3x3_1", cin, 384), _c("branch3x3_2a", 384, 384, (1, 3), p=(0, 1)),
             _c("branch3x3_2b", 384, 384, (3, 1), p=(1, 0)), _c("branch3x3dbl_1", cin, 448),
             _c("branch3x3dbl_2", 448, 384, 3, p=1), _c("branch3x3dbl_3a", 384, 384, (1, 3), p=(0, 1)),
             _c("branch3x3dbl_3b", 384, 384, (3, 1), p=(1, 0)), _c("branch_pool", cin, 192)]
    reads = {"branch1x1": "x", "branch3x3_1": "x", "branch3x3_2a": "branch3x3_1", "branch3x3_2b": "branch3x3_1",
             "branch3x3dbl_1": "x", "branch3x3dbl_2": "branch3x3dbl_1", "branch3x3dbl_3a": "branch3x3dbl_2",
             "branch3x3dbl_3b": "branch3x3dbl_2", "branch_pool": "pool"}
    return convs, reads, ["branch1x1", "branch3x3_2a", "branch3x3_2b", "branch3x3dbl_3a", "branch3x3dbl_3b", "branch_pool"]


TV_STEM = [_c("Conv2d_1a_3x3", 3, 32, 3, s=2), _c("Conv2d_2a_3x3", 32, 32, 3), _c("Conv2d_2b_3x3", 32, 64, 3, p=1),
           _c("Conv2d_3b_1x1", 64, 80), _c("Conv2d_4a_3x3", 80, 192, 3)]
# Mixed blocks, with the channels and the side of their output at 299x299 (the published table:
# 35x35x256/288/288, 17x17x768, 8x8x1280/2048/2048).
TV_MIXED = [("Mixed_5b", _block_a(192, 32), 256, 35), ("Mixed_5c", _block_a(256, 64), 288, 35),
            ("Mixed_5d", _block_a(288, 64), 288, 35), ("Mixed_6a", _block_b(288), 768, 17),
            ("Mixed_6b", _block_c(768, 128), 768, 17), ("Mixed_6c", _block_c(768, 160), 768, 17),
            ("Mixed_6d", _block_c(768, 160), 768, 17), ("Mixed_6e", _block_c(768, 192), 768, 17),
            ("Mixed_7a", _block_d(768), 1280, 8), ("Mixed_7b", _block_e(1280), 2048, 8),
            ("Mixed_7c", _block_e(2048), 2048, 8)]


def reference_convs(aux: bool) -> list:
    convs = list(TV_STEM)
    for name, (block, _, _), _, _ in TV_MIXED:
        convs += [(f"{name}.{c[0]}", *c[1:]) for c in block]
        if name == "Mixed_6e" and aux:  # InceptionAux(768, classes) is registered between Mixed_6e and Mixed_7a
            convs += [_c("AuxLogits.conv0", 768, 128), _c("AuxLogits.conv1", 128, 768, 5)]
    return convs


def reference_state_dict_layout(variant: str, aux: bool) -> list:
    """[(key, shape)] in order, without BatchNorm's num_batches_tracked counters."""
    keys = []
    for name, cin, cout, (kh, kw), _, _ in reference_convs(aux):
        keys.append((f"{name}.conv.weight", (cout, cin, kh, kw)))
        keys += [(f"{name}.bn.{p}", (cout,)) for p in ("weight", "bias", "running_mean", "running_var")]
        if name == "AuxLogits.conv1":
            keys += [("AuxLogits.fc.weight", (1000, 768)), ("AuxLogits.fc.bias", (1000,))]
    classes = 1008 if variant == "fid" else 1000
    return keys + [("fc.weight", (classes, 2048)), ("fc.bias", (classes,))]


@pytest.mark.parametrize("variant", ["fid", "torchvision"])
def test_inception_layers_match_the_reference_architecture_in_order(variant):
    net = inc.InceptionV3(variant)
    own = [(k, tuple(v.shape)) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")]
    reference = reference_state_dict_layout(variant, aux=False)
    assert len(own) == len(reference) and own == reference
    published = reference_state_dict_layout(variant, aux=variant == "torchvision")  # the file holds AuxLogits
    assert inc.published_keys(variant) == dict(published)
    assert sum(math.prod(s) for k, s in published if "running_" not in k) == (27_161_264 if variant == "torchvision" else
                                                                                27_161_264 - 3_326_696 + 8 * 2049)
    modules = dict(net.named_modules())
    for name, cin, cout, k, s, p in reference_convs(aux=False):
        conv, bn = modules[name].conv, modules[name].bn
        assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding) == (cin, cout, k, (s, s), p), name
        assert conv.bias is None and bn.eps == 0.001, name


@pytest.mark.parametrize("variant", ["fid", "torchvision"])
def test_inception_blocks_wire_and_concatenate_their_branches_in_the_reference_order(variant, one_thread):
    """Hooks record what every conv reads and writes at 299x299; each block's output must be the
    concatenation of its branches in the reference order, each conv must read what the reference
    says (the 2015 graph's pools: TensorFlow's average without the padding, a max pool in Mixed_7c;
    torchvision's: average with the padding)."""
    torch.manual_seed(0)
    net = inc.InceptionV3(variant).eval()
    seen = {}

    def record(name):
        def hook(module, args, out):
            seen[name] = (args[0], out)
        return hook

    handles = [m.register_forward_hook(record(n)) for n, m in net.named_modules()
               if isinstance(m, inc.BasicConv2d) or n.startswith("Mixed_") and "." not in n]
    x = torch.rand(1, 3, 299, 299) * 2 - 1
    try:
        with torch.no_grad():
            pool3 = net(x)
    finally:
        for h in handles:
            h.remove()
    avg = lambda t, pad: F.avg_pool2d(t, 3, stride=1, padding=1, count_include_pad=pad)  # noqa: E731
    # the stem: 1a -> 2a -> 2b -> max pool 3/2 -> 3b -> 4a -> max pool 3/2 -> Mixed_5b
    assert torch.equal(seen["Conv2d_1a_3x3"][0], x)
    for prev, cur in (("Conv2d_1a_3x3", "Conv2d_2a_3x3"), ("Conv2d_2a_3x3", "Conv2d_2b_3x3"), ("Conv2d_3b_1x1", "Conv2d_4a_3x3")):
        assert torch.equal(seen[cur][0], seen[prev][1]), cur
    assert torch.equal(seen["Conv2d_3b_1x1"][0], F.max_pool2d(seen["Conv2d_2b_3x3"][1], 3, 2))
    block_input = F.max_pool2d(seen["Conv2d_4a_3x3"][1], 3, 2)
    assert block_input.shape == (1, 192, 35, 35)
    for name, (_, reads, concat), channels, side in TV_MIXED:
        x_in, out = seen[name]
        assert torch.equal(x_in, block_input), name
        assert out.shape == (1, channels, side, side), name
        if variant == "fid":
            pool = F.max_pool2d(x_in, 3, stride=1, padding=1) if name == "Mixed_7c" else avg(x_in, False)
        else:
            pool = avg(x_in, True)
        assert not torch.equal(avg(x_in, False), avg(x_in, True))  # the border tells the two averages apart
        for conv, source in reads.items():
            expected = x_in if source == "x" else pool if source == "pool" else seen[f"{name}.{source}"][1]
            assert torch.equal(seen[f"{name}.{conv}"][0], expected), f"{name}.{conv} reads {source}"
        parts = [F.max_pool2d(x_in, 3, 2) if c == "maxpool" else seen[f"{name}.{c}"][1] for c in concat]
        assert torch.equal(out, torch.cat(parts, 1)), f"{name}: branches concatenated out of order"
        block_input = out
    torch.testing.assert_close(pool3, block_input.mean((2, 3)), rtol=1e-5, atol=0)
    # the branches are distinguishable, so a swap of two equally wide ones would show above
    a5 = [seen[f"Mixed_5b.{c}"][1] for c in ("branch1x1", "branch5x5_2")]
    e7 = [seen[f"Mixed_7c.{c}"][1] for c in ("branch3x3_2a", "branch3x3_2b", "branch3x3dbl_3a", "branch3x3dbl_3b")]
    assert not torch.equal(*a5) and all(not torch.equal(p, q) for i, p in enumerate(e7) for q in e7[i + 1:])


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
        # the number, from the two files' tensors and the lpips package's definition
        expected = lpips_reference(torch.load(weights_dir / lp.ALEXNET_FILE), saved, x, y)
        torch.testing.assert_close(d, expected, rtol=1e-5, atol=1e-7)
        torch.testing.assert_close(net(y, x), d, rtol=1e-6, atol=0)  # symmetric
        # a growing distortion of one image: the distance grows with its strength
        noise = torch.randn(1, 3, 64, 32, generator=torch.Generator().manual_seed(5))
        ds = [net(x[:1], (x[:1] + t * noise).clamp(-1, 1)).item() for t in (0.02, 0.1, 0.3, 1.0)]
        assert all(a < b for a, b in zip(ds, ds[1:])), ds


def lpips_reference(alexnet: dict, lin: dict, x0, x1):
    """LPIPS v0.1 (lpips.LPIPS(net="alex", version="0.1")) written from the package's definition:
    ScalingLayer, torchvision AlexNet ``features`` read after its five ReLUs, ``normalize_tensor``
    (eps 1e-10), the squared difference weighted by ``lin{i}`` (1x1, no bias), ``spatial_average``, summed."""
    shift = torch.tensor([-0.030, -0.088, -0.188]).view(1, 3, 1, 1)
    scale = torch.tensor([0.458, 0.448, 0.450]).view(1, 3, 1, 1)

    def conv(h, i, padding, stride=1):
        return F.relu(F.conv2d(h, alexnet[f"features.{i}.weight"], alexnet[f"features.{i}.bias"], stride, padding))

    def features(x):
        relu1 = conv((x - shift) / scale, 0, padding=2, stride=4)
        relu2 = conv(F.max_pool2d(relu1, 3, 2), 3, padding=2)
        relu3 = conv(F.max_pool2d(relu2, 3, 2), 6, padding=1)
        relu4 = conv(relu3, 8, padding=1)
        return relu1, relu2, relu3, relu4, conv(relu4, 10, padding=1)

    total = 0
    for i, (a, b) in enumerate(zip(features(x0), features(x1))):
        a = a / (torch.sqrt(torch.sum(a**2, dim=1, keepdim=True)) + 1e-10)
        b = b / (torch.sqrt(torch.sum(b**2, dim=1, keepdim=True)) + 1e-10)
        weighted = (lin[f"lin{i}.model.1.weight"] * (a - b) ** 2).sum(1, keepdim=True)
        total = total + weighted.mean([2, 3], keepdim=True)
    return total.flatten()


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


def split_of(root):
    """The test pairs and annotations of the tests' tiny world (conftest's ``tiny_people``)."""
    return read_pairs(root / "synth-pairs-test.csv"), read_annotations(root / "synth-annotation-test.csv")


def test_copy_baseline_writes_the_condition_images_under_the_generated_names(tiny_people, tmp_path):
    pairs, _ = split_of(tiny_people)
    n = copy_condition_images(tiny_people, tmp_path / "copy")
    assert n == len(pairs) and sorted(p.name for p in (tmp_path / "copy").iterdir()) == sorted(generated_name(a, b) for a, b in pairs)
    a, b = pairs[-1]
    out = np.asarray(Image.open(tmp_path / "copy" / generated_name(a, b)))
    assert np.array_equal(out, np.asarray(Image.open(tiny_people / "test" / a)))


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


def test_evaluate_without_weights_reports_pixel_metrics_and_names_the_missing_files(tiny_people, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    gen = tmp_path / "gen"
    all_pairs, ann = split_of(tiny_people)
    copy_condition_images(tiny_people, gen)
    gone = generated_name(*all_pairs[-1])
    (gen / gone).unlink()                                                     # a missing image
    stray = f"nobody.png___{all_pairs[0][1]}.png"                             # a pair the list does not hold
    (gen / stray).write_bytes((gen / generated_name(*all_pairs[0])).read_bytes())
    r = evaluate(gen, tiny_people, "all", weights_dir=tmp_path / "none", estimator=fixed_estimator,
                 batch_size=3, download=False)
    n = len(all_pairs)
    assert (r.pairs, r.evaluated) == (n, n - 1)
    assert r.missing == [gone] and r.extra == [stray]
    pairs = all_pairs[:-1]
    load = lambda name: np.asarray(Image.open(tiny_people / "test" / name).convert("RGB"))  # noqa: E731
    assert r.value("ssim") == pytest.approx(np.mean([ssim_legacy(load(b), load(a)) for a, b in pairs]))
    assert r.value("psnr") == pytest.approx(np.mean([psnr(load(b), load(a)) for a, b in pairs]))
    assert r.value("pckh") == pytest.approx(pckh([pose(dx=1)] * len(pairs), [ann[b] for _, b in pairs]).value)
    for key, files in (("is", [inc.FID_INCEPTION_FILE]), ("fid_torchvision", [inc.TV_INCEPTION_FILE]),
                       ("lpips", [lp.ALEXNET_FILE, lp.LPIPS_FILE])):
        assert r.value(key) is None and all(f in r[key].error for f in files) and "put it in" in r[key].error
    # each per-pair metric on (target, generated) in that order (legacy SSIM takes its range from the
    # second), mask-SSIM with the mask of the *target* pose on both images, averaged over the pairs
    h, w = load(pairs[0][0]).shape[:2]
    masks = {b: market_mask(ann[b], h, w) for _, b in pairs}
    expected = {
        "l1": [l1_legacy(load(b), load(a)) for a, b in pairs],
        "psnr_uint8_wrap": [psnr_uint8_wrap(load(b), load(a)) for a, b in pairs],
        "ssim_modern": [ssim_modern(load(b), load(a)) for a, b in pairs],
        "mask_ssim": [ssim_legacy(apply_mask(load(b), masks[b]), apply_mask(load(a), masks[b])) for a, b in pairs],
    }
    for key, values in expected.items():
        assert r.value(key) == pytest.approx(np.mean(values)), key
    # the colour diagnostic: the median of the per-pair errors, regions from the target's pose
    colour = [colour_error(load(b), load(a), ann[b]) for a, b in pairs]
    assert r.value("colour_de") == pytest.approx(np.median(colour)) and r.value("colour_de") > 0
    assert r.value("colour_right") == pytest.approx(np.mean(np.array(colour) < COLOUR_RIGHT))
    assert f"({round(r.value('colour_right') * len(pairs))}/{len(pairs)})" in r["colour_right"].detail
    condition_masks = [market_mask(ann[a], h, w) for a, _ in pairs]  # the poses differ: so do the masks
    assert r.value("mask_ssim") != pytest.approx(np.mean([ssim_legacy(apply_mask(load(b), m), apply_mask(load(a), m))
                                                          for (a, b), m in zip(pairs, condition_masks)]))
    text = r.to_text()
    assert f"{n - 1} of {n} pairs evaluated" in text and gone in text and "OpenPose" in text
    assert "| mask-SSIM | legacy |" in r.to_markdown()
    assert json.loads(r.to_json())["missing"] == r.missing


def test_evaluate_of_the_targets_themselves_gives_perfect_scores(tiny_people, tmp_path):
    gen = tmp_path / "gen"
    gen.mkdir()
    for a, b in split_of(tiny_people)[0]:
        Image.open(tiny_people / "test" / b).save(gen / generated_name(a, b))
    r = evaluate(gen, tiny_people, "legacy", estimator="none", download=False)
    assert r.value("ssim") == pytest.approx(1.0) and r.value("mask_ssim") == pytest.approx(1.0)
    assert r.value("psnr") == math.inf and r.value("l1") == 0.0
    assert r.value("colour_de") == 0.0 and r.value("colour_right") == 1.0
    assert "| colour ΔE (median) | legacy | 0.0 | pona's diagnostic, not in the paper" in r.to_markdown()
    assert "| colours right | legacy | 1.0000 |" in r.to_markdown()
    assert json.loads(r.to_json())["metrics"][[m.key for m in r.metrics].index("psnr")]["value"] == "inf"
    assert r.value("pckh") is None and "no pose estimator" in r["pckh"].error


def test_evaluate_measures_colour_on_the_unpadded_images_whose_coordinates_the_keypoints_are_in(
        tiny_people, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    copy_condition_images(tiny_people, tmp_path / "gen")
    plain, padded = (evaluate(tmp_path / "gen", tiny_people, estimator="none", download=False, pad=pad)
                     for pad in (False, True))
    assert padded.value("ssim") != pytest.approx(plain.value("ssim"))  # padding is on: SSIM sees the white margins
    assert padded.value("colour_de") == plain.value("colour_de") and padded.value("colour_right") == plain.value("colour_right")


def test_evaluate_reports_the_colour_rows_skipped_when_no_target_pose_has_a_region(tiny_people, tmp_path):
    data = tmp_path / "data"
    shutil.copytree(tiny_people, data)
    pairs, ann = split_of(data)
    for name in ann:  # no hips, knees or ankles: neither torso nor legs
        ann[name][8:14] = -1
    write_annotations(data / "synth-annotation-test.csv", ann)
    copy_condition_images(data, tmp_path / "gen")
    r = evaluate(tmp_path / "gen", data, estimator="none", download=False)
    assert r.value("colour_de") is None and r.value("colour_right") is None
    assert f"none of the {len(pairs)} target poses" in r["colour_right"].error and r.value("ssim") is not None


def test_evaluate_rejects_a_generated_image_of_the_wrong_size(tiny_people, tmp_path):
    gen = tmp_path / "gen"
    copy_condition_images(tiny_people, gen)
    first = generated_name(*split_of(tiny_people)[0][0])
    Image.new("RGB", (32, 64)).save(gen / first)  # 32x64 (WxH); the dataset's images are 16x32
    with pytest.raises(DataError, match="32x64"):
        evaluate(gen, tiny_people, estimator="none", download=False)
    with pytest.raises(DataError, match="missing"):
        (gen / first).unlink()
        evaluate(gen, tiny_people, estimator="none", download=False, strict=True)


def person_image(kp, seed):
    """A light background with a darker blob around each joint: enough structure for the metrics."""
    rng = np.random.default_rng(seed)
    img = np.full((128, 64, 3), 200, np.uint8) + rng.integers(0, 20, (128, 64, 3), dtype=np.uint8)
    for y, x in kp[(kp >= 0).all(1)]:
        img[max(0, y - 4):y + 4, max(0, x - 3):x + 3] = rng.integers(0, 120, 3)
    return img


@pytest.fixture
def market_jpegs(tmp_path):
    """PATN layout: 6 training and 5 test images of 128x64 with keypoints, 5 test pairs.

    Its own writer, not the tests' tiny world (conftest), for the one test of the metric networks:
    LPIPS' AlexNet pools a 32x16 image away, and on the synthetic people at 128x64 the Inception
    scores of the preprocessing mistakes checked there come out too close to the right one to tell
    apart (0.003); these light images with dark blobs at the joints keep them apart."""
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


@pytest.mark.slow
def test_evaluate_with_weights_computes_every_metric_and_keeps_partial_batches(market_jpegs, tmp_path, weights_dir, monkeypatch):
    monkeypatch.setattr(inc, "SIZE", 75)  # random weights: the input size only changes the cost here
    # Random weights give every image nearly the same logits (an IS within 1e-7 of 1): centred on the
    # first batch's mean and scaled, the same way for every call, so that the IS tells images apart
    # (differences of O(1), no probability underflows). The networks are loaded once and kept.
    classify, centre = inc.InceptionV3.classify, []

    def spread_logits(self, pool, bias=True):
        logits = classify(self, pool, bias)
        if not centre:
            centre.append(logits.mean(0))
        return 1000 * (logits - centre[0])

    monkeypatch.setattr(inc.InceptionV3, "classify", spread_logits)
    nets, load_inception, load_lpips = {}, inc.load_inception, lp.load_lpips

    def once(key, load):
        if key not in nets:
            nets[key] = load()
        return nets[key]

    monkeypatch.setattr(inc, "load_inception", lambda v, *a, **k: once(v, lambda: load_inception(v, *a, **k)))
    monkeypatch.setattr("pona.metrics.evaluate.load_lpips", lambda *a, **k: once("lpips", lambda: load_lpips(*a, **k)))
    gen = tmp_path / "gen"
    copy_condition_images(market_jpegs, gen)
    common = dict(weights_dir=weights_dir, estimator=fixed_estimator, download=False, cache_dir=tmp_path / "cache")
    r = evaluate(gen, market_jpegs, "all", batch_size=2, **common)  # batches of 2, 2, 1
    for m in r.metrics:
        assert m.error is None and m.value is not None and math.isfinite(m.value), m
    # every pair entered, although the last batch held one
    assert "5 generated vs 6 training images" in r["fid_2015"].detail
    # 5 images in 5 splits: one image per split, where p(y) = p(y|x) and IS = e^0 = 1 by definition
    assert "5 splits" in r["is"].detail and r.value("is") == pytest.approx(1.0) and r["is"].std == pytest.approx(0.0)
    assert len(list((tmp_path / "cache").glob("fid-reference-*.npz"))) == 2
    # LPIPS: the mean over pairs of d(generated, target), both mapped to [-1, 1]
    load = lambda name: np.asarray(Image.open(market_jpegs / "test" / name).convert("RGB"))  # noqa: E731
    pairs = [(f"test_{i}.jpg", f"test_{(i + 1) % 5}.jpg") for i in range(5)]
    generated = np.stack([load(a) for a, _ in pairs])  # the copy baseline: the condition images
    unit = lambda images: torch.from_numpy(images).permute(0, 3, 1, 2).float() / 127.5 - 1  # noqa: E731
    with torch.no_grad():
        lpips_direct = nets["lpips"](unit(generated), unit(np.stack([load(b) for _, b in pairs])))
    assert r.value("lpips") == pytest.approx(lpips_direct.mean().item(), rel=1e-5)

    # IS and mask-IS over one split of all 5 images: the 2015 graph on the generated images in pairs
    # order (times the target pose's mask for mask-IS), TF1 resize and (x - 128) / 128, fc without bias
    monkeypatch.setattr("pona.metrics.evaluate.SPLITS", 1)
    r64 = evaluate(gen, market_jpegs, "legacy", batch_size=64, **common)  # one batch
    for key in ("ssim", "pckh"):
        assert r64.value(key) == pytest.approx(r.value(key), rel=1e-4, abs=1e-4), key
    ann = read_annotations(market_jpegs / "toy-annotation-test.csv")
    masked = np.stack([apply_mask(load(a), market_mask(ann[b], 128, 64)) for a, b in pairs])
    net = nets["fid"]
    with torch.no_grad():
        def logits(images, bias=False, mode="tf_graph"):
            return net.classify(net(inc.preprocess(torch.from_numpy(images), mode)), bias=bias).double().numpy()
        direct = {"is": inception_score(logits(generated), 1)[0], "mask_is": inception_score(logits(masked), 1)[0]}
        mistakes = {"fc bias": inception_score(logits(generated, bias=True), 1)[0],
                    "pytorch-fid input": inception_score(logits(generated, mode="pytorch_fid"), 1)[0],
                    "unmasked": direct["is"]}
    for key, value in direct.items():
        assert r64.value(key) == pytest.approx(value, rel=1e-4), key
    assert r64.value("is") > 1.01
    for what, value in mistakes.items():
        assert abs(value - direct["is" if what != "unmasked" else "mask_is"]) > 0.05 * (direct["is"] - 1), what


def test_cli_evaluate_copy_baseline_writes_json_and_markdown(tiny_people, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch-home"))
    out_json, out_md = tmp_path / "r.json", tmp_path / "r.md"
    code, out, _ = run_cli(capsys, "evaluate", "--copy-baseline", "--data", str(tiny_people), "--offline", "--estimator",
                           "none", "--json", str(out_json), "--markdown", str(out_md))
    n = len(split_of(tiny_people)[0])
    assert code == 0 and f"{n} of {n} pairs evaluated" in out and "mask-SSIM" in out
    assert json.loads(out_json.read_text())["evaluated"] == n and "| SSIM | legacy |" in out_md.read_text()


def test_cli_evaluate_errors_exit_2(tiny_people, tmp_path, capsys):
    for args in (["evaluate", "--data", str(tiny_people)],
                 ["evaluate", "--generated", str(tmp_path / "nope"), "--data", str(tiny_people)]):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code == 2
    assert "error: " in capsys.readouterr().err
