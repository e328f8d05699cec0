"""Errors pona raises on purpose. The CLI prints them as one line and exits with status 2."""


class PonaError(Exception):
    """Base class: a problem with the user's input, files or environment, with its fix."""


class DataError(PonaError):
    """A dataset, annotation or pose file is malformed; the message names file:line."""


class CheckpointError(PonaError):
    """A checkpoint cannot be read or does not match the model."""


class WeightsNotFoundError(PonaError):
    """Pretrained weights (VGG, Inception, ...) are needed but not available offline."""


class MissingExtraError(PonaError):
    """An optional dependency is not installed; the message gives the pip command."""
