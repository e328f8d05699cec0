"""The image pool of past fakes (Shrivastava et al. 2017, as in CycleGAN/PATN): the discriminators
see a mix of the current generator's fakes and older ones, which damps oscillation.

Per image of the batch: while the pool is filling, store it and return it; once full, with
probability 1/2 return a random stored image and put the new one in its place, else return the
new one. Its random choices use its own generator, so its state is saved and restored exactly.
"""

from __future__ import annotations

import torch
from torch import Tensor


class ImagePool:
    def __init__(self, size: int, seed: int = 0):
        self.size = size
        self.images: list[Tensor] = []
        self.generator = torch.Generator().manual_seed(seed)

    def query(self, images: Tensor) -> Tensor:
        """(B, C, H, W) fakes (detached) -> (B, C, H, W) mix of these and stored ones."""
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() < 0.5:
                i = int(torch.randint(len(self.images), (), generator=self.generator))
                out.append(self.images[i].clone())
                self.images[i] = image.clone()
            else:
                out.append(image)
        return torch.stack(out)

    def state_dict(self) -> dict:
        return {"size": self.size, "images": [im.cpu() for im in self.images],
                "generator": self.generator.get_state()}

    def load_state_dict(self, state: dict, device: torch.device | str = "cpu") -> None:
        self.size = state["size"]
        self.images = [im.to(device) for im in state["images"]]
        self.generator.set_state(state["generator"])
