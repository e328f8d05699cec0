import copy
import dataclasses
import json
import os
import signal
import socket

import numpy as np
import pytest
import torch

import pona
from pona.data.dataset import to_uint8
from pona.errors import DataError, PonaError, WeightsNotFoundError
from pona.metrics.colour import colour_error, colour_summary
from pona.train import checkpoint
from pona.train.config import ConfigError, load_config
from pona.train.monitor import read_metrics
from pona.train.pool import ImagePool
from pona.train.rundir import load_run_config
from pona.train.schedule import param_groups
from pona.train.seeding import epoch_order
from pona.train.trainer import LOSS_KEYS, Trainer, TrainingDiverged
from helpers import TINY_CONFIG
from test_losses import fake_torchvision_vgg19


pytestmark = pytest.mark.usefixtures("one_thread")


def tiny(root, *overrides):
    """The synth-tiny preset on the dataset at ``root``."""
    return load_config("synth-tiny", [f"data.root={root}", *overrides])


def train_losses(run_dir):
    return [{k: r[k] for k in LOSS_KEYS} for r in read_metrics(run_dir / "metrics.jsonl", "train")]


def training_set_l1(trainer):
    """The generator's L1 loss over all training pairs in one batch, in eval mode (no dropout)."""
    from pona.data import PairDataset

    ds = PairDataset(trainer.config.data.root, "train", sigma=trainer.config.data.sigma)
    batch = {k: torch.stack([ds[i][k] for i in range(len(ds))]) for k in ("source_image", "source_maps", "target_maps", "target_image")}
    G = trainer.nets["generator"]
    G.eval()
    with torch.no_grad():
        out = G(batch["source_image"], batch["source_maps"], batch["target_maps"])
    G.train()
    return (out - batch["target_image"]).abs().mean().item()


def weights(trainer):
    return {f"{n}.{k}": v.clone() for n, m in trainer.nets.items() for k, v in m.state_dict().items()}


def test_epoch_order_visits_every_pair_once_and_splits_it_between_processes():
    one = epoch_order(10, seed=3, epoch=0)
    assert sorted(one) == list(range(10)) and one != list(range(10))
    assert epoch_order(10, 3, 0) == one and epoch_order(10, 3, 1) != one
    r0, r1 = epoch_order(10, 3, 0, 0, 2), epoch_order(10, 3, 0, 1, 2)
    assert len(r0) == len(r1) == 5 and not set(r0) & set(r1)


def test_image_pool_mixes_past_fakes_and_restores_its_state():
    pool = ImagePool(2, seed=0)
    a = torch.arange(2.0).view(2, 1, 1, 1)
    assert torch.equal(pool.query(a), a)  # filling: the batch itself
    state = pool.state_dict()
    outs = [pool.query(torch.full((4, 1, 1, 1), 10.0 + i)).flatten().tolist() for i in range(3)]
    flat = [v for o in outs for v in o]
    assert any(v < 10 for v in flat) and any(v >= 10 for v in flat)  # old and new fakes both appear
    other = ImagePool(2, seed=5)
    other.load_state_dict(state)
    assert [other.query(torch.full((4, 1, 1, 1), 10.0 + i)).flatten().tolist() for i in range(3)] == outs
    assert torch.equal(ImagePool(0).query(a), a)


