"""TrainConfig: everything a training run needs, as frozen dataclasses, loaded from YAML presets.

A config is built in three layers, each checked once here:

1. the dataclass defaults below;
2. a preset (``src/pona/configs/<name>.yaml``, shipped with the package) or a YAML file of the
   same shape: sections ``model``, ``discriminator``, ``loss``, ``optim``, ``data``, ``run``;
3. command-line overrides ``section.key=value`` (``model.ngf=32``, ``optim.batch_size=8``).

An unknown section or key is an error (with the valid keys), and so is a value of the wrong type;
ints are accepted where floats are expected, nothing else is converted silently.
"""

from __future__ import annotations

import difflib
import math
import os
import types
import typing
from dataclasses import asdict, dataclass, field, fields, replace
from importlib import resources
from pathlib import Path

import yaml

from ..errors import PonaError
from ..models.config import DiscriminatorConfig, GeneratorConfig
from .losses import GAN_MODES


class ConfigError(PonaError):
    """A training config, preset or override is invalid; the message names the key and the fix."""


# run.amp: "none" (= "fp32") | "bf16" | "fp16" autocast | "auto" (bf16 where native, see pona.precision)
AMP_MODES = ("auto", "none", "fp32", "bf16", "fp16")


# Keys of a section's dataclass that the trainer sets, not the config: ``discriminator`` is the
# models' DiscriminatorConfig, one spec for both discriminators, which differ in their input channels
# (appearance D_A 6, pose D_P 21) and take ``model.norm`` (as released).
TRAINER_SET = {DiscriminatorConfig: ("in_channels", "norm")}


@dataclass(frozen=True)
class LossSection:
    """Eq. (8): lambda_gan * L_CGAN + lambda_l1 * L_L1 + lambda_perceptual * L_percep."""

    gan_mode: str = "lsgan"          # "vanilla" (BCE on logits, Market) | "lsgan" (DeepFashion)
    lambda_gan: float = 5.0
    lambda_l1: float = 1.0
    lambda_perceptual: float = 1.0   # 0 = no perceptual term, no VGG-19 weights needed
    # Iterations of L1 (+ perceptual) only before the adversarial term starts: the discriminators
    # are neither run nor trained until then (0 = the paper: GAN from the first iteration).
    gan_start: int = 0
    vgg_weights: str | None = None   # path to torchvision's vgg19-dcbb9e9d.pth
    vgg_weights_dir: str | None = None  # or a directory holding it (else: torch hub cache, download)
    vgg_download: bool = True        # try torchvision's URL when the file is nowhere local

    def __post_init__(self):
        if self.gan_mode not in GAN_MODES:
            raise ConfigError(f"loss.gan_mode must be one of {GAN_MODES}, got {self.gan_mode!r}")
        if min(self.lambda_gan, self.lambda_l1, self.lambda_perceptual) < 0:
            raise ConfigError("loss.lambda_* must be >= 0")
        if self.gan_start < 0:
            raise ConfigError(f"loss.gan_start must be >= 0, got {self.gan_start}")


@dataclass(frozen=True)
class OptimSection:
    """Adam for G, D_A and D_P; lr constant for ``constant_iterations``, then linear to 0 over
    ``decay_iterations`` (the paper's 500 + 200 "epochs" of 4000 pairs, counted in iterations)."""

    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    batch_size: int = 7              # per process
    constant_iterations: int = 286_000
    decay_iterations: int = 114_400
    pool_size: int = 0               # image pool of past fakes for the Ds (CycleGAN-style); 0 = off
    # Learning-rate multiplier for the generator's attention gates (gamma, beta), which start at 0.
    # 1 = the paper. Adam moves a parameter by about lr per step at most, so at lr 2e-4 the gates
    # need thousands of iterations before pose-guided attention shapes the output; the CPU-sized
    # synthetic presets raise it so that pose transfer starts within minutes.
    gate_lr_mult: float = 1.0
    # Exponential moving average of the generator's weights, by its half-life in iterations (0 = off,
    # the paper). When on, the averaged generator is the one validated and exported
    # (generator*.safetensors); the training state keeps both. The half-life ramps up with training
    # (at most EMA_RAMPUP x the iterations so far) so that the average forgets the random start.
    ema_half_life: float = 0.0
    # Decay to a wall-clock budget: with one (`pona train --max-minutes`, `pona demo`), the last
    # `time_decay` fraction of it takes the learning rate linearly to 0 (on top of the iteration
    # schedule), so a run cut by time ends annealed, as an iteration schedule would end it, on any
    # CPU. 0 = off (the paper: iterations only). Not bit-reproducible: it reads the clock.
    time_decay: float = 0.0

    def __post_init__(self):
        if not 0 <= self.time_decay <= 1:
            raise ConfigError(f"optim.time_decay must be in [0, 1], got {self.time_decay}")
        if self.ema_half_life < 0:
            raise ConfigError(f"optim.ema_half_life must be >= 0, got {self.ema_half_life}")
        if self.gate_lr_mult <= 0:
            raise ConfigError(f"optim.gate_lr_mult must be > 0, got {self.gate_lr_mult}")
        if self.lr <= 0 or not (0 <= self.beta1 < 1 and 0 <= self.beta2 < 1):
            raise ConfigError(f"optim: invalid lr/betas {self.lr}, ({self.beta1}, {self.beta2})")
        if self.batch_size < 1 or self.pool_size < 0:
            raise ConfigError("optim.batch_size must be >= 1 and optim.pool_size >= 0")
        if self.constant_iterations < 0 or self.decay_iterations < 0 or self.total_iterations < 1:
            raise ConfigError("optim.constant_iterations + optim.decay_iterations must be >= 1 (each >= 0)")

    @property
    def total_iterations(self) -> int:
        return self.constant_iterations + self.decay_iterations


