"""Import the authors' released PoNA generator (``latest_net_netG.pth``, ``test1_net_netG.pth``).

The released state dict's keys all start with ``model.``; this module renames them to ours (key
map only, no arithmetic), infers the architecture from the tensors, drops the instance-norm running
statistics that PyTorch < 0.4 saved, and loads strictly.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch
from torch import nn

from .data.layout import SIZES
from .errors import CheckpointError
from .models.attention import GATES
from .models.config import GeneratorConfig
from .models.generator import Generator
from .models.io import load_strict, save_generator

# (released pattern, our replacement), applied to keys with the "model." prefix removed.
KEY_MAP = (
    (r"^stream1_down\.", "image_encoder."),
    (r"^stream2_down\.", "pose_encoder."),
    (r"^stream1_up\.", "decoder."),
    (r"^att\.(\d+)\.att2\.(query|key|value)_conv\.", r"blocks.\1.self_attn.\2."),
    (rf"^att\.(\d+)\.att2\.({'|'.join(GATES)})$", r"blocks.\1.self_attn.\2"),  # \2 kept: the released gates bear our names
    (r"^att\.(\d+)\.dconv\.conv\.", r"blocks.\1.fuse_conv."),
    (r"^att\.(\d+)\.dconv2\.conv\.", r"blocks.\1.pose_conv."),
    (r"^att\.(\d+)\.conv\.conv\.", r"blocks.\1.image_conv1."),
    (r"^att\.(\d+)\.conv2\.conv\.", r"blocks.\1.image_conv2."),
    (r"^att\.(\d+)\.(query|key|value)_conv\.", r"blocks.\1.cross_attn.\2."),
    (r"^att\.(\d+)\.gamma$", r"blocks.\1.cross_attn.gamma"),
)
RUNNING_STATS = ("running_mean", "running_var", "num_batches_tracked")
# The resolution each released model was trained at, told apart by the outer norm.
RELEASED_SIZES = {"instance": SIZES["fashion"], "batch": SIZES["market"]}


def rename_key(key: str) -> str:
    for pattern, repl in KEY_MAP:
        new, n = re.subn(pattern, repl, key)
        if n:
            return new
    raise CheckpointError(f"unknown key in released checkpoint: model.{key}")


def _strip_prefix(state_dict: dict) -> dict:
    out, foreign = {}, []
    for key, value in state_dict.items():
        k = key[len("module."):] if key.startswith("module.") else key  # saved from DataParallel
        if not k.startswith("model."):
            foreign.append(key)
            continue
        out[k[len("model."):]] = value
    if foreign:
        raise CheckpointError(f"not a released PoNA generator: keys without the 'model.' prefix: {foreign[:10]}")
    return out


def infer_config(released: dict, image_size: tuple[int, int] | None = None) -> GeneratorConfig:
    """Architecture from tensor shapes: ngf, number of blocks, outer norm, self-attention present."""
    try:
        ngf = released["stream1_down.1.weight"].shape[0]
    except KeyError:
        raise CheckpointError("released checkpoint lacks model.stream1_down.1.weight (the image encoder's first conv)") from None
    norm = "batch" if "stream1_down.2.weight" in released else "instance"
    blocks = {int(m.group(1)) for k in released if (m := re.match(r"att\.(\d+)\.", k))}
    if not blocks:
        raise CheckpointError("released checkpoint has no PoNA blocks (model.att.*)")
    return GeneratorConfig(
        ngf=ngf, n_blocks=max(blocks) + 1, norm=norm,
        self_attention=any(".att2." in k for k in released),
        image_size=image_size or RELEASED_SIZES[norm],
    )


def released_to_ours(state_dict: dict, model: nn.Module) -> dict:
    """Rename released keys; drop running statistics where our layer is an instance norm."""
    modules = dict(model.named_modules())
    out = {}
    for key, value in state_dict.items():
        new = rename_key(key)
        parent, _, leaf = new.rpartition(".")
        if leaf in RUNNING_STATS and isinstance(modules.get(parent), nn.InstanceNorm2d):
            continue  # PyTorch < 0.4 tracked statistics in instance norm; they were never used
        out[new] = value
    return out


def load_released_state_dict(path: str | os.PathLike, trust_pickle: bool = False) -> dict:
    """Read a released ``.pth``. Tensors only unless ``trust_pickle`` (old pickles may need it)."""
    try:
        sd = torch.load(path, map_location="cpu", weights_only=not trust_pickle)
    except FileNotFoundError:
        raise CheckpointError(f"released checkpoint {path} does not exist") from None
    except Exception as e:
        hint = "" if trust_pickle else " If you trust the file, retry with --trust-pickle (it may run code)."
        raise CheckpointError(f"{path}: cannot read as a tensor-only state dict: {e}.{hint}") from e
    if not isinstance(sd, dict):
        raise CheckpointError(f"{path}: expected a state dict, got {type(sd).__name__}")
    return sd


def convert_released_checkpoint(
    path_or_state_dict, out_path: str | os.PathLike | None = None,
    image_size: tuple[int, int] | None = None, trust_pickle: bool = False,
) -> Generator:
    """Build our Generator from a released PoNA state dict (path or dict); save it if ``out_path``.

    The architecture (ngf, blocks, outer norm) is inferred from the tensors; ``image_size``
    defaults to the released model's (256x176 with instance norm, 128x64 with batch norm).
    Unknown or missing keys raise a CheckpointError that lists them.
    """
    if isinstance(path_or_state_dict, (str, os.PathLike)):
        state_dict = load_released_state_dict(path_or_state_dict, trust_pickle)
        source = str(path_or_state_dict)
    else:
        state_dict, source = path_or_state_dict, "released state dict"
    released = _strip_prefix(state_dict)
    model = Generator(infer_config(released, image_size))
    ours = released_to_ours(released, model)
    load_strict(model, {k: v.float() if v.is_floating_point() else v for k, v in ours.items()}, source)
    model.eval()
    if out_path is not None:
        save_generator(model, Path(out_path), metadata={"converted_from": Path(source).name})
    return model
