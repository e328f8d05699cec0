import numpy as np

from pona.masks import MASK_SEGMENTS, market_mask
from pona.pose import LIMBS


def pose(**joints):
    """An (18, 2) pose with the given joints, e.g. pose(j1=(10, 10)); the others missing (-1)."""
    kp = np.full((18, 2), -1.0)
    for name, yx in joints.items():
        kp[int(name[1:])] = yx
    return kp


def disc(center, radius, shape):
    """Pixels strictly closer than ``radius`` to ``center``, computed independently of skimage."""
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    return (yy - center[0]) ** 2 + (xx - center[1]) ** 2 < radius**2


def test_a_limb_is_filled_four_pixels_each_side_of_its_axis():
    m = market_mask(pose(j1=(10, 10), j2=(10, 30)), 24, 40)  # neck -> R-shoulder, horizontal
    assert m.dtype == bool and m.shape == (24, 40)
    assert m[10, 20] and m[13, 20] and m[14, 20]     # on the axis, 3 px and 4 px (the edge) away
    assert not m[15, 20] and not m[5, 20]            # 5 px away: just outside
    assert np.flatnonzero(m[:, 20]).tolist() == list(range(6, 15))
    # along the axis it reaches the joints' discs: radius 4, so 3 px beyond each joint
    assert np.flatnonzero(m[10]).tolist() == list(range(7, 34))


def test_a_diagonal_limb_covers_pixels_within_four_pixels_of_it():
    m = market_mask(pose(j1=(10, 10), j2=(30, 30)), 40, 40)
    # distance of (20, x) to the line y = x is |x - 20| / sqrt(2) <= 4  <=>  |x - 20| <= 5.66
    assert np.flatnonzero(m[20]).tolist() == list(range(15, 26))


def test_a_lone_joint_is_a_disc_of_radius_four():
    m = market_mask(pose(j0=(20, 20)), 40, 40)
    assert np.array_equal(m, disc((20, 20), 4, (40, 40)))  # the closing adds nothing to a disc
    assert m[20, 23] and m[22, 22] and not m[20, 24] and not m[23, 23]  # 3, 2.8 in; 4, 4.2 out
    assert m.sum() == 45  # rows of 5, 7, 7, 7, 7, 7, 5 pixels


def test_closing_fills_a_one_pixel_gap_between_nearby_segments():
    right = pose(j2=(10, 10), j3=(10, 30))  # rows 6-14
    left = pose(j5=(20, 10), j6=(20, 30))   # rows 16-24
    assert not market_mask(right, 32, 40)[15, 20] and not market_mask(left, 32, 40)[15, 20]
    both = np.where(right == -1, left, right)
    m = market_mask(both, 32, 40)
    assert m[15, 20] and np.flatnonzero(m[:, 20]).tolist() == list(range(6, 25))
    assert not m[15, 2]  # beyond the segments' ends there is no gap to close


def test_missing_joints_draw_nothing():
    kp = pose(j1=(10, 10), j3=(10, 30), j2=(-1, 20), j4=(5, -1))  # R-shoulder, R-wrist half-missing
    m = market_mask(kp, 24, 40)
    # only the two discs: no segment through the missing joint, nothing at (-1, -1) or (5, -1)
    assert np.array_equal(m, disc((10, 10), 4, m.shape) | disc((10, 30), 4, m.shape))
    assert not m[10, 20] and not m[0, 0] and not m[5, 0]
    assert not market_mask(pose(), 8, 8).any()


def test_a_zero_length_segment_is_just_the_joint_disc():
    m = market_mask(pose(j1=(12, 12), j2=(12, 12)), 24, 24)
    assert np.array_equal(m, disc((12, 12), 4, m.shape))


def test_ears_connect_to_the_neck_and_the_torso_is_closed():
    # The protocol joins neck-ear, not shoulder-ear as the drawing skeleton does.
    assert (1, 16) in MASK_SEGMENTS and (2, 16) in LIMBS and (2, 16) not in MASK_SEGMENTS
    assert market_mask(pose(j1=(20, 20), j16=(20, 4)), 40, 40)[20, 12]
    assert not market_mask(pose(j2=(4, 4), j16=(20, 4)), 40, 40)[12, 4]
    # Extra segments: R-hip - L-hip, L-hip - L-shoulder, R-hip - R-shoulder, R-ear - L-ear.
    assert market_mask(pose(j8=(30, 10), j11=(30, 30)), 40, 40)[30, 20]
    assert market_mask(pose(j11=(30, 30), j5=(10, 30)), 40, 40)[20, 30]
    assert market_mask(pose(j8=(30, 10), j2=(10, 10)), 40, 40)[20, 10]
    assert market_mask(pose(j16=(5, 10), j17=(5, 30)), 40, 40)[5, 20]


def test_joints_outside_the_image_are_clipped_not_an_error():
    m = market_mask(pose(j1=(2, 2), j2=(2, 60)), 8, 16)
    assert m.shape == (8, 16) and m[2, 15] and m[0, 8]
