"""Body poses: a 2.5-D kinematic skeleton, a pose prior, smooth pose sequences.

The body lives in its own frame, in body heights (top of the head at Y = 0, soles at Y = 1):
X is the person's LEFT, Y points down, Z points forward (out of the chest). A pose turns the body
by ``yaw`` about the vertical axis and projects it orthographically:

    x = X cos(yaw) + Z sin(yaw)          image right
    y = Y                                image down
    z = -X sin(yaw) + Z cos(yaw)         towards the camera (depth, for drawing order)

so ``yaw = 0`` faces the camera (the person's right shoulder is on the image's left), ``yaw = pi``
shows the back and ``yaw = +pi/2`` faces image right. Each limb segment points along
``direction(a, f)``: abduction ``a`` swings it sideways away from the body (negative: across it),
flexion ``f`` swings it forward; ``a = f = 0`` hangs straight down.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from ...pose import JOINTS, NUM_JOINTS
from ..layout import SIZES
from .identity import PRESETS

# Body proportions (body heights).
CHIN = 0.13            # bottom of the head
HEAD_R = (0.05, 0.063, 0.056)  # head ellipsoid radii: sideways, vertical, front-back
Y_SHOULDER = 0.185
Y_HIP = 0.51
UPPER_ARM, FOREARM, HAND = 0.165, 0.14, 0.055
THIGH, SHIN = 0.228, 0.222
FOOT = 0.075
HIP_JOINT = 0.6         # hip joints sit at this fraction of the visual hip half-width
TORSO_DEPTH = 0.095     # half depth of the chest (front-back)

# Named points of the skeleton: the 18 joints of the annotations first, so that the first rows of
# a skeleton are its keypoints, then extra points the renderer needs.
EXTRA = ("head", "r_hand", "l_hand", "r_toe", "l_toe", "pelvis", "head_top")
POINTS = JOINTS + EXTRA
P = {name: i for i, name in enumerate(POINTS)}

# Longitude on the head (radians from the face's centre towards the person's left) of the face joints,
# and how far round the head they are still reported, as cos(angle to the camera) > threshold.
# OpenPose finds no nose or eyes on the back of a head, and only the near ear in a profile.
FACE_JOINTS = {"nose": (0.0, -0.05), "r_eye": (-0.42, 0.1), "l_eye": (0.42, 0.1),
               "r_ear": (-np.pi / 2, -0.25), "l_ear": (np.pi / 2, -0.25)}

KINDS = ("stand", "walk", "arms_up", "arms_crossed", "hands_on_hips", "wave", "reach")
VIEWS = ("front", "back", "left", "right", "front_left", "front_right", "back_left", "back_right")
VIEW_YAW = {"front": 0.0, "back": np.pi, "right": np.pi / 2, "left": -np.pi / 2,
            "front_right": np.pi / 4, "front_left": -np.pi / 4,
            "back_right": 3 * np.pi / 4, "back_left": -3 * np.pi / 4}
# Prior weights per preset: street cameras see many backs and sides and people walking;
# the fashion catalogue mostly fronts and posing.
KIND_WEIGHTS = {"market": (0.34, 0.42, 0.03, 0.06, 0.04, 0.04, 0.07),
                "fashion": (0.3, 0.14, 0.1, 0.14, 0.16, 0.06, 0.1)}
VIEW_WEIGHTS = {"market": (0.22, 0.24, 0.13, 0.13, 0.07, 0.07, 0.07, 0.07),
                "fashion": (0.42, 0.12, 0.08, 0.08, 0.1, 0.1, 0.05, 0.05)}
ASPECT = {preset: w / h for preset, (h, w) in SIZES.items()}


@dataclass(frozen=True)
class BodyPose:
    """A body pose and its framing in the image. Angles in radians.

    Each arm is (upper abduction, upper flexion, forearm abduction, forearm flexion); each leg is
    (thigh abduction, thigh flexion, shin abduction, shin flexion), see the module docstring.
    ``scale`` is the body height in image heights; ``center`` is where the pelvis lands, as
    (y, x) fractions of the image height and width.
    """

    yaw: float = 0.0
    head_yaw: float = 0.0            # head turn relative to the body
    lean: float = 0.0                # roll in the image plane about the pelvis (+ = clockwise)
    r_arm: tuple[float, float, float, float] = (0.1, 0.0, 0.1, 0.2)
    l_arm: tuple[float, float, float, float] = (0.1, 0.0, 0.1, 0.2)
    r_leg: tuple[float, float, float, float] = (0.04, 0.0, 0.03, 0.0)
    l_leg: tuple[float, float, float, float] = (0.04, 0.0, 0.03, 0.0)
    scale: float = 0.9
    center: tuple[float, float] = (0.53, 0.5)
    kind: str = "stand"

    def view(self) -> str:
        """The nearest of ``VIEWS`` to this pose's yaw."""
        d = {v: abs(np.angle(np.exp(1j * (self.yaw - y)))) for v, y in VIEW_YAW.items()}
        return min(d, key=d.get)


