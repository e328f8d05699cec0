"""The dataset the web app offers people and poses from: one split of a PATN-layout directory.

Safety: a name received from a client is only ever a key of ``DatasetIndex.items``; the index is
built once, at start-up, from the names the image directory lists (``os.scandir``, plain file
names) that also have an annotation row. No path is ever joined from a request.
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from ..data.dataset import load_image
from ..data.layout import find_split, list_images, read_annotations
from ..errors import DataError


@dataclass(frozen=True)
class Item:
    name: str
    path: Path
    keypoints: np.ndarray  # (18, 2) (y, x) in the image's own frame, -1 missing


class DatasetIndex:
    """The images of ``split`` under ``root`` that have an annotation row, in annotation order."""

    def __init__(self, root: str | os.PathLike, split: str = "test"):
        self.split = find_split(root, split)
        annotations = read_annotations(self.split.annotations)
        on_disk = set(list_images(self.split.images))
        self.items = {n: Item(n, self.split.images / n, kp) for n, kp in annotations.items() if n in on_disk}
        if not self.items:
            raise DataError(f"{self.split.annotations}: none of its {len(annotations)} images is in {self.split.images}")
        self._sizes: dict[str, tuple[int, int]] = {}
        self._lock = threading.Lock()

    @property
    def names(self) -> list[str]:
        return list(self.items)

    def __len__(self) -> int:
        return len(self.items)

    def get(self, name: str) -> Item:
        """The item called ``name``; KeyError when the index has no such name."""
        return self.items[name]

    def image(self, name: str) -> np.ndarray:
        """(H, W, 3) uint8 of the item called ``name``."""
        return load_image(self.items[name].path)

    def size(self, name: str) -> tuple[int, int]:
        """(H, W) of an image, read from its header once and cached."""
        with self._lock:
            if name in self._sizes:
                return self._sizes[name]
        path = self.items[name].path
        try:
            with Image.open(path) as im:
                size = (im.height, im.width)
        except OSError as e:
            raise DataError(f"{path}: cannot read image: {e}") from None
        with self._lock:
            self._sizes[name] = size
        return size