@dataclass(frozen=True)
class DataSection:
    root: str | None = None          # dataset directory (PATN layout); `pona train --data DIR`
    flip: bool = False               # mirror pairs (left/right joints swapped); released: off
    sigma: float = 6.0               # heat-map width in pixels
    num_workers: int = 1             # DataLoader worker processes
    validate: bool = True            # run the dataset checks before training

    def __post_init__(self):
        if self.sigma <= 0 or self.num_workers < 0:
            raise ConfigError("data.sigma must be > 0 and data.num_workers >= 0")


@dataclass(frozen=True)
class RunSection:
    seed: int = 0
    device: str = "auto"             # "auto" (cuda if available), "cpu", "cuda", "cuda:1", ...
    log_every: int = 50              # metrics.jsonl line, TensorBoard scalars, progress bar postfix
    val_every: int = 1000            # PNG grid + SSIM/PSNR on held-out pairs (0 = never)
    val_pairs: int = 32              # held-out test pairs for SSIM/PSNR
    grid_pairs: int = 4              # rows of the PNG grid
    checkpoint_every: int = 1000     # training state + generator.safetensors (and at the end)
    keep_last: int = 3               # training-state files kept (plus the best one)
    max_bad_steps: int = 5           # consecutive non-finite iterations before the run stops
    amp: str = "none"                # autocast: "none" (fp32) | "bf16" | "fp16" (CUDA) | "auto" (pona.precision)
    channels_last: bool | str = False  # true | false | "auto" (the device's best layout for run.amp)
    compile: bool = False            # torch.compile the three networks
    recompute_blocks: bool = False   # PoNA blocks rerun in the backward pass: less memory, ~1/4 more time
    sync_batchnorm: bool = False     # SyncBatchNorm across processes (CUDA, batch norm only)
    progress: bool = True            # tqdm bar on rank 0
    tensorboard: bool = True         # scalars under tensorboard/ when tensorboard is installed

    def __post_init__(self):
        if self.amp not in AMP_MODES:
            raise ConfigError(f"run.amp must be one of {AMP_MODES}, got {self.amp!r}")
        if self.channels_last not in (True, False, "auto"):
            raise ConfigError(f"run.channels_last must be true, false or auto, got {self.channels_last!r}")
        for name in ("log_every", "checkpoint_every", "keep_last", "max_bad_steps"):
            if getattr(self, name) < 1:
                raise ConfigError(f"run.{name} must be >= 1, got {getattr(self, name)}")
        if min(self.val_every, self.val_pairs, self.grid_pairs) < 0:
            raise ConfigError("run.val_every, run.val_pairs and run.grid_pairs must be >= 0")


