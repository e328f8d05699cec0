"""Who a synthetic person is: body shape, skin, hair, face, clothes, accessories.

An :class:`Identity` is everything that stays fixed while the pose changes; pose transfer must carry
it from the condition image to the target. Colours are RGB floats in [0, 1]; lengths are fractions
of the body height (top of the head to the soles = 1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..layout import SIZES

PRESETS = tuple(SIZES)  # one synthetic preset per dataset of the layout

RGB = tuple[float, float, float]

# Reference colours (sRGB 0-255), sampled with a small jitter.
SKIN_TONES = ((255, 226, 200), (243, 204, 170), (228, 185, 142), (210, 160, 115),
              (176, 122, 80), (135, 88, 56), (96, 62, 40), (70, 46, 32))
HAIR_COLORS = ((22, 18, 16), (45, 32, 24), (80, 52, 32), (120, 78, 42), (150, 70, 35),
               (200, 160, 95), (225, 200, 140), (140, 135, 130), (205, 200, 195))
HAIR_WEIGHTS = (0.25, 0.22, 0.16, 0.1, 0.06, 0.08, 0.04, 0.06, 0.03)
CLOTH_COLORS = (
    (25, 25, 30), (245, 245, 242), (130, 130, 135), (70, 70, 75), (30, 45, 90),     # black white grey charcoal navy
    (60, 100, 170), (140, 180, 220), (180, 30, 40), (110, 25, 40), (230, 110, 120),  # blue lightblue red burgundy pink
    (240, 200, 50), (230, 120, 30), (40, 120, 60), (100, 110, 50), (190, 170, 130),  # yellow orange green olive khaki
    (120, 80, 50), (110, 60, 140), (40, 150, 150), (220, 210, 190), (160, 40, 110),  # brown purple teal beige magenta
)
TROUSER_COLORS = ((30, 30, 35), (45, 60, 100), (70, 95, 140), (110, 110, 115), (185, 165, 125),
                  (90, 75, 55), (220, 215, 200), (60, 70, 45), (20, 25, 45))
SHOE_COLORS = ((20, 20, 20), (240, 240, 240), (90, 55, 30), (60, 60, 65), (150, 30, 30), (40, 60, 120))

PATTERNS = ("solid", "stripes", "vstripes", "checks", "dots", "logo")
SLEEVES = ("none", "short", "long")
BOTTOMS = ("trousers", "shorts", "skirt")
HAIR_LENGTHS = ("short", "medium", "long")
FACES = ("plain", "glasses", "beard", "fringe")
LOGOS = ("disc", "diamond", "square", "band")
BAGS = ("none", "backpack", "shoulder")
HATS = ("none", "cap", "beanie")


@dataclass(frozen=True)
class Identity:
    """Appearance of one synthetic person (all lengths in body heights, colours RGB in [0, 1])."""

    index: int
    # body shape
    shoulder: float          # half distance between the shoulder joints
    waist: float             # half width of the waist
    hip: float               # half width of the hips (visual)
    girth: float             # limb thickness multiplier
    head: float              # head size multiplier
    skin: RGB
    # hair and face
    hair_color: RGB
    hair_length: str         # HAIR_LENGTHS
    hairline: float          # front hairline height on the head, -0.55 (high) .. -0.3 (low)
    face: str                # FACES: marks on the face side (the back of the head shows hair only)
    # upper garment
    top_color: RGB
    top_color2: RGB          # pattern / logo colour
    pattern: str             # PATTERNS, texture attached to the torso and sleeves
    pattern_scale: float     # period of the pattern (body heights)
    logo: str                # LOGOS, the chest logo's shape when pattern == "logo"
    sleeve: str              # SLEEVES
    neckline: float          # depth of the (front only) neckline, body heights
    top_length: float        # hem position: 0.85 (cropped) .. 1.08 (over the hips), in torso lengths
    # lower garment
    bottom: str              # BOTTOMS
    bottom_color: RGB
    shoe_color: RGB
    # accessories
    bag: str                 # BAGS
    bag_color: RGB
    hat: str                 # HATS
    hat_color: RGB


def _color(rng: np.random.Generator, palette, jitter: float = 0.06, weights=None) -> RGB:
    c = np.asarray(palette[rng.choice(len(palette), p=weights)], dtype=np.float64) / 255
    c = c * (1 + rng.uniform(-jitter, jitter)) + rng.uniform(-jitter, jitter, 3) / 2
    return tuple(float(v) for v in np.clip(c, 0, 1))


def _distinct(rng: np.random.Generator, palette, avoid: RGB, min_dist: float = 0.35) -> RGB:
    """A palette colour far enough from ``avoid`` to be told apart (tries a few, keeps the farthest)."""
    best, best_d = avoid, -1.0
    for _ in range(6):
        c = _color(rng, palette)
        d = float(np.abs(np.subtract(c, avoid)).sum())
        if d > best_d:
            best, best_d = c, d
        if d >= min_dist:
            break
    return best


def sample_identity(rng: np.random.Generator, preset: str = "market", index: int = 0) -> Identity:
    """Draw a person's appearance. Use ``np.random.default_rng([seed, index])`` for reproducibility.

    ``preset`` shifts the clothing statistics: ``market`` (street, surveillance: more trousers, bags,
    backpacks, dark colours) or ``fashion`` (shop catalogue: more skirts, patterns, no bags).
    """
    if preset not in PRESETS:
        raise ValueError(f"preset must be one of {PRESETS}, got {preset!r}")
    fashion = preset == "fashion"
    broad = rng.uniform(0, 1)  # 0 = narrow shoulders / wide hips, 1 = broad shoulders / narrow hips
    shoulder = 0.095 + 0.025 * broad
    hip = 0.1 - 0.018 * broad + rng.uniform(-0.006, 0.008)
    waist = hip * rng.uniform(0.84, 1.0)
    skin_i = rng.uniform(0, len(SKIN_TONES) - 1)
    lo, t = int(skin_i), skin_i - int(skin_i)
    skin = (1 - t) * np.asarray(SKIN_TONES[lo]) + t * np.asarray(SKIN_TONES[min(lo + 1, len(SKIN_TONES) - 1)])

    top = _color(rng, CLOTH_COLORS)
    pattern = str(rng.choice(PATTERNS, p=(0.3, 0.16, 0.1, 0.14, 0.12, 0.18) if fashion else (0.42, 0.14, 0.08, 0.12, 0.08, 0.16)))
    bottom = str(rng.choice(BOTTOMS, p=(0.45, 0.2, 0.35) if fashion else (0.7, 0.18, 0.12)))
    bottom_color = _distinct(rng, TROUSER_COLORS if bottom == "trousers" else CLOTH_COLORS, top, 0.3)
    bag = "none" if fashion else str(rng.choice(BAGS, p=(0.55, 0.28, 0.17)))
    hat = str(rng.choice(HATS, p=(0.9, 0.05, 0.05) if fashion else (0.78, 0.14, 0.08)))
    hair_length = str(rng.choice(HAIR_LENGTHS, p=(0.45, 0.25, 0.3) if not fashion else (0.3, 0.25, 0.45)))
    face = str(rng.choice(FACES, p=(0.55, 0.17, 0.14, 0.14)))
    if face == "beard" and (hair_length == "long" or bottom == "skirt"):
        face = "plain"   # attributes are independent draws; this pairing just looks wrong
    return Identity(
        index=int(index),
        shoulder=float(shoulder), waist=float(waist), hip=float(hip),
        girth=float(rng.uniform(0.85, 1.25)), head=float(rng.uniform(0.93, 1.08)),
        skin=tuple(float(v) for v in np.clip(skin / 255 + rng.uniform(-0.02, 0.02, 3), 0, 1)),
        hair_color=_color(rng, HAIR_COLORS, 0.05, HAIR_WEIGHTS),
        hair_length=hair_length,
        hairline=float(rng.uniform(-0.55, -0.32)),
        face=face,
        top_color=top,
        top_color2=_distinct(rng, CLOTH_COLORS, top, 0.5),
        pattern=pattern,
        pattern_scale=float(rng.uniform(0.035, 0.07)),
        logo=str(rng.choice(LOGOS)),
        sleeve=str(rng.choice(SLEEVES, p=(0.12, 0.5, 0.38))),
        neckline=float(rng.uniform(0.01, 0.05)),
        top_length=float(rng.uniform(0.9, 1.06)),
        bottom=bottom,
        bottom_color=bottom_color,
        shoe_color=_color(rng, SHOE_COLORS),
        bag=bag,
        bag_color=_color(rng, CLOTH_COLORS),
        hat=hat,
        hat_color=_color(rng, CLOTH_COLORS),
    )
