"""Person re-identification with generated training images: the paper's Sec. IV-D / Table VI.

- :mod:`.market`: Market-1501 names and layout, the portion selection;
- :mod:`.augment`: reduced and augmented training sets, generated with a PoNA checkpoint;
- :mod:`.models`: ResNet-18/50 (torchvision names) and a small CNN, with an identity classifier;
- :mod:`.train`: the classifier's training loop; :mod:`.evaluate`: mAP and CMC on query/gallery.
"""

from .augment import AugmentResult, augment_market, read_manifest
from .evaluate import average_precision, distance_matrix, evaluate_market, evaluate_ranking, extract_features
from .market import (
    MarketName, Replacement, format_market_name, group_by_identity, kept_count, parse_market_name,
    read_market_folder, select_portion,
)
from .models import ReIDConfig, ReIDNet, ResNet, SmallCNN, build_reid_model, load_reid, save_reid
from .train import ReIDImages, ReIDTrainConfig, train_reid

__all__ = [
    "AugmentResult", "augment_market", "read_manifest", "average_precision", "distance_matrix",
    "evaluate_market", "evaluate_ranking", "extract_features", "MarketName", "Replacement",
    "format_market_name", "group_by_identity", "kept_count", "parse_market_name", "read_market_folder",
    "select_portion", "ReIDConfig", "ReIDNet", "ResNet", "SmallCNN", "build_reid_model", "load_reid",
    "save_reid", "ReIDImages", "ReIDTrainConfig", "train_reid",
]
