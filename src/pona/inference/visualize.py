"""The paper's Fig. 13-style picture: what each PoNA block attends to, and how its codes change.

For one target location p (a pixel of the generated image), block t's pose-guided map alpha_t
(eqs. (4)-(5)) has a row over all N = h*w code locations (h, w = H/4, W/4): where the block takes
the features it puts at p. That row, upsampled to the image size, is overlaid on the condition
image; the self-attention map of the fusion code (eq. (2)) likewise. Beside them, the mean over
channels of the pose code before/after the block's pose update and of the image code before/after
the pose-guided attention, read with forward hooks (the generator's outputs are unchanged).

Figure layout (``COLUMNS``): a top row (inputs, output, encoder codes) and one row per block.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from PIL import Image, ImageDraw

from ..data.dataset import to_uint8
from ..errors import PonaError
from ..pose import visible
from .panels import as_image, pose_image

TOP_ROW = ("condition", "condition pose", "target pose", "output", "image code (enc)", "pose code (enc)")
BLOCK_ROW = ("pose-guided attn.", "self-attn.", "pose code in", "pose code out", "img code pre-attn",
             "img code post-attn")
COLUMNS = len(TOP_ROW)
LABEL_HEIGHT = 14
# A small perceptual colour map (dark blue -> purple -> orange -> yellow) for maps in [0, 1].
_ANCHORS = np.array([[0, 0, 40], [90, 20, 130], [200, 60, 90], [250, 150, 30], [255, 250, 150]], np.float64)


@dataclass
class BlockView:
    """What block t shows for the chosen point. Maps: (h, w) float; codes: (h, w) channel means."""

    pose_attention: np.ndarray | None   # row of alpha_t at the point, sums to 1
    self_attention: np.ndarray | None   # row of the fusion code's self-attention at the point
    pose_in: np.ndarray | None
    pose_out: np.ndarray | None
    image_before: np.ndarray            # image code after conv_I, before the pose-guided attention
    image_after: np.ndarray


@dataclass
class AttentionView:
    point: tuple[int, int]              # (y, x) target location, model-frame pixels
    cell: int                           # its index in the N = h*w code locations
    output: Image.Image
    image_code: np.ndarray              # (h, w) image encoder output, channel mean
    pose_code: np.ndarray | None        # (h, w) pose encoder output, channel mean
    blocks: list[BlockView] = field(default_factory=list)


def colormap(values: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8."""
    t = np.clip(values, 0, 1) * (len(_ANCHORS) - 1)
    i = np.minimum(t.astype(int), len(_ANCHORS) - 2)
    f = (t - i)[..., None]
    return np.round(_ANCHORS[i] * (1 - f) + _ANCHORS[i + 1] * f).astype(np.uint8)


def _normalise(m: np.ndarray) -> np.ndarray:
    lo, hi = float(m.min()), float(m.max())
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)


def _mean_code(x: torch.Tensor) -> np.ndarray:
    return x[0].float().mean(0).cpu().numpy()  # (C, h, w) -> (h, w)


def auto_point(src_keypoints: np.ndarray, dst_keypoints: np.ndarray, size: tuple[int, int]) -> tuple[int, int]:
    """The target joint that moves farthest from its condition position (visible in both poses and
    inside the image); the image centre if there is none."""
    h, w = size
    both = visible(src_keypoints) & visible(dst_keypoints)
    both &= (dst_keypoints[:, 0] < h) & (dst_keypoints[:, 1] < w)
    if not both.any():
        return h // 2, w // 2
    moved = np.linalg.norm(dst_keypoints - src_keypoints, axis=1)
    j = int(np.argmax(np.where(both, moved, -1)))
    return int(dst_keypoints[j, 0]), int(dst_keypoints[j, 1])


