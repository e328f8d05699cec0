"""Draw a posed synthetic person: body parts back to front, textures in each part's own frame.

Parts are drawn in two groups: first the legs (sorted by depth), the pelvis and a skirt, then
everything above the waist (torso, neck, arms, head, hair, bags) sorted by depth, so a shirt's hem
always covers the tops of the thighs while a near arm covers the torso and a far arm hides behind it.
Textures are functions of each part's local coordinates (along / around a limb, longitude and
height on the torso and head), so stripes, checks, dots and logos move and turn with the body, and
the face (eyes, brows, mouth, glasses, beard) only shows on the side of the head facing the camera.
"""

from __future__ import annotations

import math

import numpy as np

from . import raster
from .identity import Identity
from .posing import (FOREARM, HAND, HEAD_R, HIP_JOINT, P, TORSO_DEPTH, UPPER_ARM, Y_HIP, Y_SHOULDER, BodyPose,
                     body_to_camera, keypoints, skeleton, to_pixels)

TORSO_LEN = Y_HIP - Y_SHOULDER
# The torso's place in the drawing order of the upper body: a bit behind its centre, so that arms
# hanging beside it (depth ~0) are drawn over its edges, while the far arm of a profile
# (depth ~ -shoulder) hides behind it.
TORSO_KEY = -0.06
EYE_COLOR = np.array([0.13, 0.1, 0.1], np.float32)
MOUTH_COLOR = np.array([0.55, 0.22, 0.22], np.float32)
GLASSES_COLOR = np.array([0.08, 0.08, 0.09], np.float32)


def _rgb(c) -> np.ndarray:
    return np.asarray(c, np.float32)


def _shade(x: np.ndarray, r: float = 1.0) -> np.ndarray:
    """Cylinder shading across a part: x / r in [-1, 1] from one edge to the other; (n, m, 1).
    (|x| only exceeds r on the soft edge, where the shading barely changes.)"""
    return (x * x * (-0.28 / (r * r)) + 1.0)[..., None]


def _wrap(a: np.ndarray) -> np.ndarray:
    return (a + np.pi) % (2 * np.pi) - np.pi