def direction(a: float, f: float, side: float) -> np.ndarray:
    """Unit vector of a limb segment; side = +1 for the person's left limbs, -1 for the right."""
    return np.array([side * np.sin(a), np.cos(a) * np.cos(f), np.cos(a) * np.sin(f)])


def skeleton(pose: BodyPose, shoulder: float = 0.12, hip: float = 0.09, head: float = 1.0) -> np.ndarray:
    """3-D points of the posed body in camera axes, body heights: (len(POINTS), 3) of (x, y, z).

    x is image right, y down, z towards the camera; the pelvis is at x = z = 0. ``shoulder`` and
    ``hip`` are the identity's half widths, ``head`` its head size multiplier.
    """
    pts = np.zeros((len(POINTS), 3))
    hj = HIP_JOINT * hip
    pts[P["neck"]] = (0, Y_SHOULDER, 0)
    pts[P["pelvis"]] = (0, Y_HIP, 0)
    for side, name, arm, leg in ((-1, "r", pose.r_arm, pose.r_leg), (1, "l", pose.l_arm, pose.l_leg)):
        sh = np.array([side * shoulder, Y_SHOULDER + 0.008, 0.0])
        elbow = sh + UPPER_ARM * direction(arm[0], arm[1], side)
        fore = direction(arm[2], arm[3], side)
        pts[P[f"{name}_shoulder"]], pts[P[f"{name}_elbow"]] = sh, elbow
        pts[P[f"{name}_wrist"]] = elbow + FOREARM * fore
        pts[P[f"{name}_hand"]] = elbow + (FOREARM + HAND) * fore
        hp = np.array([side * hj, Y_HIP, 0.0])
        knee = hp + THIGH * direction(leg[0], leg[1], side)
        ankle = knee + SHIN * direction(leg[2], leg[3], side)
        tilt = 1.2 + 0.8 * leg[3]  # the foot points forward-down, lifting its heel when the shin swings back
        pts[P[f"{name}_hip"]], pts[P[f"{name}_knee"]], pts[P[f"{name}_ankle"]] = hp, knee, ankle
        pts[P[f"{name}_toe"]] = ankle + FOOT * np.array([side * 0.12, np.cos(tilt), np.sin(tilt)])

    # Head points in the head's frame, turned by head_yaw about the head's centre.
    rx, ry, rz = (r * head for r in HEAD_R)
    centre = np.array([0.0, CHIN - ry, 0.006])  # the chin stays on the neck whatever the head size
    local = {"head": (0, 0, 0), "head_top": (0, -ry, 0), "nose": (0, 0.2 * ry, 1.06 * rz)}
    for name, (theta, _) in FACE_JOINTS.items():
        if name != "nose":
            lat = 0.0 if "eye" in name else 0.1
            r_out = 0.92 if "eye" in name else 0.97
            local[name] = (r_out * rx * np.sin(theta), lat * ry, r_out * rz * np.cos(theta))
    c, s = np.cos(pose.head_yaw), np.sin(pose.head_yaw)
    for name, (x, y, z) in local.items():
        pts[P[name]] = centre + (x * c + z * s, y, -x * s + z * c)

    return body_to_camera(pts, pose)


