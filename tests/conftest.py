"""The tests' one tiny world: a synthetic dataset (``tiny_people``) and a tiny generator (``tiny_config``).

Every test that needs a dataset or a generator takes these unless it needs a defect or a layout
they cannot give; such a test writes its own, and says why next to the writer.
"""

import pytest
import torch

from helpers import TINY_CONFIG
from pona.data.synth import write_dataset


@pytest.fixture(autouse=True)
def _seed():
    torch.manual_seed(0)


@pytest.fixture(scope="session")
def tiny_config():
    """The tiny generator's config (helpers.TINY_CONFIG; frozen, so safe to share)."""
    return TINY_CONFIG


@pytest.fixture(scope="session")
def tiny_people(tmp_path_factory):
    """The synthetic people (pona.data.synth, Market preset) in the PATN layout at 32x16, written once:
    4 training people x 3 poses (12 images, 24 pairs), 2 test people x 3 poses (6 images, 12 pairs).

    Shared by every test: read it, never write into it; a test that changes it copies it first
    (``shutil.copytree(tiny_people, tmp_path / "data")``).
    """
    root = tmp_path_factory.mktemp("tiny-people") / "data"
    write_dataset(root, "market", n_train_ids=4, n_test_ids=2, poses_per_id=3, seed=0, size=(32, 16))
    return root


@pytest.fixture
def one_thread():
    """Tiny tensors run faster on one thread, above all on a busy machine."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)
