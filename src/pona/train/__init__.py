"""Training: losses, configuration, the loop, checkpoints, distributed helpers."""