def body_to_camera(points: np.ndarray, pose: BodyPose) -> np.ndarray:
    """Body-frame points (N, 3) (X left, Y down, Z forward) -> camera axes (x right, y down, z to
    the camera): the pose's yaw about the vertical axis through the pelvis, then its lean."""
    pts = np.asarray(points, dtype=np.float64).reshape(-1, 3)
    c, s = np.cos(pose.yaw), np.sin(pose.yaw)
    x = pts[:, 0] * c + pts[:, 2] * s
    z = -pts[:, 0] * s + pts[:, 2] * c
    c, s = np.cos(pose.lean), np.sin(pose.lean)
    dy = pts[:, 1] - Y_HIP
    return np.stack([x * c - dy * s, Y_HIP + x * s + dy * c, z], axis=1)


def face_joint_visible(pose: BodyPose) -> dict[str, bool]:
    """Whether each face joint faces the camera enough for a detector like OpenPose to report it."""
    turn = pose.yaw + pose.head_yaw
    return {name: bool(np.cos(theta + turn) > thr) for name, (theta, thr) in FACE_JOINTS.items()}


def to_pixels(points: np.ndarray, pose: BodyPose, size: tuple[int, int]) -> np.ndarray:
    """Camera-axes points (N, 3) in body heights -> (N, 2) image (y, x) in pixels (float)."""
    h, w = size
    k = pose.scale * h                           # pixels per body height
    y = pose.center[0] * h + k * (points[:, 1] - Y_HIP)
    x = pose.center[1] * w + k * points[:, 0]
    return np.stack([y, x], axis=1)


def keypoints(points_px: np.ndarray, pose: BodyPose, size: tuple[int, int]) -> np.ndarray:
    """COCO-18 keypoints (18, 2) int64 (y, x): rounded pixels; -1 outside the frame or for a face
    joint turned away from the camera. Body joints hidden behind other body parts stay annotated,
    as in OpenPose output."""
    h, w = size
    kp = np.round(points_px[:NUM_JOINTS]).astype(np.int64)
    out = (kp[:, 0] < 0) | (kp[:, 0] > h - 1) | (kp[:, 1] < 0) | (kp[:, 1] > w - 1)
    for name, ok in face_joint_visible(pose).items():
        out[P[name]] |= not ok
    kp[out] = -1
    return kp



def pose_keypoints(pose: BodyPose, size: tuple[int, int], shoulder: float = 0.12, hip: float = 0.09,
                   head: float = 1.0) -> np.ndarray:
    """The COCO-18 keypoints (18, 2) of ``pose`` for a body of these proportions, without rendering
    (e.g. target poses of an animation for a person who is not synthetic)."""
    return keypoints(to_pixels(skeleton(pose, shoulder, hip, head), pose, size), pose, size)

# ---------------------------------------------------------------------------------------------
# The pose prior


def _deg(rng: np.random.Generator, lo: float, hi: float) -> float:
    return float(np.radians(rng.uniform(lo, hi)))


def _rest_arm(rng) -> tuple:
    a, f = _deg(rng, 4, 16), _deg(rng, -10, 12)
    return (a, f, a + _deg(rng, -6, 4), f + _deg(rng, 4, 30))


def _rest_leg(rng) -> tuple:
    a, f = _deg(rng, 0, 7), _deg(rng, -6, 6)
    return (a, f, a - _deg(rng, 0, 4), f - _deg(rng, 0, 6))


