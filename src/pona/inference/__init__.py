"""Using a trained generator: transfer, animate, generate a pairs file, attention figures, ONNX export.

    model = PoNA.from_checkpoint("runs/synth-market")        # file or run directory
    out = model.transfer(photo, src_keypoints, dst_keypoints)  # PIL image, model size
    frames = model.animate(photo, src_keypoints, poses)       # skeleton | person, one per pose
    generate_pairs(model, "data/synth-market", "out/")        # one PNG per test pair
    attention_figure(model, photo, src_keypoints, dst_keypoints).save("attention.png")
    export_onnx(model, "model.onnx")                          # checked with onnxruntime
"""

from .export import ExportReport, export_onnx
from .generate import GenerateReport, generate_pairs
from .model import PoNA, Transfer
from .panels import legacy_strip, transfer_panel
from .poses import load_pose, load_pose_sequence
from .video import write_animation
from .visualize import attention_figure

__all__ = [
    "PoNA", "Transfer", "generate_pairs", "GenerateReport", "attention_figure", "export_onnx", "ExportReport",
    "load_pose", "load_pose_sequence", "write_animation", "transfer_panel", "legacy_strip",
]
