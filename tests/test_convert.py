import pytest
import torch
from torch import nn

from helpers import tiny_inputs
from pona import CheckpointError, convert_released_checkpoint, load_generator
from pona.models import GeneratorConfig
from released_reference import ReleasedGenerator, randomize


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny tensors: one thread is faster, above all on a busy machine


def released(norm="instance", ngf=16, n_blocks=2):
    return randomize(ReleasedGenerator(ngf, n_blocks, norm)).eval()


@pytest.mark.parametrize("norm", ["instance", "batch"])
def test_converted_released_generator_gives_the_released_output(norm):
    ref = released(norm)
    ours = convert_released_checkpoint(ref.state_dict(), image_size=(32, 16))
    assert ours.config == GeneratorConfig(ngf=16, n_blocks=2, norm=norm, image_size=(32, 16))
    image, src, dst = tiny_inputs()
    with torch.no_grad():
        expected = ref(image, torch.cat([src, dst], 1))
        got = ours(image, src, dst)
    assert (got - expected).abs().max().item() <= 1e-4
    assert expected.std() > 0.05  # not a degenerate, saturated output


def test_full_size_released_keys_and_shapes_convert():
    sd = ReleasedGenerator().state_dict()
    assert all(k.startswith("model.") for k in sd)
    g = convert_released_checkpoint(sd)
    assert g.config == GeneratorConfig() and sum(p.numel() for p in g.parameters()) == 34_329_356


def test_convert_reads_a_pth_file_and_writes_our_format(tmp_path):
    ref = released()
    torch.save(ref.state_dict(), tmp_path / "latest_net_netG.pth")
    out = tmp_path / "pona.safetensors"
    convert_released_checkpoint(tmp_path / "latest_net_netG.pth", out, image_size=(32, 16))
    loaded = load_generator(out)
    image, src, dst = tiny_inputs()
    with torch.no_grad():
        torch.testing.assert_close(loaded(image, src, dst), ref(image, torch.cat([src, dst], 1)), atol=1e-4, rtol=0)


def test_old_instance_norm_running_stats_are_dropped_and_change_nothing():
    ref = released()
    clean = ref.state_dict()
    # PyTorch < 0.4 saved running statistics with every InstanceNorm2d (and never used them: its
    # instance norm always normalised with the input's own statistics). Far from (0, 1) here, so
    # that a converter applying them would change the output.
    old = dict(clean)
    norms = [(name, m.num_features) for name, m in ref.named_modules() if isinstance(m, nn.InstanceNorm2d)]
    assert len(norms) == 3 + 3 + 2 + 2 * 8  # both encoders, the decoder, 4 double convs x 2 per block
    for name, c in norms:
        old[f"{name}.running_mean"] = torch.full((c,), 3.0)
        old[f"{name}.running_var"] = torch.full((c,), 25.0)
        old[f"{name}.num_batches_tracked"] = torch.tensor(7)
    ours = convert_released_checkpoint(old, image_size=(32, 16))
    without = convert_released_checkpoint(clean, image_size=(32, 16))
    assert ours.state_dict().keys() == without.state_dict().keys()
    assert not any(k.rpartition(".")[2] in ("running_mean", "running_var", "num_batches_tracked") for k in ours.state_dict())
    assert all(torch.equal(v, without.state_dict()[k]) for k, v in ours.state_dict().items())
    image, src, dst = tiny_inputs()
    with torch.no_grad():
        got = ours(image, src, dst)
        assert torch.equal(got, without(image, src, dst))
        torch.testing.assert_close(got, ref(image, torch.cat([src, dst], 1)), atol=1e-4, rtol=0)  # the released behaviour


def test_running_stats_are_dropped_only_from_instance_norms():
    # A batch-norm model's statistics are used in eval: kept, under our name.
    sd = released("batch").state_dict()
    ours = convert_released_checkpoint(sd, image_size=(32, 16))
    for theirs, mine in (("stream1_down.2", "image_encoder.2"), ("stream1_up.4", "decoder.4")):
        for stat in ("running_mean", "running_var"):
            assert torch.equal(ours.state_dict()[f"{mine}.{stat}"], sd[f"model.{theirs}.{stat}"])
    # "Statistics" on a layer that is no norm are not silently dropped: the file is not a released PoNA.
    sd = released().state_dict()
    sd["model.stream1_down.1.running_mean"] = torch.zeros(16)  # stream1_down.1 is a Conv2d
    with pytest.raises(CheckpointError, match=r"image_encoder\.1\.running_mean"):
        convert_released_checkpoint(sd, image_size=(32, 16))


def test_missing_key_is_named_in_the_error():
    sd = released().state_dict()
    del sd["model.att.1.conv2.conv.4.weight"]
    with pytest.raises(CheckpointError, match=r"1 missing key\(s\), e.g. \['blocks.1.image_conv2.4.weight'\]"):
        convert_released_checkpoint(sd)


def test_unknown_key_is_named_in_the_error():
    sd = released().state_dict()
    sd["model.att.0.extra.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointError, match=r"model\.att\.0\.extra\.weight"):
        convert_released_checkpoint(sd)
    with pytest.raises(CheckpointError, match="without the 'model.' prefix"):
        convert_released_checkpoint({"netG.weight": torch.zeros(1)})


def test_dataparallel_prefix_is_accepted():
    sd = {"module." + k: v for k, v in released().state_dict().items()}
    assert convert_released_checkpoint(sd).config.ngf == 16