def walk_limbs(phase: float, stride: float = 1.0) -> dict:
    """Arm and leg angles of a walk cycle at ``phase`` (radians; the right leg swings forward first)."""
    out = {}
    for name, p in (("r", phase), ("l", phase + np.pi)):
        hip_f = np.radians(24) * stride * np.sin(p)
        knee = np.radians(6 + 48 * stride * max(0.0, np.cos(p)) ** 1.5)
        out[f"{name}_leg"] = (np.radians(2), hip_f, np.radians(1), hip_f - knee)
        arm_f = -np.radians(20) * stride * np.sin(p)  # arms swing against the same side's leg
        out[f"{name}_arm"] = (np.radians(7), arm_f, np.radians(5), arm_f + np.radians(12 + 14 * max(0.0, -np.sin(p))))
    return out


def _pick(rng: np.random.Generator, names: tuple, weights) -> str:
    """One of ``names`` with probabilities ``weights`` (faster than Generator.choice with p)."""
    return names[min(int(np.searchsorted(np.cumsum(weights), rng.random() * sum(weights))), len(names) - 1)]


def _limbs(rng: np.random.Generator, kind: str) -> dict:
    if kind == "walk":
        return walk_limbs(rng.uniform(0, 2 * np.pi), rng.uniform(0.7, 1.15))
    r_arm, l_arm, r_leg, l_leg = _rest_arm(rng), _rest_arm(rng), _rest_leg(rng), _rest_leg(rng)
    if rng.random() < 0.3:  # weight on one leg, the other knee bent
        f = _deg(rng, 4, 14)
        r_leg = (r_leg[0], f, r_leg[0], f - _deg(rng, 14, 30))
    if kind == "arms_up":
        def up():
            a, f = _deg(rng, 140, 172), _deg(rng, -14, 8)
            return (a, f, a + _deg(rng, -12, 14), f + _deg(rng, -5, 10))
        r_arm, l_arm = up(), (up() if rng.random() < 0.7 else l_arm)
    elif kind == "arms_crossed":
        r_arm = (_deg(rng, 2, 12), _deg(rng, 32, 44), _deg(rng, -98, -80), _deg(rng, 18, 30))
        l_arm = (_deg(rng, 2, 12), _deg(rng, 32, 44), _deg(rng, -98, -80), _deg(rng, 30, 42))
    elif kind == "hands_on_hips":
        def akimbo():
            return (_deg(rng, 32, 50), _deg(rng, -22, -6), _deg(rng, -70, -48), _deg(rng, -14, 6))
        r_arm, l_arm = akimbo(), (akimbo() if rng.random() < 0.75 else l_arm)
    elif kind == "wave":
        arm = (_deg(rng, 65, 105), _deg(rng, -8, 25), _deg(rng, 150, 185), _deg(rng, -5, 25))
        r_arm, l_arm = (arm, l_arm) if rng.random() < 0.5 else (r_arm, arm)
    elif kind == "reach":
        a, f = _deg(rng, 5, 70), _deg(rng, 45, 95)
        arm = (a, f, a + _deg(rng, -10, 10), f + _deg(rng, 0, 25))
        r_arm, l_arm = (arm, l_arm) if rng.random() < 0.5 else (r_arm, arm)
    return {"r_arm": r_arm, "l_arm": l_arm, "r_leg": r_leg, "l_leg": l_leg}


