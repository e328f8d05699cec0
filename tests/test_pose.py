import math

import numpy as np
import pytest
import torch

from pona import pose


def one_joint(y, x, joint=0):
    kp = np.full((18, 2), -1.0)
    kp[joint] = (y, x)
    return kp


def test_heatmap_values_follow_released_formula_at_and_around_joint():
    kp = one_joint(10, 7)
    hm = pose.heatmaps(kp, 32, 16, sigma=6.0)
    assert hm.shape == (18, 32, 16) and hm.dtype == torch.float32
    assert hm[0, 10, 7] == 1.0
    for (y, x) in [(10, 8), (11, 7), (13, 3), (0, 0), (31, 15)]:
        expected = math.exp(-((y - 10) ** 2 + (x - 7) ** 2) / (2 * 36.0))
        assert hm[0, y, x].item() == pytest.approx(expected, rel=1e-6)
    assert hm[1:].abs().sum() == 0  # every other joint is missing


def test_heatmap_denominator_is_two_sigma_squared_not_the_papers_sigma_squared():
    hm = pose.heatmaps(one_joint(5, 5), 11, 11, sigma=2.0)
    assert hm[0, 5, 7].item() == pytest.approx(math.exp(-4 / 8))  # eq. (1) would give exp(-1)


def test_missing_joint_when_either_coordinate_is_minus_one():
    kp = one_joint(4, 4)
    kp[1] = (4, -1)
    kp[2] = (-1, 4)
    hm = pose.heatmaps(kp, 8, 8)
    assert hm[0].sum() > 0 and hm[1].sum() == 0 and hm[2].sum() == 0


def test_heatmaps_are_batched_and_stay_on_the_input_device():
    kp = torch.stack([torch.tensor(one_joint(3, 3)), torch.tensor(one_joint(6, 2, joint=5))])
    hm = pose.heatmaps(kp.unsqueeze(0), 8, 4)  # (1, 2, 18, 2)
    assert hm.shape == (1, 2, 18, 8, 4) and hm.device == kp.device
    assert torch.equal(hm[0, 0], pose.heatmaps(kp[0], 8, 4))
    assert hm[0, 1, 5, 6, 2] == 1 and hm[0, 1, 0].sum() == 0


def test_quantized_heatmaps_keep_only_the_one_pixel_peak():
    hm = pose.heatmaps(one_joint(10, 7), 32, 16, quantize=True)
    assert hm[0, 10, 7] == 1 and hm.sum() == 1
    # a non-integer joint never reaches exactly 1, so uint8 storage erased it entirely
    assert pose.heatmaps(one_joint(10.5, 7), 32, 16, quantize=True).sum() == 0


def test_heatmaps_reject_wrong_shape():
    with pytest.raises(ValueError, match=r"\(\.\.\., 18, 2\)"):
        pose.heatmaps(np.zeros((17, 2)), 8, 8)


def test_flip_swaps_left_and_right_joints_and_mirrors_x():
    kp = np.full((18, 2), -1)
    kp[2] = (20, 3)   # right shoulder on the image's left
    kp[5] = (20, 12)  # left shoulder
    kp[0] = (5, 8)
    flipped = pose.flip_keypoints(kp, width=16)
    assert tuple(flipped[5]) == (20, 12)  # the right shoulder, mirrored, is now labelled left
    assert tuple(flipped[2]) == (20, 3)
    assert tuple(flipped[0]) == (5, 7)
    assert (flipped[[1, 3, 4]] == -1).all()  # missing joints stay missing, not mirrored to width


def test_flip_table_is_an_involution_and_flip_round_trips():
    perm = np.array(pose.FLIP_PERM)
    assert sorted(perm) == list(range(18)) and (perm[perm] == np.arange(18)).all()
    for i, name in enumerate(pose.JOINTS):
        other = pose.JOINTS[perm[i]]
        swapped = {name[:2], other[:2]} == {"r_", "l_"} and name[2:] == other[2:]
        assert swapped or (other == name and name in ("nose", "neck"))
    rng = np.random.default_rng(0)
    kp = rng.integers(0, 64, size=(18, 2))
    kp[[3, 9]] = -1
    assert np.array_equal(pose.flip_keypoints(pose.flip_keypoints(kp, 64), 64), kp)


def test_limbs_connect_the_18_joints_as_one_skeleton():
    assert len(pose.LIMBS) == 19
    reached, frontier = {1}, [1]
    while frontier:
        j = frontier.pop()
        for a, b in pose.LIMBS:
            for u, v in ((a, b), (b, a)):
                if u == j and v not in reached:
                    reached.add(v)
                    frontier.append(v)
    assert reached == set(range(18))


def test_draw_pose_colours_joints_and_limbs_and_skips_missing():
    kp = np.full((18, 2), -1)
    kp[1] = (10, 20)  # neck
    kp[2] = (10, 40)  # right shoulder: limb (1, 2) is drawn
    img = np.zeros((64, 64, 3), np.uint8)
    out = np.asarray(pose.draw_pose(img, kp, radius=2, width=1))
    assert tuple(out[10, 20]) == pose.JOINT_COLORS[1]
    assert tuple(out[10, 40]) == pose.JOINT_COLORS[2]
    assert out[10, 30].any()  # on the limb
    assert not out[40:, :].any()  # nothing drawn where no joint is
    assert img.sum() == 0  # the input is not modified
    canvas = pose.draw_pose(None, kp, size=(64, 32))
    assert canvas.size == (32, 64)


def test_interpolate_moves_shared_joints_on_a_line_and_switches_the_others_at_half_way():
    from pona.pose import interpolate

    a = np.full((18, 2), -1.0)
    b = np.full((18, 2), -1.0)
    a[0], b[0] = (0, 0), (10, 20)   # in both: moves
    a[1] = (5, 5)                   # only at the start
    b[2] = (7, 7)                   # only at the end
    out = interpolate(a, b, 5)      # t = 0, .25, .5, .75, 1
    assert out.shape == (5, 18, 2)
    assert out[:, 0].tolist() == [[0, 0], [2.5, 5], [5, 10], [7.5, 15], [10, 20]]
    assert out[:, 1, 0].tolist() == [5, 5, 5, -1, -1]
    assert out[:, 2, 0].tolist() == [-1, -1, -1, 7, 7]
    assert (out[:, 3:] == -1).all()
    with pytest.raises(ValueError, match="at least 2"):
        interpolate(a, b, 1)
