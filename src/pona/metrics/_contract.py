"""Checking a published weight file against the key/shape list written down in the network's module."""

from __future__ import annotations

from ..errors import CheckpointError


def match_contract(state_dict: dict, contract: dict[str, tuple[int, ...]], source: str) -> dict:
    """Return ``state_dict`` minus BatchNorm ``num_batches_tracked`` counters (present in files saved
    by PyTorch >= 0.4.1, absent from older ones), after checking that its keys and shapes are exactly
    ``contract``; otherwise raise CheckpointError naming the file and the first differences."""
    tensors = {k: v for k, v in state_dict.items() if not k.endswith("num_batches_tracked")}
    missing = [k for k in contract if k not in tensors]
    unexpected = [k for k in tensors if k not in contract]
    wrong = [f"{k} {tuple(tensors[k].shape)} (expected {contract[k]})"
             for k in contract if k in tensors and tuple(tensors[k].shape) != contract[k]]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing key(s), e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected key(s), e.g. {unexpected[:3]}")
    if wrong:
        problems.append(f"{len(wrong)} tensor(s) of the wrong shape, e.g. {wrong[:3]}")
    if problems:
        raise CheckpointError(f"{source}: not the expected weight file: " + "; ".join(problems))
    return tensors