def fit(pose: BodyPose, aspect: float, margin: float = 0.04, zoom: float = 1.0,
        shift: tuple[float, float] = (0.0, 0.0), top: bool = False) -> BodyPose:
    """Frame ``pose`` like a person detector's crop: the body's box (a typical identity) fills the
    image of width/height ``aspect`` up to ``margin``, times ``zoom``; ``top`` keeps the head in
    view when zooming in (the legs leave the frame)."""
    pts = skeleton(pose)
    pad = np.array([0.045, 0.04])                 # limb radii and the head's hair (body heights)
    lo = np.minimum(pts[:, [1, 0]].min(0) - pad, [0.0, -0.13])
    hi = np.maximum(pts[:, [1, 0]].max(0) + pad, [1.0, 0.13])
    # (y, x) extents in body heights -> the scale making them fit, in image heights
    scale = min((1 - 2 * margin) / (hi[0] - lo[0]), (1 - 2 * margin) * aspect / (hi[1] - lo[1])) * zoom
    cy = 0.5 + scale * (Y_HIP - (lo[0] + hi[0]) / 2)
    if top:
        cy = margin + scale * (Y_HIP - lo[0])
    cx = 0.5 - scale / aspect * (lo[1] + hi[1]) / 2
    return dataclasses.replace(pose, scale=float(scale), center=(float(cy + shift[0]), float(cx + shift[1])))


