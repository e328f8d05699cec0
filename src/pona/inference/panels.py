"""Pictures made of side-by-side panels: the transfer panel, the field's legacy strip, animation frames.

All panels of one picture have the same height; widths add up. Poses are drawn as coloured
skeletons on black (as the field's visualisers did from the heat maps).
"""

from __future__ import annotations

import numpy as np
from PIL import Image

from ..pose import draw_pose

# The field's test-time visual (PATN/PoNA ``get_current_visuals``), saved as ``<from>___<to>_vis.jpg``:
LEGACY_STRIP = ("condition", "condition pose", "target", "target pose", "generated")
# ``pona transfer --show``:
TRANSFER_PANEL = ("condition", "condition pose", "target pose", "output")


def as_image(image) -> Image.Image:
    """PIL image or (H, W, 3) uint8 array -> RGB PIL image."""
    if isinstance(image, Image.Image):
        return image.convert("RGB")
    return Image.fromarray(np.asarray(image, dtype=np.uint8)).convert("RGB")


def pose_image(keypoints, size: tuple[int, int]) -> Image.Image:
    """(18, 2) (y, x) keypoints drawn on a black (H, W) canvas."""
    return draw_pose(None, keypoints, size=size)


def hstack(images) -> Image.Image:
    """Images of equal height side by side, left to right."""
    images = [as_image(im) for im in images]
    heights = {im.height for im in images}
    if len(heights) != 1:
        raise ValueError(f"panels must have one height, got {sorted(heights)}")
    out = Image.new("RGB", (sum(im.width for im in images), images[0].height))
    x = 0
    for im in images:
        out.paste(im, (x, 0))
        x += im.width
    return out


def transfer_panel(condition, src_keypoints, dst_keypoints, output) -> Image.Image:
    """condition | condition pose | target pose | output, each at the condition's size (4W x H)."""
    condition = as_image(condition)
    size = (condition.height, condition.width)
    return hstack([condition, pose_image(src_keypoints, size), pose_image(dst_keypoints, size), output])


def legacy_strip(condition, src_keypoints, target, dst_keypoints, generated) -> Image.Image:
    """The field's 5-panel strip (5W x H): condition | condition pose | target | target pose | generated.

    Old metric scripts (e.g. PATN's ``tool/getMetrics_market.py``) cut it at ``w = width // 5`` and
    read the target from ``[2w, 3w)`` and the generated image from ``[4w, 5w)``.
    """
    condition = as_image(condition)
    size = (condition.height, condition.width)
    return hstack([condition, pose_image(src_keypoints, size), target, pose_image(dst_keypoints, size), generated])


def animation_frame(keypoints, generated) -> Image.Image:
    """Skeleton | generated person (2W x H), the skeleton drawn at the generated image's size."""
    generated = as_image(generated)
    return hstack([pose_image(keypoints, (generated.height, generated.width)), generated])
