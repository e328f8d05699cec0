"""Model specifications: frozen dataclasses of scalars, checked once on construction."""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields

ARCHS = ("pona", "patn")
NORMS = ("instance", "batch")
FUSIONS = ("head", "middle", "tail", "none")


def _check_choice(name: str, value, choices) -> None:
    if value not in choices:
        raise ValueError(f"{name} must be one of {choices}, got {value!r}")


class StoredConfig:
    """``to_dict`` / ``from_dict`` of a config dataclass kept as JSON in a checkpoint's header.

    JSON has no tuples: a tuple field ((height, width)) is written as a list and read back as a tuple.
    """

    what = "model"  # the model's name in the unknown-keys error

    def to_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @classmethod
    def from_dict(cls, d: dict):
        known = fields(cls)
        unknown = set(d) - {f.name for f in known}
        if unknown:
            raise ValueError(f"unknown {cls.what} config keys: {sorted(unknown)}")
        tuples = {f.name for f in known if isinstance(f.default, tuple)}
        return cls(**{k: tuple(v) if k in tuples else v for k, v in d.items()})


@dataclass(frozen=True)
class GeneratorConfig(StoredConfig):
    """Everything needed to rebuild a generator; stored inside every checkpoint.

    Defaults are the paper's DeepFashion model (3 PoNA blocks, instance norm, 256x176).
    """

    what = "generator"

    arch: str = "pona"          # "pona", or "patn" (the PATN baseline, 9 blocks in its paper)
    n_blocks: int = 3           # PoNA blocks (paper: 3; Table III: 1-5)
    ngf: int = 64               # width of the first encoder conv; blocks work at 4 * ngf
    norm: str = "instance"      # outer norm (encoders, decoder): "instance" (DeepFashion) | "batch" (Market)
    fusion: str = "head"        # where image and pose codes are fused (Table V): head|middle|tail|none
    cross_attention: bool = True  # pose-guided non-local attention; False = Table IV "w/o Cro."
    self_attention: bool = True   # self-attention on the fusion code; False = Table IV "w/o Self."
    dropout: float = 0.5        # dropout inside the blocks' double convs, as released
    image_size: tuple[int, int] = (256, 176)  # (height, width) the model was trained at

    def __post_init__(self):
        _check_choice("arch", self.arch, ARCHS)
        _check_choice("norm", self.norm, NORMS)
        _check_choice("fusion", self.fusion, FUSIONS)
        max_blocks = 5 if self.arch == "pona" else 32
        if not 1 <= self.n_blocks <= max_blocks:
            raise ValueError(f"n_blocks must be in 1..{max_blocks} for {self.arch}, got {self.n_blocks}")
        if self.ngf < 8 or self.ngf % 8:
            raise ValueError(f"ngf must be a positive multiple of 8, got {self.ngf}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
        h, w = self.image_size
        if h % 4 or w % 4:
            raise ValueError(f"image_size must be divisible by 4 (two stride-2 convs), got {self.image_size}")
        object.__setattr__(self, "image_size", (int(h), int(w)))


@dataclass(frozen=True)
class DiscriminatorConfig:
    """PATN-style residual discriminator with spectral norm (the released PoNA D)."""

    in_channels: int = 6        # appearance D: image + condition image (6); pose D: image + maps (21)
    ndf: int = 64
    n_blocks: int = 3           # residual blocks after down-sampling (released: 3)
    norm: str = "instance"
    dropout: float = 0.5
    self_attention: bool = False  # the paper's text mentions it; the released code has none

    def __post_init__(self):
        _check_choice("norm", self.norm, NORMS)
        for name in ("in_channels", "ndf"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.n_blocks < 0:
            raise ValueError(f"n_blocks must be >= 0, got {self.n_blocks}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"dropout must be in [0, 1), got {self.dropout}")