def test_time_decay_anneals_the_learning_rate_to_zero_by_the_wall_clock_budget(tiny_people, tmp_path):
    cfg = tiny(tiny_people, "optim.lr=0.001", "optim.time_decay=0.25", "optim.constant_iterations=100000",
               "run.log_every=1", "run.val_every=0", "run.checkpoint_every=100000")
    result = Trainer(cfg, tmp_path / "run").train(max_minutes=0.06)  # 3.6 s; the last 0.9 s decays
    assert result["stopped"] == "max_minutes"
    lrs = [r["lr"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl", "train")]
    assert len(lrs) >= 3, lrs
    assert lrs[0] == pytest.approx(0.001)  # before the last quarter: the iteration schedule's rate
    assert all(b <= a for a, b in zip(lrs, lrs[1:])), lrs
    assert lrs[-1] < 0.2 * 0.001, lrs  # annealed by the deadline
    with pytest.raises(ConfigError, match="time_decay"):
        tiny(tiny_people, "optim.time_decay=1.5")


@pytest.mark.slow
def test_a_few_iterations_reduce_the_training_loss_and_fill_the_run_directory(tiny_people, tmp_path):
    cfg = tiny(tiny_people, "optim.lr=0.001", "optim.constant_iterations=24", "optim.decay_iterations=0",
               "run.val_every=12", "run.checkpoint_every=12", "run.tensorboard=true")
    t = Trainer(cfg, tmp_path / "run")
    before = training_set_l1(t)
    result = t.train()
    assert result["stopped"] == "done" and result["iteration"] == 24
    l1 = [r["g_l1"] for r in train_losses(tmp_path / "run")]
    assert len(l1) == 24
    assert np.mean(l1[-4:]) < np.mean(l1[:4]), l1  # the logged loss falls ...
    # ... and the generator learned: on every training pair at once, without dropout or batch noise
    # (deterministic, so any rise is a real one; no margin, as how fast the loss falls is the data's)
    assert training_set_l1(t) < before
    run = tmp_path / "run"
    val = read_metrics(run / "metrics.jsonl", "val")
    assert [r["iteration"] for r in val] == [12, 24] and all(0 < r["pairs"] <= 4 for r in val)
    # the colour share of the last validation: the saved generator, scored here by the library's metric
    G, errors = pona.load_generator(run), []
    for i in t.val_indices():
        item = t.val_set[i]
        with torch.no_grad(), t._autocast():
            out = G(*(item[k][None] for k in ("source_image", "source_maps", "target_maps")))
        errors.append(colour_error(to_uint8(item["target_image"]), to_uint8(out[0].float()), item["target_keypoints"].numpy()))
    assert val[-1]["colour_right"] == pytest.approx(colour_summary(errors)["colour_right"], abs=1e-4)
    assert 0 <= val[-1]["colour_right"] <= 1
    assert [i for i, _ in checkpoint.list_states(run / "checkpoints")] == [12, 24]
    assert sorted(p.name for p in (run / "samples").iterdir()) == ["iter-00000012.png", "iter-00000024.png"]
    from PIL import Image

    assert Image.open(run / "samples" / "iter-00000024.png").size == (5 * 16, 2 * 32)  # 5 panels x 2 pairs
    assert any(p.name.startswith("events.out.tfevents") for p in (run / "tensorboard").iterdir())
    assert load_run_config(run) == cfg
    g = pona.load_generator(run)  # a run directory is a checkpoint
    assert g.config == cfg.model and pona.load_generator(run / "generator-best.safetensors").config == cfg.model


@pytest.mark.slow
def test_resume_gives_the_same_losses_as_an_uninterrupted_run(tiny_people, tmp_path):
    # dropout, flips and the image pool all on; 6 iterations per epoch, so the cut is mid-epoch 1
    # the weight average too
    cfg = tiny(tiny_people, "optim.constant_iterations=8", "optim.decay_iterations=4", "run.checkpoint_every=5",
               "run.val_every=6", "model.dropout=0.5", "data.flip=true", "optim.pool_size=3", "optim.ema_half_life=3")
    whole = Trainer(cfg, tmp_path / "whole")
    whole.train()
    part = Trainer(cfg, tmp_path / "part")
    assert part.train(max_iterations=7)["stopped"] == "max_iterations"
    del part
    # resume with a worker process for the data: the order and flips must not depend on it
    resumed = Trainer(cfg.override("data.num_workers=1"), tmp_path / "part", resume=True)
    assert resumed.iteration == 7
    resumed.train()
    a, b = train_losses(tmp_path / "whole"), train_losses(tmp_path / "part")
    assert len(a) == len(b) == 12
    for i, (x, y) in enumerate(zip(a, b)):
        assert x == pytest.approx(y, abs=1e-6), f"iteration {i + 1}"
    wa, wb = weights(whole), weights(resumed)
    assert all(torch.equal(wa[k], wb[k]) for k in wa)
    ea, eb = whole.ema.state_dict(), resumed.ema.state_dict()
    assert all(torch.equal(ea[k], eb[k]) for k in ea)


@pytest.mark.slow
def test_resume_after_a_crash_continues_from_the_last_checkpoint(tiny_people, tmp_path):
    cfg = tiny(tiny_people, "optim.constant_iterations=7", "optim.decay_iterations=0", "run.checkpoint_every=3")
    Trainer(cfg, tmp_path / "whole").train()
    t = Trainer(cfg, tmp_path / "part")
    t.train(max_iterations=5)  # states 3 and 5; pretend the process died before state 5
    checkpoint.state_path(tmp_path / "part" / "checkpoints", 5).unlink()
    resumed = Trainer(cfg, tmp_path / "part", resume=True)
    assert resumed.iteration == 3
    resumed.train()
    assert [r["iteration"] for r in read_metrics(tmp_path / "part" / "metrics.jsonl", "train")] == list(range(1, 8))
    for x, y in zip(train_losses(tmp_path / "part"), train_losses(tmp_path / "whole"), strict=True):
        assert x == pytest.approx(y, abs=1e-6)


def test_a_crash_while_writing_a_checkpoint_leaves_the_previous_one_loadable(tiny_people, tmp_path, monkeypatch, caplog):
    cfg = tiny(tiny_people, "optim.constant_iterations=2", "optim.decay_iterations=0", "run.checkpoint_every=1",
               "run.val_every=0")
    t = Trainer(cfg, tmp_path / "run")
    t.train()
    ckpts = tmp_path / "run" / "checkpoints"
    good = checkpoint.load_state(checkpoint.state_path(ckpts, 2))

    def dying_save(obj, f):  # writes half a file, then the "power goes out"
        with open(f, "wb") as fh:
            fh.write(b"PK\x03\x04 half a checkpoint")
        raise OSError("simulated crash mid-write")

    monkeypatch.setattr(checkpoint.torch, "save", dying_save)
    t.iteration = 3
    with pytest.raises(OSError, match="simulated crash"):
        t.save_checkpoint()
    monkeypatch.undo()
    assert sorted(p.name for p in ckpts.iterdir()) == ["state-00000001.pt", "state-00000002.pt"]
    # a temp file left by a killed process and a damaged newest file are both passed over
    (ckpts / ".state-00000004.pt.abc.tmp").write_bytes(b"partial")
    (ckpts / "state-00000005.pt").write_bytes(b"garbage")
    with caplog.at_level("WARNING"):
        latest = checkpoint.load_latest(ckpts)
    assert latest["iteration"] == 2 and "state-00000005.pt" in caplog.text
    assert all(torch.equal(latest["models"]["generator"][k], v) for k, v in good["models"]["generator"].items())
    assert Trainer(cfg, tmp_path / "run", resume=True).iteration == 2


def test_a_non_finite_loss_skips_the_step_without_touching_the_weights(tiny_people, tmp_path):
    t = Trainer(tiny(tiny_people), tmp_path / "run")
    batch = next(t.batches(0))
    before = weights(t)
    batch["source_image"][0, 0, 0, 0] = float("nan")
    losses = t.train_step(batch)
    assert t.last_step_skipped and not np.isfinite(losses["g_total"])
    after = weights(t)
    assert all(torch.equal(before[k], after[k]) for k in before)
    batch["source_image"][0, 0, 0, 0] = 0.0
    losses = t.train_step(batch)
    assert not t.last_step_skipped and all(np.isfinite(v) for v in losses.values())


def test_several_non_finite_losses_in_a_row_stop_the_run_keeping_the_last_good_checkpoint(tiny_people, tmp_path):
    cfg = tiny(tiny_people, "run.checkpoint_every=2", "run.max_bad_steps=3", "run.val_every=0")
    t = Trainer(cfg, tmp_path / "run")
    t.train(max_iterations=2)
    good = weights(t)
    t.nets["generator"].register_forward_hook(lambda m, i, out: out * float("nan"))
    with pytest.raises(TrainingDiverged, match=r"3 non-finite iterations in a row.*state-00000002.pt"):
        t.train()
    assert t.iteration == 5
    assert [i for i, _ in checkpoint.list_states(tmp_path / "run" / "checkpoints")] == [2]
    assert all(torch.equal(good[k], v) for k, v in weights(t).items())
    g = pona.load_generator(tmp_path / "run")
    assert all(torch.equal(v, good[f"generator.{k}"]) for k, v in g.state_dict().items())


def test_sigterm_and_the_time_budget_stop_with_a_checkpoint(tiny_people, tmp_path):
    t = Trainer(tiny(tiny_people, "run.val_every=0"), tmp_path / "run")
    calls = []

    def send_sigterm(module, inputs, out):
        calls.append(1)
        if len(calls) == 2:
            os.kill(os.getpid(), signal.SIGTERM)

    handle = t.nets["generator"].register_forward_hook(send_sigterm)
    result = t.train()
    handle.remove()
    assert result["stopped"] == "SIGTERM" and result["iteration"] == 2
    assert result["checkpoint"] == checkpoint.state_path(tmp_path / "run" / "checkpoints", 2)
    assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL  # the handler is gone again
    result = Trainer(tiny(tiny_people, "run.val_every=0"), tmp_path / "run", resume=True).train(max_minutes=0)
    assert result["stopped"] == "max_minutes" and result["iteration"] == 3 and result["checkpoint"].is_file()


def test_an_existing_run_needs_resume_or_overwrite(tiny_people, tmp_path):
    cfg = tiny(tiny_people, "optim.constant_iterations=1", "optim.decay_iterations=0")
    Trainer(cfg, tmp_path / "run").train()
    (tmp_path / "run" / "notes.txt").write_text("mine")
    with pytest.raises(PonaError, match="already holds a training run: pass --resume .* or --overwrite"):
        Trainer(cfg, tmp_path / "run")
    with pytest.raises(PonaError, match="no run to resume"):
        Trainer(cfg, tmp_path / "empty", resume=True)
    t = Trainer(cfg, tmp_path / "run", overwrite=True)
    assert t.iteration == 0 and not (tmp_path / "run" / "checkpoints").exists()
    assert (tmp_path / "run" / "notes.txt").read_text() == "mine"  # only pona's files are removed


def test_a_dataset_that_fails_its_checks_stops_before_anything_is_written(tiny_people, tmp_path):
    with pytest.raises(DataError, match="set model.image_size=32x16"):
        Trainer(tiny(tiny_people, "model.image_size=64x32"), tmp_path / "run")
    with pytest.raises(DataError, match="fewer than optim.batch_size"):
        Trainer(tiny(tiny_people, "optim.batch_size=64"), tmp_path / "run")
    with pytest.raises(DataError, match="dataset directory not found"):
        Trainer(tiny(tmp_path / "nowhere"), tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_dataset_checks_run_before_training(tiny_people, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(tiny_people, bad)
    pairs = bad / "synth-pairs-train.csv"
    lines = pairs.read_text().splitlines()
    pairs.write_text("\n".join(lines[:2] + ["ghost.png," + lines[1].split(",")[1]] + lines[2:]) + "\n")
    with pytest.raises(DataError, match=r"synth-pairs-train.csv:3.*ghost.png") as e:
        Trainer(tiny(bad), tmp_path / "run")
    assert "unknown_image" in str(e.value) and not (tmp_path / "run").exists()


def test_precisions_the_cpu_cannot_run_fast_are_refused_and_auto_falls_back_to_fp32(tiny_people, tmp_path, monkeypatch):
    from pona import precision

    with pytest.raises(ConfigError, match="^run.amp fp16: fp16 runs only on CUDA"):
        Trainer(tiny(tiny_people, "run.amp=fp16", "run.device=cpu"), tmp_path / "run")
    monkeypatch.setattr(precision, "cpu_features", lambda: frozenset({"avx2"}))
    with pytest.raises(ConfigError, match="^run.amp bf16: this CPU has no AVX512-BF16 or AMX units") as e:
        Trainer(tiny(tiny_people, "run.amp=bf16", "run.device=cpu"), tmp_path / "run")
    assert "\n" not in str(e.value) and not (tmp_path / "run").exists()
    t = Trainer(tiny(tiny_people, "run.amp=auto", "run.channels_last=auto"), tmp_path / "run")
    assert (t.precision.name, t.precision.channels_last) == ("fp32", False)
    assert not t.nets["generator"].image_encoder[1].weight.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.skipif(not __import__("pona.precision").precision.native_bf16("cpu"), reason="this CPU has no bf16 units")
def test_a_bf16_run_trains_logs_its_precision_and_saves_fp32_weights(tiny_people, tmp_path, caplog):
    cfg = tiny(tiny_people, "run.amp=bf16", "run.channels_last=auto", "optim.constant_iterations=2", "optim.decay_iterations=0",
               "optim.ema_half_life=2", "run.val_every=2", "run.log_every=1")
    t = Trainer(cfg, tmp_path / "run")
    with caplog.at_level("INFO", logger="pona.train.trainer"):
        result = t.train()
    assert "precision: bf16 channels_last (requested)" in caplog.text
    records = read_metrics(tmp_path / "run" / "metrics.jsonl", "train")
    assert records[0]["precision"] == "bf16 channels_last" and "precision" not in records[1]
    assert all(np.isfinite(r[k]) for r in records for k in LOSS_KEYS)
    from safetensors import safe_open

    for name in ("generator.safetensors", "generator-best.safetensors"):
        with safe_open(str(tmp_path / "run" / name), "pt") as f:
            assert {f.get_slice(k).get_dtype() for k in f.keys()} <= {"F32", "I64"}, name
    state = torch.load(result["checkpoint"], weights_only=False)
    floats = [v for m in (*state["models"].values(), state["ema"]) for v in m.values() if v.is_floating_point()]
    floats += [v for o in state["optimizers"].values() for st in o["state"].values() for v in st.values()
               if v.is_floating_point()]
    assert floats and all(v.dtype == torch.float32 for v in floats)


def test_paper_presets_without_vgg_weights_fail_before_training(tiny_people, tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    cfg = load_config("market", [f"data.root={tiny_people}", f"loss.vgg_weights_dir={tmp_path}", "loss.vgg_download=false"])
    with pytest.raises(WeightsNotFoundError, match="vgg19-dcbb9e9d.pth"):
        Trainer(cfg, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_the_perceptual_term_uses_the_vgg_weights_given(tiny_people, tmp_path):
    fake_torchvision_vgg19(tmp_path / "vgg.pth")
    t = Trainer(tiny(tiny_people, "loss.lambda_perceptual=10", f"loss.vgg_weights={tmp_path / 'vgg.pth'}"), tmp_path / "run")
    losses = t.train_step(next(t.batches(0)))
    assert losses["g_perc"] > 0
    assert losses["g_total"] == pytest.approx(5 * losses["g_gan"] + 10 * losses["g_l1"] + 10 * losses["g_perc"], rel=1e-5)


ABLATIONS = ["model.cross_attention=false", "model.self_attention=false", "model.fusion=tail", "model.arch=patn",
             "run.channels_last=true"]


def _params(module):
    return sum(p.numel() for p in module.parameters())


@pytest.mark.parametrize("ablation", ABLATIONS)
def test_ablations_train_from_config(tiny_people, tmp_path, ablation):
    """Each override builds the network it names (checked against the full PoNA of the same size),
    and that network trains."""
    from dataclasses import replace

    from pona.models import PATNGenerator, PoseAttention, SelfAttention, build_generator

    t = Trainer(tiny(tiny_people, ablation, "model.n_blocks=1"), tmp_path / "run")
    if ablation == "run.channels_last=true":  # a layout, not a model change: the NCHW model's output
        nchw = Trainer(tiny(tiny_people, "model.n_blocks=1"), tmp_path / "nchw").nets["generator"].eval()
        batch = next(t.batches(0))
        inputs = [batch[k] for k in ("source_image", "source_maps", "target_maps")]
        with torch.no_grad():  # eval: no dropout, whose masks depend on the memory layout
            out = t.nets["generator"].eval()(*(x.contiguous(memory_format=torch.channels_last) for x in inputs))
            torch.testing.assert_close(out, nchw(*inputs), rtol=1e-4, atol=1e-5)
        t.nets["generator"].train()
    losses = t.train_step(next(t.batches(0)))  # first: building the reference below draws random numbers
    assert all(np.isfinite(v) for v in losses.values())
    g = t.nets["generator"]
    full = build_generator(replace(g.config, arch="pona", fusion="head", cross_attention=True, self_attention=True))
    names = [n for n, _ in g.named_parameters()]
    kinds = {type(m) for m in g.modules()}
    if ablation == "model.cross_attention=false":  # w/o Cro.: the pose pathway and both attentions are gone
        pose_pathway = ("pose_encoder.", ".cross_attn.", ".self_attn.", ".fuse_conv.", ".pose_conv.")
        assert names == [n for n, _ in full.named_parameters() if not any(p in "." + n for p in pose_pathway)]
        assert not kinds & {PoseAttention, SelfAttention}
    elif ablation == "model.self_attention=false":  # w/o Self.: the self-attention only
        assert names == [n for n, _ in full.named_parameters() if ".self_attn." not in n]
        assert PoseAttention in kinds and SelfAttention not in kinds
    elif ablation == "model.fusion=tail":  # the codes are fused after the pose convs, then projected 2C -> C
        C = 4 * g.config.ngf
        block = g.blocks[0]
        assert (block.fuse_conv[0].in_channels, block.pose_conv[0].in_channels) == (C, C)
        assert (block.fuse_proj.in_channels, block.fuse_proj.out_channels, block.fuse_proj.kernel_size) == (2 * C, C, (1, 1))
        assert block.self_attn.value.in_channels == 2 * C
    elif ablation == "model.arch=patn":  # the PATN baseline: no non-local attention at all
        assert isinstance(g, PATNGenerator) and not kinds & {PoseAttention, SelfAttention}
    else:  # same network, NHWC weights
        assert t.precision.channels_last and names == [n for n, _ in full.named_parameters()]
        convs = [p for p in g.parameters() if p.dim() == 4 and p.shape[2] * p.shape[3] > 1 and p.shape[1] > 1]
        assert convs and all(p.is_contiguous(memory_format=torch.channels_last) and not p.is_contiguous() for p in convs)


def tiny_generator(**changes):
    """The tiny generator (batch norm, as the ablations train) with O(1) activations everywhere and every
    attention gate open (> 0)."""
    from pona.models import build_generator
    from released_reference import randomize

    return randomize(build_generator(dataclasses.replace(TINY_CONFIG, norm="batch", **changes))).eval()


def with_weights_of(source, model):
    """``model`` loaded with ``source``'s tensors of the same names (an ablation holds a subset)."""
    sd = source.state_dict()
    model.load_state_dict({k: sd[k] for k in model.state_dict()})
    return model


def test_without_cross_attention_the_output_ignores_the_poses_and_is_the_full_model_with_its_gate_shut():
    from helpers import tiny_inputs

    full = tiny_generator()
    ablated = with_weights_of(full, tiny_generator(cross_attention=False))
    image, src, dst = tiny_inputs()
    other_src, other_dst = src.flip(0), dst.flip(0)  # the other person's poses
    with torch.no_grad():
        out = ablated(image, src, dst)
        assert torch.equal(out, ablated(image, other_src, other_dst))  # no pose reaches the output
        assert not torch.allclose(full(image, src, dst), full(image, src, other_dst), atol=1e-3)  # the full model follows it
        for block in full.blocks:
            block.cross_attn.gamma.zero_()  # eq. (7) with gamma = 0: the image code never reads the pose code
        torch.testing.assert_close(full(image, src, dst), out, rtol=0, atol=1e-5)  # up to float rounding
    # what goes, counted from the layer definitions (C = 4 ngf channels after the two downsamplings;
    # batch norm: convs without bias in the encoder; SAGAN attention: query and key C -> C/8, value
    # C -> C, with biases), in each of the n_blocks blocks
    ngf, C, n_blocks = TINY_CONFIG.ngf, 4 * TINY_CONFIG.ngf, TINY_CONFIG.n_blocks
    pose_encoder = 36 * ngf * 49 + 2 * ngf + ngf * 2 * ngf * 9 + 2 * 2 * ngf + 2 * ngf * C * 9 + 2 * C
    cross = 2 * (C * C // 8 + C // 8) + C * C + C + 1                                # + gamma
    self_ = 2 * (2 * C * 2 * C // 8 + 2 * C // 8) + 2 * C * 2 * C + 2 * C + 2       # on 2C channels, + gamma, beta
    fuse = 2 * (2 * C * 2 * C * 9 + 2 * C)                                           # double conv 2C -> 2C
    pose = (2 * C * 2 * C * 9 + 2 * C) + (2 * C * C * 9 + C)                         # double conv 2C -> C
    assert _params(full) - _params(ablated) == pose_encoder + n_blocks * (cross + self_ + fuse + pose)


def test_without_self_attention_the_model_is_the_full_one_with_the_self_attention_gates_shut():
    from helpers import tiny_inputs

    full = tiny_generator()
    ablated = with_weights_of(full, tiny_generator(self_attention=False))
    image, src, dst = tiny_inputs()
    with torch.no_grad():
        with_self = full(image, src, dst)
        for block in full.blocks:  # eq. (2): gamma * attn(f) + beta * f + f = f
            block.self_attn.gamma.zero_()
            block.self_attn.beta.zero_()
        out = ablated(image, src, dst)
        torch.testing.assert_close(full(image, src, dst), out, rtol=0, atol=1e-5)  # up to float rounding
        assert not torch.allclose(with_self, out, atol=1e-3)  # the self-attention did contribute
        assert not torch.allclose(out, ablated(image, src, dst.flip(0)), atol=1e-3)  # the pose guidance stays
    C = 4 * TINY_CONFIG.ngf  # self-attention on 2C channels: query and key 2C -> 2C/8, value 2C -> 2C, + gamma, beta
    assert _params(full) - _params(ablated) == TINY_CONFIG.n_blocks * (
        2 * (2 * C * 2 * C // 8 + 2 * C // 8) + 2 * C * 2 * C + 2 * C + 2)


@pytest.mark.parametrize("fusion", ["head", "middle", "tail", "none"])
def test_each_fusion_joins_the_image_code_where_its_definition_says(fusion):
    """Table V: hooks record what each part of the pose update reads; compared with the definition
    (PoNABlock's docstring): head: f = SA(cat(img, pose)); pose' = dc2(f + dc1(f)); middle: pose +=
    dc1(pose); pose' = dc2(SA(cat(img, pose))); tail: pose += dc1(pose); pose' = conv1x1(SA(cat(img,
    dc2(pose)))); none: f = SA(pose); pose' = dc2(f + dc1(f)). The cross attention reads pose'."""
    from helpers import tiny_inputs

    g = tiny_generator(n_blocks=1, fusion=fusion)
    block, seen = g.blocks[0], {}
    block.register_forward_pre_hook(lambda m, args: seen.__setitem__("block", args))
    for name in ("self_attn", "fuse_conv", "pose_conv", "fuse_proj", "cross_attn"):
        if getattr(block, name) is not None:
            getattr(block, name).register_forward_hook(lambda m, args, out, name=name: seen.__setitem__(name, (args, out)))
    with torch.no_grad():
        g(*tiny_inputs())
    img, pose = seen["block"][:2]
    sa_in, sa_out = seen["self_attn"][0][0], seen["self_attn"][1][0]
    (fc_in,), fc_out = seen["fuse_conv"]
    (pc_in,), pc_out = seen["pose_conv"]
    new_pose = seen["cross_attn"][0][0]
    if fusion == "head":
        checks = [(sa_in, torch.cat([img, pose], 1)), (fc_in, sa_out), (pc_in, sa_out + fc_out), (new_pose, pc_out)]
    elif fusion == "middle":
        checks = [(fc_in, pose), (sa_in, torch.cat([img, pose + fc_out], 1)), (pc_in, sa_out), (new_pose, pc_out)]
    elif fusion == "tail":
        (proj_in,), proj_out = seen["fuse_proj"]
        checks = [(fc_in, pose), (pc_in, pose + fc_out), (sa_in, torch.cat([img, pc_out], 1)), (proj_in, sa_out),
                  (new_pose, proj_out)]
    else:
        checks = [(sa_in, pose), (fc_in, sa_out), (pc_in, sa_out + fc_out), (new_pose, pc_out)]
    for i, (got, expected) in enumerate(checks):
        assert got.shape == expected.shape and torch.equal(got, expected), (fusion, i)
    assert not torch.equal(sa_out, sa_in)  # the self-attention gates are open: the checks see it


# -- two processes, gloo ----------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank, world, port, cfg, run_dir, out_dir):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port), RANK=str(rank),
                      WORLD_SIZE=str(world), LOCAL_RANK=str(rank))
    torch.set_num_threads(1)
    from pona.train import distributed

    try:
        t = Trainer(cfg, run_dir)
        first = next(t.batches(0))["source_name"]
        calls = []
        if rank == 1:  # a non-finite loss on one process only: every process must skip that step
            t.nets["generator"].register_forward_hook(
                lambda m, i, out: (calls.append(1), out * float("nan") if len(calls) == 2 else out)[1])
        t.train()
        torch.save({"weights": weights(t), "first_batch": first, "wrote_metrics": t.metrics is not None},
                   out_dir / f"rank{rank}.pt")
    finally:
        distributed.cleanup()


@pytest.mark.slow
def test_two_processes_with_gloo_keep_identical_parameters_and_skip_steps_together(tiny_people, tmp_path):
    cfg = tiny(tiny_people, "optim.constant_iterations=3", "optim.decay_iterations=0", "optim.batch_size=2",
               "run.checkpoint_every=2", "run.val_every=2")
    torch.multiprocessing.spawn(_ddp_worker, args=(2, _free_port(), cfg, tmp_path / "run", tmp_path), nprocs=2)
    r0, r1 = (torch.load(tmp_path / f"rank{r}.pt", weights_only=False) for r in (0, 1))
    assert r0["first_batch"] != r1["first_batch"]  # each process trains on its own share
    assert r0["wrote_metrics"] and not r1["wrote_metrics"]  # only rank 0 writes
    assert r0["weights"].keys() == r1["weights"].keys()
    for k, v in r0["weights"].items():
        if "running_" not in k and "num_batches" not in k:  # batch-norm statistics stay per process
            assert torch.equal(v, r1["weights"][k]), k
    state = checkpoint.load_latest(tmp_path / "run" / "checkpoints")
    assert state["iteration"] == 3 and len(state["ranks"]) == 2
    # iteration 2 was skipped everywhere (rank 1's loss was NaN), so it has no train line
    assert [r["iteration"] for r in read_metrics(tmp_path / "run" / "metrics.jsonl", "train")] == [1, 3]
    assert json.loads((tmp_path / "run" / "metrics.jsonl").read_text().splitlines()[0])["kind"] == "train"


def test_cli_trains_refuses_to_mix_runs_and_resumes_with_overrides(tiny_people, tmp_path, capsys):
    from helpers import run_cli as run

    out = tmp_path / "run"
    args = ["train", "--config", "synth-tiny", "--data", str(tiny_people), "--out", str(out),
            "optim.constant_iterations=2", "optim.decay_iterations=0", "run.val_every=0"]
    code, stdout, err = run(capsys, *args)
    assert code == 0, err
    assert "stopped at iteration 2 (done)" in stdout and (out / "generator.safetensors").is_file()
    code, _, err = run(capsys, *args)
    assert code == 2 and "--resume" in err and "--overwrite" in err and err.count("\n") == 1
    code, stdout, err = run(capsys, "train", "--out", str(out), "--resume", "optim.constant_iterations=3")
    assert code == 0, err
    assert "stopped at iteration 3 (done)" in stdout and load_run_config(out).optim.constant_iterations == 3
    code, _, err = run(capsys, "train", "--config", "synth-tiny", "model.ngf=abc")
    assert code == 2 and "model.ngf must be int" in err
    code, stdout, _ = run(capsys, "train", "--config", "synth-tiny", "--print-config", "model.ngf=16")
    assert code == 0 and "ngf: 16" in stdout


def test_gate_lr_multiplier_puts_only_the_attention_gates_in_a_faster_group():
    from pona.models import Generator
    from pona.train.schedule import param_groups

    g = Generator(TINY_CONFIG)
    gates = {id(p) for n, p in g.named_parameters() if n.endswith((".gamma", ".beta"))}
    assert len(gates) == TINY_CONFIG.n_blocks * 3  # per block: self-attention gamma, beta; pose-guided gamma
    slow, fast = param_groups(g, 1e-3, 20.0)
    assert {id(p) for p in fast["params"]} == gates and fast["lr"] == pytest.approx(2e-2)
    assert slow["lr"] == 1e-3 and len(slow["params"]) + len(fast["params"]) == len(list(g.parameters()))
    (single,) = param_groups(g, 1e-3)  # the paper: one group, in the module's own order
    assert [id(p) for p in single["params"]] == [id(p) for p in g.parameters()]


def test_the_fused_adam_steps_as_the_reference_adam_does(tiny_people, tmp_path):
    # the trainer's optimizers are fused (one kernel per step on CPU): the update is Adam's,
    # checked against PyTorch's one-tensor-at-a-time Adam on the same gradients and groups
    trainer = Trainer(tiny(tiny_people, "optim.gate_lr_mult=20"), tmp_path / "run")
    g, opt = trainer.nets["generator"], trainer.optimizers["generator"]
    assert all(o.defaults["fused"] for o in trainer.optimizers.values())
    reference_net = copy.deepcopy(g)
    reference = torch.optim.Adam(param_groups(reference_net, opt.defaults["lr"], 20.0), lr=opt.defaults["lr"],
                                 betas=opt.defaults["betas"], foreach=False)
    torch.manual_seed(0)
    for _ in range(3):
        for a, b in zip(g.parameters(), reference_net.parameters()):
            a.grad = torch.randn_like(a)
            b.grad = a.grad.clone()
        opt.step(), reference.step()
    for (name, a), b in zip(g.named_parameters(), reference_net.parameters()):
        torch.testing.assert_close(a, b, atol=1e-6, rtol=1e-5, msg=name)


def test_weight_average_follows_its_half_life_and_ramps_up():
    from pona.train.schedule import EMA_RAMPUP, update_ema

    model, ema = torch.nn.BatchNorm1d(3), torch.nn.BatchNorm1d(3)
    with torch.no_grad():
        model.weight.fill_(2.0), ema.weight.fill_(0.0)
        model.running_mean.fill_(7.0)
    update_ema(ema, model, half_life=4.0, iteration=100)  # h = 4: beta = 0.5 ** (1/4)
    assert ema.weight.detach() == pytest.approx(torch.full((3,), 2.0 * (1 - 0.5 ** 0.25)))
    assert torch.equal(ema.running_mean, model.running_mean)  # buffers copied, not averaged
    update_ema(ema, model, half_life=4.0, iteration=1)  # ramp-up: h = EMA_RAMPUP, the average mostly forgets
    w = 2.0 * (1 - 0.5 ** 0.25)
    assert ema.weight.detach() == pytest.approx(torch.full((3,), w + (2.0 - w) * (1 - 0.5 ** (1 / EMA_RAMPUP))))


@pytest.mark.slow
def test_with_a_weight_average_the_run_exports_and_validates_the_average(tiny_people, tmp_path):
    t = Trainer(tiny(tiny_people, "optim.constant_iterations=6", "optim.decay_iterations=0", "optim.ema_half_life=2",
                     "run.val_every=6"), tmp_path / "run")
    t.train()
    exported = pona.load_generator(tmp_path / "run").state_dict()
    averaged, trained = t.ema.state_dict(), t.nets["generator"].state_dict()
    assert all(torch.equal(exported[k], averaged[k]) for k in exported)
    assert not all(torch.equal(exported[k], trained[k]) for k in exported)
    best = pona.load_generator(tmp_path / "run" / "generator-best.safetensors").state_dict()
    assert t.best["iteration"] == 6 and all(torch.equal(best[k], averaged[k]) for k in best)




def test_before_gan_start_only_the_generator_learns_from_l1(tiny_people, tmp_path):
    t = Trainer(tiny(tiny_people, "loss.gan_start=2", "run.val_every=0"), tmp_path / "run")
    d_names = [k for k in weights(t) if not k.startswith("generator.")]
    stream = t.batches(0)
    start = weights(t)
    for _ in range(2):
        losses = t.train_step(next(stream))
        t.iteration += 1
        assert losses["g_gan"] == losses["d_appearance"] == losses["d_pose"] == 0.0
        assert losses["g_total"] == pytest.approx(t.config.loss.lambda_l1 * losses["g_l1"], rel=1e-6)
    warm = weights(t)
    assert all(torch.equal(start[k], warm[k]) for k in d_names)  # discriminators untouched, not even run
    assert any(not torch.equal(start[k], warm[k]) for k in warm if k.startswith("generator."))
    losses = t.train_step(next(stream))  # iteration 2: the adversarial term is on
    assert losses["g_gan"] > 0 and losses["d_appearance"] > 0 and losses["d_pose"] > 0
    after = weights(t)
    assert any(not torch.equal(warm[k], after[k]) for k in d_names)


def test_gan_start_must_not_be_negative(tiny_people):
    with pytest.raises(ConfigError, match="loss.gan_start"):
        tiny(tiny_people, "loss.gan_start=-1")


def test_every_discriminator_pass_runs_one_spectral_norm_power_iteration(tiny_people, tmp_path):
    # as released: each forward pass of a discriminator runs one power iteration of every spectral
    # norm, three per training iteration (the generator's step, then the real and the fake pass).
    # Sharing one between the real and fake passes was at most 4% faster and learnt the colours later
    # (docs/guide/demo-and-web.md): the count is part of the recipe
    t = Trainer(tiny(tiny_people, "loss.gan_start=0", "run.val_every=0"), tmp_path / "run")
    convs = [m for k in ("appearance_d", "pose_d") for m in t.nets[k].modules() if hasattr(m, "parametrizations")]
    before = [(m.parametrizations.weight.original.detach().clone(), m.parametrizations.weight[0]._u.clone()) for m in convs]
    t.train_step(next(t.batches(0)))

    def power_iterations(weight, u, n):
        w = weight.flatten(1)
        for _ in range(n):
            v = torch.nn.functional.normalize(w.T @ u, dim=0, eps=1e-12)
            u = torch.nn.functional.normalize(w @ v, dim=0, eps=1e-12)
        return u

    for m, (weight, u) in zip(convs, before):
        after = m.parametrizations.weight[0]._u
        torch.testing.assert_close(after, power_iterations(weight, u, 3), atol=1e-5, rtol=1e-4)
        assert not torch.allclose(after, power_iterations(weight, u, 2), atol=1e-5, rtol=1e-4)
