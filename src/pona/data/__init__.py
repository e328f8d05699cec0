"""Data: the PATN dataset layout, pairs of images with poses, synthetic people, the user's photos."""

from .dataset import PairDataset, load_image, to_tensor, to_uint8
from .layout import Split, find_split, read_annotations, read_pairs, write_annotations, write_pairs
from .validate import InvalidDatasetError, Problem, Report, check_dataset, validate

__all__ = [
    "PairDataset", "Split", "find_split", "read_annotations", "read_pairs", "write_annotations",
    "write_pairs", "load_image", "to_tensor", "to_uint8",
    "validate", "check_dataset", "Report", "Problem", "InvalidDatasetError",
]
