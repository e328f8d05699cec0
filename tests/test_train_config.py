import pytest

from pona.models import DiscriminatorConfig
from pona.train.config import ConfigError, TrainConfig, from_dict, load_config, preset_names, read_yaml
from pona.train.schedule import lr_factor


def test_presets_load_and_set_the_papers_values():
    assert {"market", "fashion", "synth-market", "synth-fashion", "synth-tiny"} <= set(preset_names())
    market, fashion = load_config("market"), load_config("fashion")
    assert market.model.norm == "batch" and market.model.image_size == (128, 64) and market.model.ngf == 64
    assert market.loss.gan_mode == "vanilla"
    assert (market.loss.lambda_gan, market.loss.lambda_l1, market.loss.lambda_perceptual) == (5, 10, 10)
    assert market.optim.batch_size == 32 and market.optim.pool_size == 50
    # 500 + 200 "epochs" of 4000 pairs: 125 iterations each at batch 32, 572 at batch 7
    assert (market.optim.constant_iterations, market.optim.decay_iterations) == (500 * 125, 200 * 125)
    assert (fashion.optim.constant_iterations, fashion.optim.decay_iterations) == (500 * 572, 200 * 572)
    assert fashion.model.norm == "instance" and fashion.model.image_size == (256, 176)
    assert fashion.loss.gan_mode == "lsgan" and fashion.optim.batch_size == 7 and fashion.optim.pool_size == 0
    assert (fashion.loss.lambda_gan, fashion.loss.lambda_l1, fashion.loss.lambda_perceptual) == (5, 1, 1)
    for cfg in (market, fashion):
        assert (cfg.optim.lr, cfg.optim.beta1, cfg.optim.beta2) == (2e-4, 0.5, 0.999)
    for name in ("synth-market", "synth-fashion", "synth-tiny"):
        cfg = load_config(name)
        assert cfg.loss.lambda_perceptual == 0  # no VGG-19 download assumed
        assert cfg.model.ngf < 64


def test_overrides_parse_nested_keys_with_the_fields_types():
    cfg = load_config("synth-tiny", [
        "model.ngf=16", "optim.lr=1e-3", "loss.lambda_l1=2", "data.flip=false", "model.image_size=64x32",
        "loss.vgg_weights=/w/vgg.pth", "data.root=/data/x=y", "model.cross_attention=false", "run.amp=none",
    ])
    assert cfg.model.ngf == 16 and isinstance(cfg.model.ngf, int)
    assert cfg.optim.lr == 1e-3 and cfg.loss.lambda_l1 == 2.0 and isinstance(cfg.loss.lambda_l1, float)
    assert cfg.data.flip is False and cfg.model.cross_attention is False
    assert cfg.model.image_size == (64, 32)
    assert cfg.loss.vgg_weights == "/w/vgg.pth" and cfg.data.root == "/data/x=y"  # split at the first '='
    assert cfg.override("model.image_size=[96, 48]", "loss.vgg_weights=null").model.image_size == (96, 48)
    assert cfg.override("loss.vgg_weights=null").loss.vgg_weights is None
    assert cfg.override("model.arch=patn", "model.n_blocks=9").model.arch == "patn"


@pytest.mark.parametrize("assignment, message", [
    ("model.nfg=16", "did you mean 'ngf'"),
    ("modle.ngf=16", "did you mean 'model'"),
    ("model.ngf=abc", "model.ngf must be int"),
    ("model.ngf=1.5", "model.ngf must be int"),
    ("model.ngf=12", "multiple of 8"),
    ("data.flip=maybe", "data.flip must be bool"),
    ("optim.batch_size=0", "batch_size"),
    ("optim.ema_half_life=-1", "optim.ema_half_life must be >= 0"),
    ("optim.gate_lr_mult=0", "optim.gate_lr_mult must be > 0"),
    ("run.amp=fp8", "run.amp must be one of"),
    ("run.channels_last=maybe", "run.channels_last must be true, false or auto, got 'maybe'"),
    ("run.channels_last=2", "run.channels_last must be true, false or auto, got '2'"),
    ("model.image_size=big", "image_size"),
    ("ngf=16", "section.key"),
    ("model.ngf", "section.key=value"),
])
def test_bad_overrides_are_errors_naming_the_key(assignment, message):
    with pytest.raises(ConfigError, match=message):
        load_config("synth-tiny", [assignment])