class Painter:
    """Drawing state of one image: the layer, the pose in pixels, the identity's colours.

    ``parts`` collects (group, depth, draw) and is drawn sorted: group 0 the legs, 1 the pelvis,
    2 a skirt, 3 the upper body; within a group, far to near (depth = z towards the camera).
    """

    def __init__(self, ident: Identity, pose: BodyPose, size: tuple[int, int], ss: int,
                 background: np.ndarray | None = None):
        self.ident, self.pose, self.size = ident, pose, size
        self.layer = raster.Layer(size, ss, background)
        self.k = pose.scale * size[0]                    # pixels per body height
        self.pxb = self.layer.px / self.k                # one sample in body heights
        self.pts3 = skeleton(pose, ident.shoulder, ident.hip, ident.head)
        self.px = to_pixels(self.pts3, pose, size)
        self.z = self.pts3[:, 2]
        self.skin = _rgb(ident.skin)
        self.top, self.top2 = _rgb(ident.top_color), _rgb(ident.top_color2)
        self.parts: list[tuple[int, float, object]] = []   # (group, depth, draw function)

    def at(self, name: str) -> np.ndarray:
        return self.px[P[name]]

    def project(self, body_points) -> tuple[np.ndarray, np.ndarray]:
        """Body-frame points -> ((N, 2) pixels (y, x), (N,) depth)."""
        cam = body_to_camera(body_points, self.pose)
        return to_pixels(cam, self.pose, self.size), cam[:, 2]

    # -- generic parts -------------------------------------------------------------------------

    def capsule(self, p0, p1, r0: float, r1: float, color_fn):
        """Tapered capsule between pixel points, radii in body heights.

        ``color_fn(t, v, length, r)`` gets the samples' position along (t in [0, 1]) and across
        (v, pixels) the capsule, its length and mean radius in pixels.
        """
        r0, r1 = r0 * self.k, r1 * self.k
        win = self.layer.window(*raster.box_of([p0, p1], max(r0, r1) + 1))
        if win is None:
            return
        alpha, t, v = raster.capsule(win, p0, p1, r0, r1, self.layer.ss)
        length = math.hypot(float(p1[0] - p0[0]), float(p1[1] - p0[1]))
        self.layer.paint(win, alpha, color_fn(t, v, length, (r0 + r1) / 2))

    def garment(self, u: np.ndarray, w: np.ndarray, base: np.ndarray) -> np.ndarray:
        """Upper-garment colour at surface coordinates (body heights): u along, w across/around."""
        ident, px = self.ident, self.pxb
        p = ident.pattern_scale
        if ident.pattern == "stripes":
            m = raster.stripes(u, p, 0.45, px)
        elif ident.pattern == "vstripes":
            m = raster.stripes(w, p, 0.4, px)
        elif ident.pattern == "checks":
            m = raster.checks(u, w, p, px)
        elif ident.pattern == "dots":
            m = raster.dots(u, w, p, 0.24 * p, px)
        else:
            return base
        return base + (self.top2 - base) * m[..., None]

    def two_tone(self, cloth, cut: float, t, v, length: float, r):
        """A limb in ``cloth`` (a colour, or an (n, m, 3) texture) from its start down to ``cut``
        (a fraction of its length), bare skin below, with cylinder shading."""
        if cut >= 1:
            col = cloth
        elif cut <= 0:
            col = self.skin
        else:
            m = np.minimum(np.maximum((cut - t) * (length / self.layer.px) + 0.5, 0.0), 1.0)[..., None]
            col = self.skin + (cloth - self.skin) * m
        return col * _shade(v, r)

    # -- body ------------------------------------------------------------------------------------

    def legs(self):
        ident, g = self.ident, self.ident.girth
        bottom = _rgb(ident.bottom_color)
        cover = {"trousers": (1.1, 1.1), "shorts": (0.55, -1.0), "skirt": (-1.0, -1.0)}[ident.bottom]
        extra = 0.006 if ident.bottom == "trousers" else 0.0
        shoe = _rgb(ident.shoe_color)
        for side in ("r", "l"):
            hip, knee, ankle, toe = (self.at(f"{side}_{j}") for j in ("hip", "knee", "ankle", "toe"))
            zh, zk, za, zt = (self.z[P[f"{side}_{j}"]] for j in ("hip", "knee", "ankle", "toe"))

            self.parts.append((0, (zh + zk) / 2, lambda h=hip, k=knee: self.capsule(
                h, k, 0.05 * g + extra, 0.038 * g + extra, lambda t, v, L, r: self.two_tone(bottom, cover[0], t, v, L, r))))
            self.parts.append((0, (zk + za) / 2, lambda k=knee, a=ankle: self.capsule(
                k, a, 0.037 * g + extra, 0.026 * g + extra, lambda t, v, L, r: self.two_tone(bottom, cover[1], t, v, L, r))))
            self.parts.append((0, (za + zt) / 2 + 0.01, lambda a=ankle, t_=toe: self.capsule(
                a, t_, 0.027, 0.022, lambda t, v, L, r: shoe * _shade(v, r))))
        # Pelvis: a short torso section in the bottom garment's colour (skin under a skirt).
        pelvis_color = self.skin if ident.bottom == "skirt" else bottom
        self.parts.append((1, 0.0, lambda: self.torso_section(
            [0.72, 1.0, 1.12], [ident.waist, ident.hip, ident.hip * 0.6], [0.085, 0.09, 0.07],
            lambda u, w, sh: pelvis_color * sh, texture=False)))
        if ident.bottom == "skirt":
            self.parts.append((2, 0.0, self.skirt))

    def skirt(self):
        ident = self.ident
        hem_t = 0.6 + 0.5 * ((ident.index * 7) % 5) / 4      # mini .. knee length, fixed per identity
        hems = [self.at(f"{s}_hip") + hem_t * (self.at(f"{s}_knee") - self.at(f"{s}_hip")) for s in "rl"]
        neck, pelvis = self.at("neck"), self.at("pelvis")
        axis = (pelvis - neck) / (np.linalg.norm(pelvis - neck) + 1e-9)
        perp = np.array([-axis[1], axis[0]])               # perpendicular to the spine
        c, s = np.cos(self.pose.yaw), np.sin(self.pose.yaw)
        # waist, then hips (wide enough to cover the thighs' tops), then the hem round the knees
        waist_c, hip_c = neck + (pelvis - neck) * 0.8, pelvis
        waist_w = float(np.hypot(ident.waist * c, 0.085 * s)) * self.k + 0.01 * self.k
        hip_w = float(np.hypot((HIP_JOINT * ident.hip + 0.05 * ident.girth) * c, 0.1 * s)) * self.k + 0.012 * self.k
        hip_w = max(hip_w, waist_w)
        hem_c = (hems[0] + hems[1]) / 2
        spread = abs(np.dot(hems[1] - hems[0], perp)) / 2 + 0.05 * self.k
        hem_w = max(spread, hip_w * 1.15)
        corners = [waist_c - perp * waist_w, waist_c + perp * waist_w, hip_c + perp * hip_w,
                   hem_c + perp * hem_w, hem_c - perp * hem_w, hip_c - perp * hip_w]
        win = self.layer.window(*raster.box_of(corners, 1))
        if win is None:
            return
        alpha = self.layer.coverage(raster.polygon(win, corners))
        across = ((win.xs - hem_c[1]) * perp[1] + (win.ys - hem_c[0]) * perp[0]) / hem_w
        pleats = raster.stripes(across * hem_w / self.k, 0.03, 0.3, self.pxb)[..., None] * 0.12
        color = _rgb(ident.bottom_color) * (1 - pleats) * _shade(across)
        self.layer.paint(win, alpha, color)

    def torso_section(self, us, a, b, color_fn, texture: bool = True):
        """A section of the torso between heights ``us`` (0 = shoulder line, 1 = hip line) with half
        width ``a`` and half depth ``b`` there (body heights; an elliptic cross-section seen from the
        pose's yaw). color_fn(u, longitude, shade) gets u and the longitude round the body
        (radians from the chest's centre towards the person's left; None unless ``texture``)."""
        c, s = np.cos(self.pose.yaw), np.sin(self.pose.yaw)
        w = np.sqrt((np.asarray(a) * c) ** 2 + (np.asarray(b) * s) ** 2) * self.k   # projected half widths, px
        neck, pelvis = self.at("neck"), self.at("pelvis")
        p0 = neck + (pelvis - neck) * us[0]
        p1 = neck + (pelvis - neck) * us[-1]
        win = self.layer.window(*raster.box_of([p0, p1], w.max() + 1))
        if win is None:
            return
        t, v, length = raster.segment_frame(win, neck, pelvis)
        half = np.interp(t, us, w)
        # |v| - half is a distance across the spine; divide by the outline's slope factor to get
        # the distance to the (sloping) outline, or a shallow edge (the shoulders) would alias.
        slope = np.diff(w) / (np.diff(us) * length + 1e-9)
        norm = np.sqrt(1 + slope * slope)[np.clip(np.searchsorted(us, t) - 1, 0, len(slope) - 1)]
        d = np.maximum((np.abs(v) - half) / norm, np.maximum(us[0] - t, t - us[-1]) * length)
        alpha = self.layer.coverage(d)
        x = np.clip(v / half, -1, 1)
        theta = _wrap(np.arcsin(x) - self.pose.yaw) if texture else None
        self.layer.paint(win, alpha, color_fn(t, theta, _shade(x)))

    def torso(self):
        ident = self.ident
        sh, wa, hp = ident.shoulder, ident.waist, ident.hip
        # Profile from the base of the neck over the shoulders (which meet the upper arms' round
        # tops at the shoulder joints) down to the hem.
        us = [-0.1, -0.06, -0.02, 0.06, 0.15, 0.4, 0.68, 1.0, ident.top_length]
        a = [0.34 * sh, 0.72 * sh, 0.97 * sh, sh + 0.012, sh + 0.006, 0.9 * sh, wa, hp, hp * 1.02]
        b = [0.04, 0.055, 0.072, 0.088, TORSO_DEPTH, TORSO_DEPTH + 0.005, 0.085, 0.09, 0.09]
        if ident.top_length < 1.0:
            us, a, b = us[:-2] + [ident.top_length], a[:-2] + [np.interp(ident.top_length, [0.68, 1.0], [wa, hp])], b[:-1]
        radius = 0.11  # mean radius: longitude -> arc length for the patterns

        def color(u, theta, shade):
            y = u * TORSO_LEN
            col = self.garment(y, theta * radius, self.top)
            if ident.pattern == "logo":
                col = self.logo(col, theta * radius, y - 0.11)
            front = np.abs(theta) < 0.7
            neck_depth = ident.neckline * (1 - (theta / 0.7) ** 2) - 0.028
            m = np.clip((neck_depth - y) / self.pxb + 0.5, 0, 1) * front
            col = col * (1 - m[..., None]) + self.skin * m[..., None]
            return col * shade

        self.parts.append((3, TORSO_KEY, lambda: self.torso_section(us, a, b, color)))

    def logo(self, col, w, y):
        """The chest logo of the ``logo`` pattern, centred on the chest (front only)."""
        ident, r = self.ident, 0.032
        if ident.logo == "disc":
            d = np.sqrt(w * w + y * y) - r
        elif ident.logo == "diamond":
            d = (np.abs(w) + np.abs(y)) * 0.75 - r
        elif ident.logo == "square":
            d = np.maximum(np.abs(w), np.abs(y)) - 0.8 * r
        else:                                  # a band across the chest, front only
            d = np.maximum(np.abs(y) - 0.35 * r, np.abs(w) - 0.09)
        m = np.clip(0.5 - d / self.pxb, 0, 1)[..., None]
        return col * (1 - m) + self.top2 * m

    def arms(self):
        ident, g = self.ident, self.ident.girth
        sleeve_end = {"none": (-1.0, -1.0), "short": (0.55, -1.0), "long": (1.1, 1.1)}[ident.sleeve]
        loose = 0.005
        for side in ("r", "l"):
            sh, el, wr, hand = (self.at(f"{side}_{j}") for j in ("shoulder", "elbow", "wrist", "hand"))
            zs, ze, zw = (self.z[P[f"{side}_{j}"]] for j in ("shoulder", "elbow", "wrist"))

            up_r = (0.029 * g + (loose if sleeve_end[0] > 0 else 0), 0.025 * g + (loose if sleeve_end[0] > 0.9 else 0))
            lo_r = (0.025 * g + (loose if sleeve_end[1] > 0 else 0), 0.019 * g + (loose if sleeve_end[1] > 0 else 0))
            # The upper arm's round top starts a little down the arm, under the shoulder's curve.
            top = sh + (el - sh) * min(0.5 * up_r[0] * self.k / (np.hypot(*(el - sh)) + 1e-6), 0.3)
            self.parts.append((3, (zs + ze) / 2, lambda a=top, b=el: self.capsule(
                a, b, up_r[0], up_r[1], lambda t, v, L, r: self.sleeve(sleeve_end[0], UPPER_ARM, t, v, L, r))))
            # forearm and hand in one capsule; a long sleeve ends at the wrist
            wrist_t = FOREARM / (FOREARM + HAND)
            cuff = wrist_t if sleeve_end[1] > 0 else -1.0
            self.parts.append((3, (ze + zw) / 2, lambda a=el, b=hand: self.capsule(
                a, b, lo_r[0], 0.017, lambda t, v, L, r: self.sleeve(cuff, FOREARM + HAND, t, v, L, r))))

    def sleeve(self, cut: float, seg_len: float, t, v, length: float, r):
        """An arm segment: sleeve down to ``cut``, patterned in the limb's frame (along, across)."""
        cloth = self.top if cut <= 0 else self.garment(t * seg_len, v * (1 / self.k), self.top)
        return self.two_tone(cloth, cut, t, v, length, r)

    def neck(self):
        top = self.at("head") + (self.at("neck") - self.at("head")) * 0.45
        r = 0.025 * self.ident.girth ** 0.5
        self.parts.append((3, -0.07, lambda: self.capsule(
            self.at("neck"), top, r, r, lambda t, v, L, rr: self.skin * 0.94 * _shade(v, rr))))

    # -- head ------------------------------------------------------------------------------------

    def head(self):
        ident = self.ident
        zh = self.z[P["head"]] + 0.04
        turn = self.pose.yaw + self.pose.head_yaw
        hair, hat = _rgb(ident.hair_color), _rgb(ident.hat_color)
        rx, ry, rz = (r * ident.head for r in HEAD_R)
        rxp = np.sqrt((rx * np.cos(turn)) ** 2 + (rz * np.sin(turn)) ** 2)
        # The hair (or hat) volume: a slightly larger ellipse, raised, under the head.
        grow = {"short": 1.06, "medium": 1.1, "long": 1.12}[ident.hair_length]
        cap_color = hat if ident.hat == "beanie" else hair
        if ident.hat == "beanie":
            grow = 1.13
        self.parts.append((3, zh - 2e-4, lambda: self.ellipse(rxp * grow, ry * grow, -0.1 * ry, cap_color)))
        if ident.hair_length == "long":
            self.long_hair(rx, ry, rz)
        if ident.hair_length != "long" and ry * self.k >= 8:      # ears once they are over a pixel or two
            for side, theta in (("r", -np.pi / 2), ("l", np.pi / 2)):
                facing = np.cos(theta + turn)
                if facing > -0.3:
                    self.parts.append((3, zh + (1e-3 if facing > 0.35 else -3e-4), lambda s=side: self.ear(s)))
        self.parts.append((3, zh, lambda: self.head_ellipse(rx, ry, rz, rxp, turn)))
        if abs(np.sin(turn)) > 0.35 and np.cos(turn) > -0.2:    # the nose sticks out of a profile
            self.parts.append((3, zh + 2e-3, lambda: self.capsule(
                self.at("nose"), self.at("nose"), 0.011 * ident.head, 0.011 * ident.head,
                lambda t, v, L, r: self.skin * 0.92)))
        if ident.hat == "cap":
            pts, z = self.project(self._head_local([(0, -0.5 * ry, 0.85 * rz), (0, -0.45 * ry, rz + 0.045)]))
            self.parts.append((3, self.z[P["head"]] + 0.04 + float(z.mean() - self.z[P["head"]]) * 0.5 + 1e-3,
                               lambda: self.capsule(pts[0], pts[1], 0.012, 0.012, lambda t, v, L, r: hat * 0.85)))

    def _head_local(self, pts):
        """Head-frame offsets -> body-frame points (turned by the head's yaw about its centre)."""
        ident = self.ident
        ry = HEAD_R[1] * ident.head
        centre = np.array([0.0, 0.13 - ry, 0.006])
        c, s = np.cos(self.pose.head_yaw), np.sin(self.pose.head_yaw)
        return [centre + (x * c + z * s, y, -x * s + z * c) for x, y, z in pts]

    def _head_axis(self):
        """The head's centre and the (y, x) unit vector down it."""
        centre, top = self.at("head"), self.at("head_top")
        return centre, (centre - top) / (np.linalg.norm(centre - top) + 1e-9)

    def _on_head_axes(self, c, axis, rxp: float, ryp: float):
        """The layer window around ``c`` and its pixels' coordinates (hx across, hy down the head) in
        units of the radii ``rxp``, ``ryp`` (pixels); None when the window is off the image."""
        win = self.layer.window(*raster.box_of([c], max(rxp, ryp) + 1))
        if win is None:
            return None
        dyy, dxx = win.ys - c[0], win.xs - c[1]
        return win, (dxx * axis[0] - dyy * axis[1]) / rxp, (dyy * axis[0] + dxx * axis[1]) / ryp

    def ellipse(self, rx: float, ry: float, dy: float, color):
        """A plain ellipse on the head's axes, radii in body heights, raised by -dy."""
        centre, axis = self._head_axis()
        c = centre + axis * dy * self.k
        rxp, ryp = rx * self.k, ry * self.k
        found = self._on_head_axes(c, axis, rxp, ryp)
        if found is None:
            return
        win, hx, hy = found
        rho = np.sqrt(hx * hx + hy * hy)
        alpha = self.layer.coverage((rho - 1) * min(rxp, ryp))
        self.layer.paint(win, alpha, color * _shade(hx * 0.8))

    def head_ellipse(self, rx, ry, rz, rxp, turn):
        ident = self.ident
        centre, axis = self._head_axis()
        rxpp, rypp = rxp * self.k, ry * self.k
        found = self._on_head_axes(centre, axis, rxpp, rypp)
        if found is None:
            return
        win, hx, hy = found
        alpha = self.layer.coverage((np.sqrt(hx * hx + hy * hy) - 1) * min(rxpp, rypp))
        detail = rypp >= 10      # brows, glasses frames and hair strands once the head is >= 20 px tall
        chord = np.sqrt(np.clip(1 - hy * hy, 1e-4, 1))
        phi = np.arcsin(np.clip(hx / chord, -1, 1))
        theta = _wrap(phi - turn)             # longitude on the head, 0 = the face's centre
        ath = np.abs(theta)
        px = self.pxb / ry                    # one sample in head-height units (hy)

        # Hairline height as a function of the longitude: forehead, temples, above the ears, nape.
        back = {"short": 0.5, "medium": 0.8, "long": 1.2}[ident.hair_length]
        front = -0.2 if ident.face == "fringe" else ident.hairline
        line = np.interp(ath, [0, 0.7, 1.25, 1.65, 2.3, np.pi], [front, front + 0.04, -0.05, 0.08, back, back])
        hair_m = np.clip((line - hy) / px + 0.5, 0, 1)
        col = np.broadcast_to(self.skin, hy.shape + (3,)).copy()

        # Face marks, in surface units of the head (x = longitude * rx, y = hy * ry), on the face
        # side only (the longitude says which side of the head each sample shows).
        face = ath < np.pi / 2
        if face.any():
            face = face[..., None]
            sx, sy = np.abs(theta) * rx, hy * ry
            eye_x, eye_y = 0.42 * rx, -0.02 * ry
            d_eye = np.sqrt((sx - eye_x) ** 2 + (sy - eye_y) ** 2)
            if ident.face == "beard":
                beard = np.clip((hy - 0.2) / px + 0.5, 0, 1) * (ath < 1.4)
                col = col * (1 - beard[..., None]) + _rgb(ident.hair_color) * beard[..., None]
            marks = [(d_eye - 0.0085, EYE_COLOR), (np.maximum(sx - 0.012, np.abs(sy - 0.46 * ry) - 0.003), MOUTH_COLOR)]
            if ident.face == "glasses":
                marks.append((np.abs(d_eye - 0.016) - 0.003, GLASSES_COLOR))
            if detail:
                marks.append((np.maximum(np.abs(sx - eye_x) - 0.011, np.abs(sy - eye_y + 0.014) - 0.0025),
                              _rgb(ident.hair_color) * 0.8))                                    # brows
                if ident.face == "glasses":
                    marks.append((np.maximum(sx - (eye_x - 0.016), np.abs(sy - eye_y) - 0.002), GLASSES_COLOR))  # bridge
            for d, mark_color in marks:
                m = np.clip(0.5 - d / self.pxb, 0, 1)[..., None] * face
                col = col * (1 - m) + mark_color * m
        hair = _rgb(ident.hair_color)
        if detail:
            hair = hair * (1 + 0.08 * np.sin(theta * 9 + hy * 3))[..., None]  # strands
        col = col * (1 - hair_m[..., None]) + hair * hair_m[..., None]
        if ident.hat != "none":
            brim = -0.42 if ident.hat == "cap" else -0.28
            m = np.clip((brim - hy) / px + 0.5, 0, 1)[..., None]
            col = col * (1 - m) + _rgb(ident.hat_color) * m
        self.layer.paint(win, alpha, col * _shade(hx * 0.8))

    def ear(self, side: str):
        p = self.at(f"{side}_ear")
        r = 0.014 * self.ident.head
        self.capsule(p + np.array([-0.008, 0]) * self.k, p + np.array([0.008, 0]) * self.k, r, r * 0.8,
                     lambda t, v, L, rr: self.skin * 0.9)

    def long_hair(self, rx, ry, rz):
        """Long hair hangs behind the head and neck down to the shoulder blades."""
        top, = self._head_local([(0, -0.2 * ry, -0.45 * rz)])
        bottom = np.array([0.0, 0.3, -(TORSO_DEPTH + 0.01)])          # on the upper back
        (p0, p1), z = self.project([top, bottom])
        c, s = np.cos(self.pose.yaw + self.pose.head_yaw), np.sin(self.pose.yaw + self.pose.head_yaw)
        w0 = np.hypot(rx * 1.08 * c, 0.04 * s)
        w1 = np.hypot(rx * 1.25 * c, 0.03 * s)
        hair = _rgb(self.ident.hair_color)
        # It lies on the back: behind the torso when the back faces away, over it otherwise.
        key = TORSO_KEY - 0.01 if np.cos(self.pose.yaw) > 0.15 else max(float(z.mean()), TORSO_KEY + 0.01)
        self.parts.append((3, key, lambda: self.capsule(
            p0, p1, w0, w1, lambda t, v, L, r: hair * (0.9 + 0.06 * np.sin(v / self.k * 300))[..., None] * _shade(v, r))))

    # -- accessories -----------------------------------------------------------------------------

    def bag(self):
        ident = self.ident
        color = _rgb(ident.bag_color)
        if ident.bag == "backpack":
            back = -(TORSO_DEPTH + 0.045)
            (p0, p1), z = self.project([[0, Y_SHOULDER + 0.05, back], [0, Y_SHOULDER + 0.24, back]])
            c, s = np.cos(self.pose.yaw), np.sin(self.pose.yaw)
            w = float(np.hypot(0.085 * c, 0.05 * s))
            facing_back = c < 0

            def pack_color(t, v, L, r):
                pocket = ((t > 0.55) & (t < 0.9) & (np.abs(v) < 0.6 * r) & facing_back)[..., None]
                return color * np.where(pocket, 0.8, 1.0) * _shade(v, r)
            self.parts.append((3, float(z.mean()), lambda: self.capsule(p0, p1, w, w * 0.95, pack_color)))
            if c > 0.1:   # straps over the shoulders, seen from the front
                for sgn in (-1, 1):
                    sx = sgn * ident.shoulder * 0.6
                    (a, b), zz = self.project([[sx, Y_SHOULDER - 0.005, TORSO_DEPTH * 0.6],
                                               [sx * 1.15, Y_SHOULDER + 0.16, TORSO_DEPTH]])
                    self.parts.append((3, -0.055, lambda a=a, b=b: self.capsule(
                        a, b, 0.01, 0.01, lambda t, v, L, r: color * 0.85)))
        elif ident.bag == "shoulder":
            sgn = 1 if ident.index % 2 else -1           # which shoulder carries the strap
            c, s = np.cos(self.pose.yaw), np.sin(self.pose.yaw)
            surface = TORSO_DEPTH * (1 if c >= 0 else -1)
            (a, b), _ = self.project([[sgn * ident.shoulder * 0.7, Y_SHOULDER - 0.005, surface * 0.5],
                                      [-sgn * (ident.hip + 0.03), Y_HIP - 0.02, surface * 0.5]])
            self.parts.append((3, -0.05, lambda: self.capsule(a, b, 0.007, 0.007, lambda t, v, L, r: color * 0.7)))
            (q0, q1), z = self.project([[-sgn * (ident.hip + 0.035), Y_HIP - 0.01, 0.01],
                                        [-sgn * (ident.hip + 0.035), Y_HIP + 0.08, 0.01]])
            w = float(np.hypot(0.025 * c, 0.07 * s))
            self.parts.append((3, float(z.mean()) + 0.02, lambda: self.capsule(
                q0, q1, w, w, lambda t, v, L, r: color * _shade(v, r))))

    # -- all together ----------------------------------------------------------------------------

    def draw(self) -> tuple[np.ndarray, np.ndarray]:
        self.legs()
        self.torso()
        self.neck()
        self.arms()
        self.head()
        self.bag()
        for _, _, fn in sorted(self.parts, key=lambda p: (p[0], p[1])):
            fn()
        self.parts.clear()   # the closures refer back to self: break the cycle, free at once
        return self.layer.resolve()


