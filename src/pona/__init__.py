"""pona: human pose transfer with PoNA (Pose-guided Non-local Attention, IEEE TIP 2020)."""

from . import pose
from .convert import convert_released_checkpoint
from .inference import PoNA
from .errors import CheckpointError, DataError, PonaError, WeightsNotFoundError
from .models import (
    Discriminator, DiscriminatorConfig, Generator, GeneratorConfig, PATNGenerator, build_generator,
    load_generator, save_generator,
)

__version__ = "0.1.0"

__all__ = [
    "pose", "PoNA", "Generator", "GeneratorConfig", "PATNGenerator", "Discriminator", "DiscriminatorConfig",
    "build_generator", "load_generator", "save_generator", "convert_released_checkpoint",
    "PonaError", "DataError", "CheckpointError", "WeightsNotFoundError",
]