@dataclass(frozen=True)
class TrainConfig:
    """The whole training run. Defaults are the paper's DeepFashion setting (see the ``fashion`` preset)."""

    model: GeneratorConfig = field(default_factory=GeneratorConfig)
    discriminator: DiscriminatorConfig = field(default_factory=DiscriminatorConfig)
    loss: LossSection = field(default_factory=LossSection)
    optim: OptimSection = field(default_factory=OptimSection)
    data: DataSection = field(default_factory=DataSection)
    run: RunSection = field(default_factory=RunSection)

    def __post_init__(self):
        # checks across sections live here, not in the trainer, so that `pona train --print-config`
        # refuses exactly the configs training would (those needing the machine or data stay there)
        if self.run.recompute_blocks and self.model.arch != "pona":
            raise ConfigError(f"run.recompute_blocks applies to the PoNA generator, not model.arch={self.model.arch}")

    def to_dict(self) -> dict:
        d = asdict(self)
        d["model"] = self.model.to_dict()
        for name, values in d.items():
            for key in TRAINER_SET.get(type(getattr(self, name)), ()):
                del values[key]
        return d

    def to_yaml(self) -> str:
        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    def override(self, *assignments: str) -> "TrainConfig":
        """A copy with ``section.key=value`` assignments applied (values parsed as YAML scalars)."""
        return apply_overrides(self, assignments)


SECTIONS = {f.name: f for f in fields(TrainConfig)}


# -- building a config from nested dicts, with type checks --------------------------------------

def _section_types(cls) -> dict[str, object]:
    """The keys a config may set in a section of type ``cls``, with their annotations."""
    return {k: tp for k, tp in typing.get_type_hints(cls).items() if k not in TRAINER_SET.get(cls, ())}


def _unknown(key, valid, where: str) -> ConfigError:
    """``key`` may be any YAML key: None (``?``), a number, a date, ..."""
    close = difflib.get_close_matches(key, list(valid), n=1) if isinstance(key, str) else []
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return ConfigError(f"{where}: unknown key {key!r}{hint} (valid: {', '.join(valid)})")


