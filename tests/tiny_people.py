"""A tiny PATN-layout dataset written in code: stick people with per-identity colours.

Each identity has a shirt, trousers and background colour; each of its images is the same person
in another random pose, so (condition, target) pairs of one identity are a real pose-transfer task.
"""

from __future__ import annotations

import numpy as np
from PIL import Image, ImageDraw

from pona.data.layout import write_annotations, write_pairs

# A standing person in a 128x64 frame, (y, x) per COCO-18 joint.
TEMPLATE = np.array([
    [18, 32], [28, 32], [28, 22], [44, 18], [58, 16], [28, 42], [44, 46], [58, 48],
    [62, 26], [84, 26], [108, 26], [62, 38], [84, 38], [108, 38], [16, 29], [16, 35], [17, 26], [17, 38],
], dtype=np.float64)
UPPER = ((2, 3), (3, 4), (5, 6), (6, 7), (1, 2), (1, 5), (1, 0))
LOWER = ((8, 9), (9, 10), (11, 12), (12, 13))


def random_pose(rng: np.random.Generator, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    kp = TEMPLATE.copy()
    kp[[3, 4, 6, 7], 1] += rng.uniform(-10, 10, 4)    # arms swing
    kp[[3, 4, 6, 7], 0] += rng.uniform(-8, 8, 4)
    kp[[9, 10, 12, 13], 1] += rng.uniform(-6, 6, 4)   # legs step
    kp[:, 1] += rng.uniform(-6, 6)                     # whole body shifts
    kp *= np.array([h / 128, w / 64])
    return np.clip(np.round(kp), 0, [h - 1, w - 1]).astype(np.int64)


def render(kp: np.ndarray, colors: dict, size: tuple[int, int]) -> np.ndarray:
    h, w = size
    im = Image.new("RGB", (w, h), colors["background"])
    d = ImageDraw.Draw(im)
    lw = max(1, round(4 * h / 128))
    xy = lambda j: (float(kp[j, 1]), float(kp[j, 0]))  # noqa: E731
    d.polygon([xy(2), xy(5), xy(11), xy(8)], fill=colors["shirt"])
    for a, b in UPPER:
        d.line([xy(a), xy(b)], fill=colors["shirt"], width=lw)
    for a, b in LOWER:
        d.line([xy(a), xy(b)], fill=colors["trousers"], width=lw)
    r = max(1, round(5 * h / 128))
    y, x = kp[0]
    d.ellipse([x - r, y - r, x + r, y + r], fill=colors["skin"])
    return np.array(im)


def write_tiny_dataset(root, people: tuple[int, int] = (4, 2), poses: int = 3, size=(32, 16), seed: int = 0):
    """Write train/test splits (``people`` identities each) of ``poses`` images per identity;
    pairs are all ordered pairs of distinct images of one identity. Returns ``root``."""
    rng = np.random.default_rng(seed)
    for split, n in zip(("train", "test"), people):
        (root / split).mkdir(parents=True, exist_ok=True)
        annotations, pairs = {}, []
        for p in range(n):
            colors = {k: tuple(int(c) for c in rng.integers(0, 256, 3)) for k in ("background", "shirt", "trousers")}
            colors["skin"] = (224, 172, 105)
            names = []
            for k in range(poses):
                name = f"{split}{p:03d}_{k}.png"
                kp = random_pose(rng, size)
                Image.fromarray(render(kp, colors, size)).save(root / split / name)
                annotations[name] = kp
                names.append(name)
            pairs += [(a, b) for a in names for b in names if a != b]
        write_annotations(root / f"tiny-annotation-{split}.csv", annotations)
        write_pairs(root / f"tiny-pairs-{split}.csv", pairs)
    return root
