"""Writing animations: animated GIF with Pillow (always available), MP4 with OpenCV when installed."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import MissingExtraError, PonaError
from ..fileio import atomic_path

FORMATS = (".gif", ".mp4")


def mp4_available() -> bool:
    """True when OpenCV (``cv2``, part of the ``pose`` extra) can be imported to encode MP4."""
    try:
        import cv2  # noqa: F401
    except ImportError:
        return False
    return True


def write_gif(frames: list[Image.Image], path: Path, fps: float) -> None:
    # Pillow quantises each frame to its own 256-colour palette; loop=0 = loop forever.
    # Pillow merges identical consecutive frames into one longer frame (same playback).
    duration = round(1000 / fps)
    frames[0].save(path, format="GIF", save_all=True, append_images=frames[1:], duration=duration, loop=0)


def write_mp4(frames: list[Image.Image], path: Path, fps: float) -> None:
    """MPEG-4 part 2 (``mp4v``), the codec OpenCV's wheels can always encode; sizes padded to even."""
    import cv2

    w, h = frames[0].size
    W, H = w + w % 2, h + h % 2
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), float(fps), (W, H))
    if not writer.isOpened():
        raise PonaError(f"{path}: OpenCV could not open an MP4 writer (mp4v); write a .gif instead")
    try:
        for frame in frames:
            rgb = np.zeros((H, W, 3), np.uint8)
            rgb[:h, :w] = np.asarray(frame.convert("RGB"))
            writer.write(rgb[:, :, ::-1].copy())  # OpenCV wants BGR
    finally:
        writer.release()


def write_animation(frames: list[Image.Image], path: str | os.PathLike, fps: float = 8.0) -> Path:
    """Write ``frames`` (PIL images of one size) to ``path`` (.gif or .mp4), atomically."""
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in FORMATS:
        raise PonaError(f"{path}: unknown animation format {suffix!r}; use one of {FORMATS}")
    if not frames:
        raise PonaError(f"{path}: no frames to write")
    if fps <= 0:
        raise PonaError(f"fps must be > 0, got {fps}")
    if len({f.size for f in frames}) != 1:
        raise PonaError(f"{path}: frames have different sizes {sorted({f.size for f in frames})}")
    if suffix == ".mp4" and not mp4_available():
        raise MissingExtraError(
            f"{path}: writing MP4 needs OpenCV, which is not installed "
            "(pip install opencv-python-headless, or the pose extra); a .gif needs nothing")
    with atomic_path(path) as tmp:
        # The temporary file ends in .tmp: OpenCV picks the container from the name, so give it one.
        if suffix == ".mp4":
            tmp_mp4 = tmp.with_suffix(".tmp.mp4")
            try:
                write_mp4(frames, tmp_mp4, fps)
                os.replace(tmp_mp4, tmp)
            finally:
                if tmp_mp4.exists():
                    tmp_mp4.unlink()
        else:
            write_gif(frames, tmp, fps)
    return path
