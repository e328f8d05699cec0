"""Procedural synthetic people with exact keypoints, deterministic from a seed, in the PATN layout.

    person = sample_identity(np.random.default_rng([seed, identity]), "market", identity)
    pose = sample_pose(np.random.default_rng([seed, identity, pose_index]), "market")
    image, keypoints = render(person, pose, (128, 64), background=(0.9, 0.9, 0.9))
    write_dataset("data/synth", "market", n_train_ids=100, n_test_ids=20, poses_per_id=6, seed=0)

Modules: ``identity`` (appearance), ``posing`` (skeleton, pose prior, sequences), ``raster``
(signed-distance rasterisation), ``render`` (the body parts), ``scene`` (backgrounds, cameras, one
dataset image), ``writer`` (the dataset, montages).
"""

from ..layout import SIZES
from .identity import Identity, sample_identity
from .posing import BodyPose, interpolate, pose_from_keypoints, pose_keypoints, sample_pose, sample_pose_sequence, skeleton
from .render import render, render_layer, render_sequence
from .scene import Example, example, plain_background, street_background, camera_style
from .writer import SynthSummary, montage, png_bytes, read_identities, write_dataset

__all__ = [
    "Identity", "BodyPose", "Example", "SynthSummary", "SIZES",
    "sample_identity", "sample_pose", "sample_pose_sequence", "interpolate", "pose_from_keypoints", "pose_keypoints", "skeleton",
    "render", "render_layer", "render_sequence", "example", "plain_background", "street_background",
    "camera_style", "write_dataset", "read_identities", "montage", "png_bytes",
]
