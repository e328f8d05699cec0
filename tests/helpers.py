"""Small inputs shared by the tests."""

import torch

from pona.models import GeneratorConfig
from pona.models.attention import is_gate

# The tests' one tiny generator (conftest's ``tiny_config`` fixture): a PoNA generator small enough to
# run forward and backward in well under a second. A test that needs a variant (batch norm, another
# size, PATN) takes ``dataclasses.replace(TINY_CONFIG, ...)``, so that the variant is visible.
TINY_CONFIG = GeneratorConfig(ngf=8, n_blocks=2, image_size=(32, 16))


def tiny_inputs(batch=2, size=(32, 16)):
    h, w = size
    g = torch.Generator().manual_seed(1)
    image = torch.rand(batch, 3, h, w, generator=g) * 2 - 1
    src = torch.rand(batch, 18, h, w, generator=g)
    dst = torch.rand(batch, 18, h, w, generator=g)
    return image, src, dst


def grads_of(model):
    """Every parameter's gradient, by name (the parameters without one left out)."""
    return {n: p.grad.clone() for n, p in model.named_parameters() if p.grad is not None}


def open_gates(model, value=0.5):
    """Set every attention gate (gamma, beta; 0 at init, which cuts the attention paths off the
    output and the gradient) to ``value``, so that checks see every path."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if is_gate(name):
                p.fill_(value)


def run_cli(capsys, *args):
    """Run ``pona ARGS`` in-process: (exit code, stdout, stderr)."""
    from pona.cli import main

    try:
        main(list(args))
        code = 0
    except SystemExit as e:
        code = e.code
    out = capsys.readouterr()
    return code, out.out, out.err
