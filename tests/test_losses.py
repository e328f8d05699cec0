import math

import pytest
import torch

from pona.errors import CheckpointError, WeightsNotFoundError
from pona.models.vgg import VGG19_FILE, VGG19Features, vgg19_features
from pona.train.losses import GANLoss, PerceptualLoss, discriminator_loss, generator_loss


def fake_torchvision_vgg19(path):
    """A full torchvision-style VGG-19 state dict with random weights (features + classifier)."""
    full = VGG19Features(last=35)
    sd = {k: torch.randn_like(v) * 0.1 for k, v in full.state_dict().items()}
    sd["classifier.0.weight"] = torch.zeros(4, 4)  # present in torchvision's file, ignored by us
    torch.save(sd, path)
    return sd


def test_vanilla_gan_loss_is_the_log_loss_on_logits():
    gan = GANLoss("vanilla")
    zeros = torch.zeros(2, 4, 3, 3)
    assert gan(zeros, True).item() == pytest.approx(math.log(2))
    logits = torch.tensor([2.0, -1.0])
    assert gan(logits, True).item() == pytest.approx(-(math.log(torch.sigmoid(torch.tensor(2.0))) + math.log(torch.sigmoid(torch.tensor(-1.0)))) / 2)
    assert gan(torch.tensor([100.0]), True).item() == pytest.approx(0.0, abs=1e-6)  # stable, no log(0)
    assert torch.isfinite(gan(torch.tensor([-100.0]), True))


def test_lsgan_loss_is_the_squared_distance_to_the_label():
    gan = GANLoss("lsgan")
    x = torch.tensor([0.5, 2.0])
    assert gan(x, True).item() == pytest.approx(((0.5 - 1) ** 2 + (2 - 1) ** 2) / 2)
    assert gan(x, False).item() == pytest.approx((0.25 + 4) / 2)
    with pytest.raises(ValueError):
        GANLoss("wgan")


def test_discriminator_loss_averages_real_and_fake_terms():
    gan = GANLoss("lsgan")
    assert discriminator_loss(torch.ones(3), torch.zeros(3), gan).item() == 0
    assert discriminator_loss(torch.zeros(3), torch.ones(3), gan).item() == pytest.approx(1.0)


def test_vgg_loads_torchvision_names_and_perceptual_loss_matches_a_direct_computation(tmp_path):
    sd = fake_torchvision_vgg19(tmp_path / "vgg.pth")
    vgg = vgg19_features(tmp_path / "vgg.pth")
    assert [n for n, _ in vgg.named_parameters()] == ["features.0.weight", "features.0.bias", "features.2.weight", "features.2.bias"]
    assert torch.equal(vgg.features[2].weight, sd["features.2.weight"])
    assert not any(p.requires_grad for p in vgg.parameters())
    loss = PerceptualLoss(vgg)
    a, b = torch.rand(2, 3, 16, 16) * 2 - 1, torch.rand(2, 3, 16, 16) * 2 - 1
    mean, std = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1), torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)

    def relu1_2(x):
        x = ((x + 1) / 2 - mean) / std
        x = torch.relu(torch.nn.functional.conv2d(x, sd["features.0.weight"], sd["features.0.bias"], padding=1))
        return torch.relu(torch.nn.functional.conv2d(x, sd["features.2.weight"], sd["features.2.bias"], padding=1))

    expected = (relu1_2(a) - relu1_2(b)).abs().mean()
    assert loss(a, b).item() == pytest.approx(expected.item(), rel=1e-5)
    assert loss(a, a).item() == 0


def test_generator_loss_weights_the_three_terms():
    torch.manual_seed(0)
    perceptual = PerceptualLoss(VGG19Features())
    fake, target = torch.rand(1, 3, 8, 8), torch.rand(1, 3, 8, 8)
    terms = generator_loss(fake, target, torch.zeros(1, 4), torch.ones(1, 4), GANLoss("lsgan"), perceptual, (5, 10, 10))
    assert terms["g_gan"].item() == pytest.approx(0.5)  # mean of 1 (appearance) and 0 (pose)
    assert terms["g_l1"].item() == pytest.approx((fake - target).abs().mean().item())
    assert terms["g_total"].item() == pytest.approx(5 * 0.5 + 10 * terms["g_l1"].item() + 10 * terms["g_perc"].item(), rel=1e-6)


def test_vgg_offline_without_weights_says_which_file_and_where(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    with pytest.raises(WeightsNotFoundError) as e:
        vgg19_features(weights_dir=tmp_path / "weights", download=False)
    msg = str(e.value)
    assert VGG19_FILE in msg and "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth" in msg
    assert str(tmp_path / "weights") in msg and str(tmp_path / "torch" / "hub" / "checkpoints") in msg


def test_vgg_found_in_weights_dir_and_hub_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    (tmp_path / "weights").mkdir()
    fake_torchvision_vgg19(tmp_path / "weights" / VGG19_FILE)
    assert vgg19_features(weights_dir=tmp_path / "weights", download=False).features[0].weight.shape == (64, 3, 3, 3)
    hub = tmp_path / "torch" / "hub" / "checkpoints"
    hub.mkdir(parents=True)
    fake_torchvision_vgg19(hub / VGG19_FILE)
    assert vgg19_features(download=False) is not None


def test_vgg_rejects_a_wrong_state_dict(tmp_path):
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, tmp_path / "bad.pth")
    with pytest.raises(CheckpointError, match="features.0.bias"):
        vgg19_features(tmp_path / "bad.pth")