def render_layer(identity: Identity, pose: BodyPose, size: tuple[int, int], supersample: int = 2):
    """The person alone: premultiplied RGB (H, W, 3) float32 in [0, 1], coverage (H, W) in [0, 1],
    and the COCO-18 keypoints (18, 2) int64 (y, x), -1 missing (see ``posing.keypoints``)."""
    painter = Painter(identity, pose, size, supersample)
    rgb, alpha = painter.draw()
    return rgb, alpha, keypoints(painter.px, pose, size)


def render(identity: Identity, pose: BodyPose, size: tuple[int, int] = (128, 64), background=None,
           supersample: int = 2) -> tuple[np.ndarray, np.ndarray]:
    """Render ``identity`` in ``pose`` over ``background``.

    Args:
        size: (height, width) in pixels.
        background: (H, W, 3) uint8 or float [0, 1] image, an RGB colour (floats in [0, 1]), or
            None for white.
        supersample: samples per pixel side (anti-aliasing; 2 is plenty with the soft edges).

    Returns:
        image (H, W, 3) uint8 and keypoints (18, 2) int64 (y, x) in COCO-18 order, -1 missing.
    """
    rgb, alpha, kp = render_layer(identity, pose, size, supersample)
    if background is None:
        background = (1.0, 1.0, 1.0)
    bg = np.asarray(background)
    if bg.dtype == np.uint8:
        bg = bg.astype(np.float32) / 255
    bg = np.broadcast_to(bg.astype(np.float32), (*size, 3))
    image = rgb + bg * (1 - alpha[..., None])
    return (np.clip(image, 0, 1) * 255 + 0.5).astype(np.uint8), kp


def render_sequence(identity: Identity, poses, size: tuple[int, int] = (128, 64), background=None,
                    supersample: int = 2) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`render` for each pose of a sequence (e.g. ``sample_pose_sequence``): [(image, keypoints)]."""
    return [render(identity, pose, size, background, supersample) for pose in poses]
