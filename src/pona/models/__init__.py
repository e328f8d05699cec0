"""Networks: the PoNA generator, the PATN baseline, the discriminators, VGG-19 features."""

from .attention import PoseAttention, SelfAttention
from .config import DiscriminatorConfig, GeneratorConfig
from .discriminator import Discriminator, appearance_discriminator, pose_discriminator
from .generator import Generator, PoNABlock
from .io import load_generator, save_generator
from .patn import PATNGenerator

GENERATORS = {"pona": Generator, "patn": PATNGenerator}


def build_generator(config: GeneratorConfig):
    """A freshly initialised generator of ``config.arch``."""
    return GENERATORS[config.arch](config)


__all__ = [
    "GENERATORS", "build_generator", "Generator", "PoNABlock", "PATNGenerator", "Discriminator",
    "GeneratorConfig", "DiscriminatorConfig", "SelfAttention", "PoseAttention",
    "appearance_discriminator", "pose_discriminator", "load_generator", "save_generator",
]