def sample_pose(rng: np.random.Generator, preset: str = "market", kind: str | None = None,
                view: str | None = None) -> BodyPose:
    """Draw a pose from the prior of ``preset`` (see KIND_WEIGHTS, VIEW_WEIGHTS), framed for it.

    Use ``np.random.default_rng([seed, identity, pose_index])`` for reproducibility. ``kind`` and
    ``view`` force a category (KINDS, VIEWS).
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    kind = kind or _pick(rng, KINDS, KIND_WEIGHTS[preset])
    view = view or _pick(rng, VIEWS, VIEW_WEIGHTS[preset])
    if kind not in KINDS or view not in VIEWS:
        raise ValueError(f"kind must be one of {KINDS} and view one of {VIEWS}, got {kind!r}, {view!r}")
    pose = BodyPose(
        yaw=float(VIEW_YAW[view] + rng.normal(0, 0.12)),
        head_yaw=float(np.clip(rng.normal(0, 0.28), -0.8, 0.8)),
        lean=float(rng.normal(0, 0.025)),
        kind=kind,
        **_limbs(rng, kind),
    )
    aspect = ASPECT[preset]
    u = rng.random()
    if preset == "fashion" and u < 0.2:      # catalogue close-up: the legs leave the frame
        return fit(pose, aspect, 0.03, rng.uniform(1.3, 1.8), (0, rng.uniform(-0.04, 0.04)), top=True)
    if preset == "market" and u < 0.1:       # a loose detector box cutting the feet or a side
        return fit(pose, aspect, 0.02, rng.uniform(1.05, 1.2), (rng.uniform(-0.02, 0.06), rng.uniform(-0.08, 0.08)))
    margin = 0.03 if preset == "market" else 0.05
    return fit(pose, aspect, margin, rng.uniform(0.9, 1.0), (rng.uniform(-0.02, 0.02), rng.uniform(-0.04, 0.04)))


def interpolate(a: BodyPose, b: BodyPose, t: float) -> BodyPose:
    """The pose a fraction ``t`` in [0, 1] of the way from ``a`` to ``b`` (yaw along the short arc)."""
    def mix(x, y):
        if isinstance(x, tuple):
            return tuple(mix(u, v) for u, v in zip(x, y))
        return float(x + (y - x) * t)
    out = {f.name: mix(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(BodyPose) if f.name not in ("kind", "yaw")}
    dyaw = float(np.angle(np.exp(1j * (b.yaw - a.yaw))))
    return BodyPose(yaw=a.yaw + dyaw * t, kind=a.kind if t < 0.5 else b.kind, **out)


def sample_pose_sequence(rng: np.random.Generator, n: int, preset: str = "market", kind: str = "walk",
                         view: str | None = None, frames_per_pose: int = 12,
                         frames_per_cycle: int = 24) -> list[BodyPose]:
    """``n`` poses that change smoothly, one framing for all (the person does not jump around).

    kind: ``walk`` (a walk cycle of ``frames_per_cycle`` frames, i.e. two steps, in one view),
    ``turn`` (walking in place while turning round once) or ``random`` (prior samples every
    ``frames_per_pose`` frames, eased in and out).
    """
    if n < 1:
        raise ValueError(f"n must be >= 1, got {n}")
    view = view or _pick(rng, VIEWS, VIEW_WEIGHTS[preset])
    yaw0 = VIEW_YAW[view]
    if kind in ("walk", "turn"):
        phase0, stride = rng.uniform(0, 2 * np.pi), rng.uniform(0.8, 1.1)
        poses = []
        for i in range(n):
            yaw = yaw0 + (2 * np.pi * i / n if kind == "turn" else 0.0)
            poses.append(BodyPose(yaw=float(yaw), kind="walk", **walk_limbs(phase0 + 2 * np.pi * i / frames_per_cycle, stride)))
    elif kind == "random":
        keys = [sample_pose(rng, preset, view=view)]
        while len(keys) * frames_per_pose < n + frames_per_pose:
            keys.append(sample_pose(rng, preset))
        poses = []
        for i in range(n):
            k, t = divmod(i, frames_per_pose)
            t = t / frames_per_pose
            poses.append(interpolate(keys[k], keys[k + 1], t * t * (3 - 2 * t)))  # smoothstep easing
    else:
        raise ValueError(f"kind must be walk, turn or random, got {kind!r}")
    # One framing that fits every frame: the smallest scale among the individually fitted poses.
    aspect = ASPECT[preset]
    fitted = [fit(p, aspect, 0.05) for p in poses]
    best = min(fitted, key=lambda p: p.scale)
    cy = float(np.mean([p.center[0] for p in fitted]))
    cx = float(np.mean([p.center[1] for p in fitted]))
    return [dataclasses.replace(p, scale=best.scale, center=(cy, cx)) for p in poses]


# ---------------------------------------------------------------------------------------------
# From 2-D keypoints back to a pose


REST = BodyPose()


def pose_from_keypoints(keypoints, size: tuple[int, int]) -> BodyPose:
    """A :class:`BodyPose` whose skeleton projects onto ``keypoints`` (the inverse of rendering).

    Any 18 COCO keypoints (y, x) in an image of ``size`` (H, W), -1 for missing: a synthetic pose,
    a dataset annotation, a pose estimator's output. The neck, both shoulders and both hips are
    needed. The scale comes from the torso length (assumed upright, not foreshortened), the lean
    from its tilt, the body's yaw from the apparent shoulder width and the face joints (nose and
    eyes seen: facing the camera; one ear only: a profile); each limb segment gets the 3-D direction
    of the right length that projects onto it, taking the forward of the two possible depths
    (2-D keypoints cannot tell forward from backward). Missing limb joints keep a resting pose.
    The person's own proportions differ from the reference ones, so a rendered identity's joints
    land within a few pixels of ``keypoints``, not exactly on them.
    """
    kp = np.asarray(keypoints, dtype=np.float64)
    if kp.shape != (NUM_JOINTS, 2):
        raise ValueError(f"keypoints must have shape (18, 2), got {kp.shape}")
    seen = (kp >= 0).all(axis=1)
    need = [P[n] for n in ("neck", "r_shoulder", "l_shoulder", "r_hip", "l_hip")]
    if not seen[need].all():
        missing = [JOINTS[i] for i in need if not seen[i]]
        raise ValueError(f"pose_from_keypoints needs the neck, shoulders and hips; missing: {missing}")
    h, w = size
    pelvis = (kp[P["r_hip"]] + kp[P["l_hip"]]) / 2
    spine = pelvis - kp[P["neck"]]                                     # (dy, dx) pixels
    k = float(np.hypot(*spine)) / (Y_HIP - Y_SHOULDER)                  # pixels per body height
    lean = float(np.arctan2(-spine[1], spine[0]))                       # neck right of pelvis: lean > 0

    def body_xy(p):
        """Image point -> (x, y) body heights relative to the pelvis, the lean undone."""
        dy, dx = (p - pelvis) / k
        c, s = np.cos(lean), np.sin(lean)
        return np.array([dx * c + dy * s, -dx * s + dy * c])

    # Yaw: shoulders and hips look narrower as the body turns; the face says front or back.
    width = body_xy(kp[P["l_shoulder"]])[0] - body_xy(kp[P["r_shoulder"]])[0]
    width_h = body_xy(kp[P["l_hip"]])[0] - body_xy(kp[P["r_hip"]])[0]
    cos_yaw = float(np.clip((width / 0.24 + width_h / (2 * HIP_JOINT * 0.09)) / 2, -1, 1))
    face = seen[[P["nose"], P["r_eye"], P["l_eye"]]].any()
    if face and cos_yaw < 0 and not (seen[P["r_ear"]] ^ seen[P["l_ear"]]):
        cos_yaw = abs(cos_yaw)                  # a face is seen: not a back view, whatever the widths
    sin_abs = float(np.sqrt(1 - cos_yaw ** 2))
    if seen[P["nose"]]:
        sign = np.sign(body_xy(kp[P["nose"]])[0]) or 1.0     # the nose points where the face turns
    elif seen[P["r_ear"]] != seen[P["l_ear"]]:
        sign = 1.0 if seen[P["r_ear"]] else -1.0   # the right side towards us: facing image right
    else:
        sign = 1.0
    yaw = float(np.arctan2(sign * sin_abs, cos_yaw))
    c, s = np.cos(yaw), np.sin(yaw)

    def angles(a_name, b_name, length, side, rest, forward=True):
        """(abduction, flexion) of the segment a -> b, or ``rest`` if a joint is missing."""
        if not (seen[P[a_name]] and seen[P[b_name]]):
            return rest
        dx, dy = body_xy(kp[P[b_name]]) - body_xy(kp[P[a_name]])
        dz = np.sqrt(max(length ** 2 - dx * dx - dy * dy, 0.0))
        # camera (x, y, z) -> body (X, Y, Z); choose the depth sign putting the segment forward
        options = [(dx * c - z * s, dy, dx * s + z * c) for z in (dz, -dz)]
        X, Y, Z = max(options, key=lambda o: o[2]) if forward else min(options, key=lambda o: o[2])
        n = np.sqrt(X * X + Y * Y + Z * Z) + 1e-9
        X, Y, Z = X / n, Y / n, Z / n
        a = float(np.arcsin(np.clip(side * X, -1, 1)))
        return a, float(np.arctan2(Z, Y))

    limbs = {}
    for side, name in ((-1, "r"), (1, "l")):
        rest_arm, rest_leg = getattr(REST, f"{name}_arm"), getattr(REST, f"{name}_leg")
        ua = angles(f"{name}_shoulder", f"{name}_elbow", UPPER_ARM, side, rest_arm[:2])
        fa = angles(f"{name}_elbow", f"{name}_wrist", FOREARM, side, rest_arm[2:])
        th = angles(f"{name}_hip", f"{name}_knee", THIGH, side, rest_leg[:2])
        sh = angles(f"{name}_knee", f"{name}_ankle", SHIN, side, rest_leg[2:], forward=False)  # knees bend back
        limbs[f"{name}_arm"], limbs[f"{name}_leg"] = ua + fa, th + sh
    head_yaw = 0.0
    if seen[P["nose"]] and cos_yaw >= 0:
        turn = float(np.arcsin(np.clip((body_xy(kp[P["nose"]])[0]) / (1.06 * HEAD_R[2]), -1, 1)))
        head_yaw = float(np.clip(turn - yaw, -0.8, 0.8))
    return BodyPose(yaw=yaw, head_yaw=head_yaw, lean=lean, scale=k / h,
                    center=(float(pelvis[0] / h), float(pelvis[1] / w)), kind="keypoints", **limbs)