def _coerce(value, tp, key: str, where: str, from_text: bool):
    """Check ``value`` against the annotation ``tp``; from_text: value is the raw override string."""
    origin = typing.get_origin(tp)
    if origin in (typing.Union, types.UnionType):  # "X | None", or "bool | str" (true, false or a word)
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(args) < len(typing.get_args(tp)) and (
                value is None or (from_text and str(value).strip().lower() in ("null", "none", "~", ""))):
            return None
        if len(args) == 1:
            return _coerce(value, args[0], key, where, from_text)
        for a in args:
            try:
                return _coerce(value, a, key, where, from_text)
            except ConfigError:
                pass
        names = " or ".join(getattr(a, "__name__", str(a)) for a in args)
        raise ConfigError(f"{where}: {key} must be {names}, got {value!r}")
    if from_text and tp is not str:
        text = value
        try:
            value = yaml.safe_load(text)
        except (yaml.YAMLError, ValueError, RecursionError):  # not YAML (a control character, 5000 digits, ...)
            value = text  # judged as the raw string below: "must be int, got '...'"
        if tp is float and isinstance(value, str):  # YAML 1.1 reads "2e-4" as a string
            try:
                value = float(text)
            except ValueError:
                pass
    bad = ConfigError(f"{where}: {key} must be {getattr(tp, '__name__', tp)}, got {value!r}")
    if tp is bool:
        if not isinstance(value, bool):
            raise bad
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise bad
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise bad
        if not math.isfinite(value):  # nan slips through every "<= 0" check below and trains to nan
            raise ConfigError(f"{where}: {key} must be a finite number, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise bad
        return value
    if origin is tuple:  # (height, width): [128, 64] or "128x64"
        if isinstance(value, str) and "x" in value.lower():
            try:
                value = [int(v) for v in value.lower().split("x")]
            except ValueError:
                raise bad from None
        if not isinstance(value, (list, tuple)) or len(value) != 2 or not all(
                isinstance(v, int) and not isinstance(v, bool) for v in value):
            raise ConfigError(f"{where}: {key} must be [height, width] or HxW, got {value!r}")
        return tuple(value)
    raise ConfigError(f"{where}: {key}: unsupported type {tp}")  # pragma: no cover


def _build_section(cls, values: dict, where: str, base=None):
    types_ = _section_types(cls)
    out = {}
    for key, value in values.items():
        if key not in types_:
            raise _unknown(key, list(types_), where)
        out[key] = _coerce(value, types_[key], key, where, False)
    try:
        return replace(base, **out) if base is not None else cls(**out)
    except (ValueError, TypeError) as e:
        raise ConfigError(f"{where}: {e}") from None


def from_dict(d: dict, where: str = "config", base: TrainConfig | None = None) -> TrainConfig:
    """A TrainConfig from nested dicts ``{section: {key: value}}``, over ``base`` (default: defaults)."""
    base = base or TrainConfig()
    if d is None:
        return base
    if not isinstance(d, dict):
        raise ConfigError(f"{where}: expected a mapping of sections {list(SECTIONS)}, got {type(d).__name__}")
    sections = {}
    for name, values in d.items():
        if name not in SECTIONS:
            raise _unknown(name, list(SECTIONS), where)
        if not isinstance(values, dict):
            raise ConfigError(f"{where}: section {name!r} must be a mapping of key: value")
        current = getattr(base, name)
        sections[name] = _build_section(type(current), values, f"{where}: {name}", base=current)
    return replace(base, **sections)


def apply_overrides(config: TrainConfig, assignments) -> TrainConfig:
    """Apply ``section.key=value`` strings, in order; the value is read as a YAML scalar."""
    for a in assignments:
        if "=" not in a:
            raise ConfigError(f"override {a!r}: expected section.key=value, e.g. model.ngf=32")
        path, text = a.split("=", 1)
        parts = path.strip().split(".")
        if len(parts) != 2:
            raise ConfigError(f"override {a!r}: the key must be section.key (sections: {', '.join(SECTIONS)})")
        name, key = parts
        if name not in SECTIONS:
            raise _unknown(name, list(SECTIONS), f"override {a!r}")
        current = getattr(config, name)
        types_ = _section_types(type(current))
        if key not in types_:
            raise _unknown(key, list(types_), f"override {a!r}")
        value = _coerce(text, types_[key], f"{name}.{key}", f"override {a!r}", True)
        try:
            config = replace(config, **{name: replace(current, **{key: value})})
        except (ValueError, TypeError) as e:
            raise ConfigError(f"override {a!r}: {e}") from None
    return config


# -- presets and files ------------------------------------------------------------------------

def preset_names() -> list[str]:
    return sorted(p.name[:-5] for p in resources.files("pona").joinpath("configs").iterdir() if p.name.endswith(".yaml"))


def read_yaml(path: str | os.PathLike) -> dict:
    try:
        with open(path, encoding="utf-8") as f:
            d = yaml.safe_load(f)
    except yaml.YAMLError as e:
        raise ConfigError(f"{path}: not valid YAML: {e}") from None
    except UnicodeDecodeError as e:
        raise ConfigError(f"{path}: not a UTF-8 text file (byte {e.object[e.start]:#04x} at offset {e.start}); "
                          "expected a YAML config") from None
    except OSError as e:
        raise ConfigError(f"{path}: cannot read ({e.strerror or e})") from None
    except RecursionError:
        raise ConfigError(f"{path}: YAML nested too deeply to be a config") from None
    except ValueError as e:  # an integer of thousands of digits (Python's int parsing limit)
        raise ConfigError(f"{path}: a number in the YAML is too long ({str(e).split(';')[0]})") from None
    if d is None:  # not the paper's defaults in silence: a config names at least its base
        raise ConfigError(f"{path}: empty; a config starts from a preset (e.g. base: synth-market) and states what differs")
    return d


def load_config(name_or_path: str | os.PathLike, overrides=()) -> TrainConfig:
    """A preset name (``synth-market``) or a YAML path, then ``section.key=value`` overrides.

    A file may start from another with ``base: NAME`` (a preset, or a YAML path relative to the
    file) and then state only what differs; bases may have bases.
    """
    return apply_overrides(_load(str(name_or_path), ()), overrides)


def _load(text: str, chain: tuple[str, ...], relative_to: Path | None = None) -> TrainConfig:
    if text.endswith((".yaml", ".yml")) or os.sep in text or Path(text).is_file():
        path = Path(text)
        if relative_to is not None and not path.is_absolute():
            path = relative_to / path
        if not path.is_file():
            raise ConfigError(f"config file {path} does not exist")
        key, where, d, folder = str(path.resolve()), str(path), read_yaml(path), path.parent
    else:
        resource = resources.files("pona").joinpath("configs", f"{text}.yaml")
        if not resource.is_file():
            raise ConfigError(f"unknown preset {text!r}; presets: {', '.join(preset_names())} (or a YAML file path)")
        with resources.as_file(resource) as path:
            key, where, d, folder = f"preset {text}", f"preset {text}", read_yaml(path), None
    if key in chain:
        raise ConfigError(f"{where}: its 'base' chain comes back to itself ({' -> '.join((*chain, key))})")
    base = None
    if isinstance(d, dict) and "base" in d:
        d = dict(d)
        name = d.pop("base")
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{where}: 'base' must be a preset name or a YAML file path, got {name!r}")
        base = _load(name, (*chain, key), folder)
    return from_dict(d, where, base=base)
