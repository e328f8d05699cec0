"""pona: human pose transfer with PoNA (Pose-guided Non-local Attention, IEEE TIP 2020)."""

import importlib

from .errors import CheckpointError, DataError, PonaError, WeightsNotFoundError

__version__ = "0.1.0"

# The public names below load on first use (PEP 562), so that ``import pona.pose`` or
# ``from pona.errors import ...`` does not import the generator and inference stack. Measured
# reason: an eager ``from .inference import PoNA`` made ``import pona.pose`` load 33 pona modules
# (models, data, metrics, inference), scikit-image and scipy instead of 3 (0.4 s on top of torch).
_LAZY = {
    "pose": ".pose",
    "PoNA": ".inference",
    "convert_released_checkpoint": ".convert",
    **{name: ".models" for name in (
        "Discriminator", "DiscriminatorConfig", "Generator", "GeneratorConfig", "PATNGenerator",
        "build_generator", "load_generator", "save_generator",
    )},
}

__all__ = [
    "pose", "PoNA", "Generator", "GeneratorConfig", "PATNGenerator", "Discriminator", "DiscriminatorConfig",
    "build_generator", "load_generator", "save_generator", "convert_released_checkpoint",
    "PonaError", "DataError", "CheckpointError", "WeightsNotFoundError",
]


def __getattr__(name: str):
    if name in _LAZY:
        module = importlib.import_module(_LAZY[name], __name__)
        value = module if name == "pose" else getattr(module, name)
    elif name.startswith("__"):
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    else:
        # a subpackage not imported yet (``pona.models`` after a bare ``import pona``), as before
        try:
            value = importlib.import_module(f".{name}", __name__)
        except ModuleNotFoundError as e:
            if e.name != f"{__name__}.{name}":
                raise
            raise AttributeError(f"module {__name__!r} has no attribute {name!r}") from None
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(__all__))