def test_yaml_files_are_checked_like_overrides(tmp_path):
    path = tmp_path / "mine.yaml"
    path.write_text("model:\n  ngf: 16\noptim:\n  batch_size: 2\n")
    cfg = load_config(str(path), ["optim.batch_size=3"])
    assert cfg.model.ngf == 16 and cfg.optim.batch_size == 3 and cfg.model.norm == TrainConfig().model.norm
    path.write_text("optim:\n  batchsize: 2\n")
    with pytest.raises(ConfigError, match=r"mine.yaml: optim: unknown key 'batchsize'; did you mean 'batch_size'"):
        load_config(str(path))
    path.write_text("optim:\n  batch_size: two\n")
    with pytest.raises(ConfigError, match="batch_size must be int"):
        load_config(str(path))
    with pytest.raises(ConfigError, match="unknown preset 'nope'"):
        load_config("nope")


def test_resolved_config_round_trips_through_yaml(tmp_path):
    cfg = load_config("synth-tiny", ["data.root=/d", "loss.vgg_weights_dir=/w", "model.fusion=tail"])
    (tmp_path / "config.yaml").write_text(cfg.to_yaml())
    assert from_dict(read_yaml(tmp_path / "config.yaml")) == cfg


def test_lr_is_constant_then_decays_linearly_to_zero():
    assert [lr_factor(i, 3, 4) for i in range(8)] == [1, 1, 1, 1, 0.75, 0.5, 0.25, 0]
    assert lr_factor(10, 5, 0) == 1.0


def test_precision_settings_accept_auto_and_keep_the_old_defaults():
    cfg = load_config("synth-tiny")
    assert (TrainConfig().run.amp, TrainConfig().run.channels_last) == ("none", False)
    auto = cfg.override("run.amp=auto", "run.channels_last=auto").run
    assert (auto.amp, auto.channels_last) == ("auto", "auto")
    assert cfg.override("run.channels_last=true").run.channels_last is True
    assert cfg.override("run.amp=fp32").run.amp == "fp32"  # the same as "none"
    assert from_dict({"run": {"channels_last": "auto"}}).run.channels_last == "auto"
    with pytest.raises(ConfigError, match="channels_last must be bool or str, got 2"):
        from_dict({"run": {"channels_last": 2}})


def test_discriminator_section_is_the_models_config_with_the_keys_the_trainer_sets_hidden():
    cfg = load_config("synth-tiny", ["discriminator.ndf=8"])
    assert isinstance(cfg.discriminator, DiscriminatorConfig) and cfg.discriminator.ndf == 8
    assert list(cfg.to_dict()["discriminator"]) == ["ndf", "n_blocks", "dropout", "self_attention"]
    for key in ("in_channels", "norm"):  # per network (6 / 21) and model.norm: never the user's
        with pytest.raises(ConfigError, match=f"unknown key '{key}'"):
            cfg.override(f"discriminator.{key}=1")
    with pytest.raises(ConfigError, match=r"discriminator.dropout=1.0'?: dropout must be in \[0, 1\)"):
        cfg.override("discriminator.dropout=1.0")


def test_a_preset_with_a_base_states_only_what_differs_from_it():
    from importlib import resources

    based = 0
    for name in preset_names():
        with resources.as_file(resources.files("pona").joinpath("configs", f"{name}.yaml")) as path:
            own = read_yaml(path)
        if "base" not in own:
            continue
        based += 1
        base = load_config(own.pop("base"))
        for section, values in own.items():
            for key, value in values.items():
                got = getattr(getattr(base, section), key)
                assert (list(got) if isinstance(got, tuple) else got) != value, f"{name}: {section}.{key} restates its base"
        assert load_config(name) != base
    assert based >= 5


def test_a_config_file_inherits_from_a_preset_or_a_file_beside_it(tmp_path):
    (tmp_path / "mine.yaml").write_text("base: synth-market\noptim:\n  lr: 0.003\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "more.yaml").write_text("base: ../mine.yaml\nmodel:\n  ngf: 8\n")
    more, market = load_config(tmp_path / "sub" / "more.yaml"), load_config("synth-market")
    assert more.optim.lr == 0.003 and more.model.ngf == 8
    assert more.model.image_size == market.model.image_size and more.optim.gate_lr_mult == market.optim.gate_lr_mult
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError, match="'base' chain comes back to itself"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "c.yaml").write_text("base: [1]\n")
    with pytest.raises(ConfigError, match="'base' must be a preset name"):
        load_config(tmp_path / "c.yaml")


def test_checks_across_sections_refuse_at_load_time_as_print_config_does():
    with pytest.raises(ConfigError, match="run.recompute_blocks applies to the PoNA generator, not model.arch=patn"):
        load_config("synth-tiny", ["model.arch=patn", "run.recompute_blocks=true"])
    assert load_config("synth-tiny", ["run.recompute_blocks=true"]).run.recompute_blocks