def attention_view(model, condition: np.ndarray, src_keypoints, dst_keypoints, point: tuple[int, int]) -> AttentionView:
    """Run the generator once on model-frame inputs and collect each block's maps and codes at ``point``."""
    g = model.generator
    if getattr(g.config, "arch", "pona") != "pona":
        raise PonaError(f"attention figures need a PoNA generator; this checkpoint is {g.config.arch!r}")
    H, W = model.image_size
    y, x = point
    if not (0 <= y < H and 0 <= x < W):
        raise PonaError(f"point (y={y}, x={x}) is outside the {W}x{H} (WxH) model image")
    h, w = H // 4, W // 4
    cell = (y * h // H) * w + (x * w // W)

    records: dict[int, dict] = {}
    hooks = []
    for t, block in enumerate(g.blocks):
        rec = records.setdefault(t, {})
        hooks.append(block.register_forward_pre_hook(lambda m, a, rec=rec: rec.update(img_in=a[0], pose_in=a[1])))
        hooks.append(block.register_forward_hook(lambda m, a, o, rec=rec: rec.update(img_out=o[0], pose_out=o[1])))
        if block.cross_attn is not None:
            hooks.append(block.cross_attn.register_forward_pre_hook(lambda m, a, rec=rec: rec.update(img_mid=a[1])))
    try:
        out, maps = model.generate(condition, src_keypoints, dst_keypoints, return_attention=True)
    finally:
        for hk in hooks:
            hk.remove()

    first = records[0]
    view = AttentionView((y, x), cell, Image.fromarray(to_uint8(out[0])), _mean_code(first["img_in"]),
                         None if first["pose_in"] is None else _mean_code(first["pose_in"]))
    for t, block in enumerate(g.blocks):
        rec, block_maps = records[t], list(maps[t])
        has_self = block.cross_attn is not None and block.self_attn is not None
        self_map = block_maps.pop(0) if has_self else None
        cross_map = block_maps.pop(0) if block.cross_attn is not None else None

        def row(m):
            return None if m is None else m[0, cell].float().reshape(h, w).cpu().numpy()

        view.blocks.append(BlockView(
            pose_attention=row(cross_map), self_attention=row(self_map),
            pose_in=None if rec["pose_in"] is None else _mean_code(rec["pose_in"]),
            pose_out=None if rec["pose_out"] is None else _mean_code(rec["pose_out"]),
            image_before=_mean_code(rec.get("img_mid", rec["img_out"])),
            image_after=_mean_code(rec["img_out"]),
        ))
    return view


def _panel_map(m: np.ndarray | None, size: tuple[int, int], under: np.ndarray | None = None) -> Image.Image:
    """A (h, w) map upsampled to ``size`` (H, W): colour-mapped, over ``under`` if given."""
    H, W = size
    if m is None:
        im = Image.new("RGB", (W, H), (40, 40, 40))
        ImageDraw.Draw(im).text((4, H // 2 - 6), "n/a", fill=(200, 200, 200))
        return im
    up = np.asarray(Image.fromarray(_normalise(m).astype(np.float32)).resize((W, H), Image.BILINEAR))
    rgb = colormap(up)
    if under is not None:
        rgb = np.round(0.45 * under + 0.55 * rgb).astype(np.uint8)
    return Image.fromarray(rgb)


def _mark(im: Image.Image, point: tuple[int, int], scale: float) -> Image.Image:
    im = im.copy()
    y, x = (point[0] + 0.5) * scale, (point[1] + 0.5) * scale
    r = max(3, round(im.height / 40))
    d = ImageDraw.Draw(im)
    d.ellipse([x - r, y - r, x + r, y + r], outline=(255, 255, 255), width=max(1, r // 3))
    d.line([x - 2 * r, y, x - r, y], fill=(255, 255, 255))
    d.line([x + r, y, x + 2 * r, y], fill=(255, 255, 255))
    return im


def render(view: AttentionView, condition: np.ndarray, src_keypoints, dst_keypoints, scale: int) -> Image.Image:
    """The figure: ``1 + n_blocks`` rows x ``COLUMNS`` panels, each ``scale`` times the model size,
    each under a ``LABEL_HEIGHT`` px label."""
    H0, W0 = condition.shape[:2]
    H, W = H0 * scale, W0 * scale
    cond = np.asarray(as_image(condition).resize((W, H), Image.BILINEAR))
    up = lambda im: as_image(im).resize((W, H), Image.NEAREST)  # noqa: E731
    top = [up(condition), up(pose_image(src_keypoints, (H0, W0))),
           _mark(up(pose_image(dst_keypoints, (H0, W0))), view.point, scale), _mark(up(view.output), view.point, scale),
           _panel_map(view.image_code, (H, W)), _panel_map(view.pose_code, (H, W))]
    rows = [list(zip(TOP_ROW, top))]
    for b in view.blocks:
        panels = [_mark(_panel_map(b.pose_attention, (H, W), cond), view.point, scale),
                  _mark(_panel_map(b.self_attention, (H, W), cond), view.point, scale),
                  _panel_map(b.pose_in, (H, W)), _panel_map(b.pose_out, (H, W)),
                  _panel_map(b.image_before, (H, W)), _panel_map(b.image_after, (H, W))]
        rows.append(list(zip(BLOCK_ROW, panels)))
    fig = Image.new("RGB", (COLUMNS * W, len(rows) * (H + LABEL_HEIGHT)), (255, 255, 255))
    draw = ImageDraw.Draw(fig)
    for r, row in enumerate(rows):
        y0 = r * (H + LABEL_HEIGHT)
        for c, (label, panel) in enumerate(row):
            text = f"block {r}: {label}" if r and not c else label
            draw.text((c * W + 2, y0 + 1), text, fill=(0, 0, 0))
            fig.paste(panel, (c * W, y0 + LABEL_HEIGHT))
    return fig


def attention_figure(model, image, src_pose, dst_pose, point: tuple[int, int] | None = None,
                     scale: int | None = None, target_frame: str = "auto") -> Image.Image:
    """The Fig. 13-style picture for one transfer (see the module docstring).

    Args:
        model: a :class:`pona.inference.PoNA` holding a PoNA generator.
        image, src_pose, dst_pose: as for :meth:`PoNA.transfer` (any size; fitted like it).
        point: (y, x) target location in the input image's pixels; None picks the target joint
            that moves farthest (:func:`auto_point`).
        scale: panel size / model size (default: the smallest integer making panels >= 256 px high).
        target_frame: the frame of ``dst_pose``, see :meth:`PoNA.fit_poses`.

    Returns:
        PIL image of ``1 + n_blocks`` rows and ``COLUMNS`` panels.
    """
    arr = np.asarray(image.convert("RGB") if isinstance(image, Image.Image) else image)
    src = model.source_pose(arr, src_pose)
    cond, src_kp, fit = model.fit_input(arr, src.keypoints)
    dst_kp = model.fit_poses([dst_pose], arr.shape[:2], fit, target_frame)[0]
    if point is None:
        point = auto_point(src_kp, dst_kp, model.image_size)
    elif fit is not None:
        p = fit.apply(np.array([point], dtype=np.float64))[0]
        if (p == -1).all():
            raise PonaError(f"point (y={point[0]}, x={point[1]}) is outside the person crop of the image")
        point = tuple(int(round(v)) for v in p)
    view = attention_view(model, cond, src_kp, dst_kp, tuple(int(v) for v in point))
    scale = scale or max(1, -(-256 // model.image_size[0]))
    return render(view, cond, src_kp, dst_kp, scale)
