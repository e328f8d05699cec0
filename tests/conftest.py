import pytest
import torch

from pona.models import GeneratorConfig


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture
def tiny_config():
    """A PoNA generator small enough to run forward and backward in well under a second."""
    return GeneratorConfig(ngf=16, n_blocks=2, image_size=(32, 16))


@pytest.fixture
def one_thread():
    """Tiny tensors run faster on one thread, above all on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
