"""Config: defaults, presets, overrides and one-line errors that name the key."""

import pytest

from byol_pkg.cli import main
from byol_pkg.config import ConfigError, load_config, parse_override, to_flat_dict


def test_defaults_are_the_paper_values():
    cfg = load_config(None)
    assert cfg.optim.base_lr == 0.2 and cfg.optim.weight_decay == 1.5e-6 and cfg.target.base_tau == 0.996
    assert cfg.optim.momentum == 0.9 and cfg.optim.trust_coefficient == 1e-3 and cfg.optim.warmup_epochs == 10
    assert (cfg.model.projector_hidden, cfg.model.projector_out, cfg.model.predictor_hidden) == (4096, 256, 4096)
    assert (cfg.augment.view1.blur_prob, cfg.augment.view1.solarize_prob) == (1.0, 0.0)
    assert (cfg.augment.view2.blur_prob, cfg.augment.view2.solarize_prob) == (0.1, 0.2)


@pytest.mark.parametrize("preset", ["demo", "cifar10", "imagenet"])
def test_presets_load(preset):
    cfg = load_config(preset)
    assert cfg.optim.batch_size > 0


def test_imagenet_preset_is_the_paper_run():
    cfg = load_config("imagenet")
    assert cfg.model.backbone == "resnet50" and cfg.optim.global_batch == 4096 and cfg.optim.epochs == 1000
    assert cfg.optim.base_lr == 0.2 and cfg.optim.weight_decay == 1.5e-6 and cfg.target.base_tau == 0.996
    assert cfg.augment.image_size == 224 and cfg.augment.blur and cfg.data.epoch_size == 1281167


def test_overrides_parse_yaml_values():
    cfg = load_config("demo", ["optim.base_lr=0.3", "train.max_steps=5", "augment.mean=[0.5, 0.5, 0.5]",
                               "data.max_samples=null"])
    assert cfg.optim.base_lr == 0.3 and cfg.train.max_steps == 5 and cfg.augment.mean == [0.5, 0.5, 0.5]
    assert cfg.data.max_samples is None
    assert parse_override("a.b.c=1") == {"a": {"b": {"c": 1}}}


@pytest.mark.parametrize(
    "override, key",
    [
        ("optim.base_lrr=0.3", "optim.base_lrr"),
        ("optim.batch_size=abc", "optim.batch_size"),
        ("optim.batch_size=1.5", "optim.batch_size"),
        ("model.cifar_stem=3", "model.cifar_stem"),
        ("train.precision=fp8", "train.precision"),
        ("augment.view2.solarize_prob=1.5", "augment.view2.solarize_prob"),
        ("optim.batch_size=0", "optim.batch_size"),
        ("target.base_tau=2", "target.base_tau"),
    ],
)
def test_bad_values_give_one_line_naming_the_key(override, key):
    with pytest.raises(ConfigError) as err:
        load_config("demo", [override])
    msg = str(err.value)
    assert f"'{key}'" in msg and "\n" not in msg


def test_bad_file_errors(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("optim: [1, 2\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
    unknown = tmp_path / "unknown.yaml"
    unknown.write_text("optim:\n  epoch: 3\n")
    with pytest.raises(ConfigError, match=r"unknown\.yaml: unknown config key 'optim.epoch'"):
        load_config(unknown)
    with pytest.raises(ConfigError, match="not a preset"):
        load_config(tmp_path / "missing.yaml")


def test_cli_prints_resolved_config_and_reports_errors(capsys):
    assert main(["config", "--config", "demo", "--set", "optim.epochs=7"]) == 0
    assert "epochs: 7.0" in capsys.readouterr().out
    assert main(["pretrain", "--config", "demo", "--set", "optim.nope=1", "--out", "/nonexistent/x"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "'optim.nope'" in err


def test_flat_dict_covers_every_key():
    """Every leaf field of the Config dataclass tree, found by walking the dataclasses themselves, is a key."""
    import dataclasses

    def leaves(node, prefix=""):
        for f in dataclasses.fields(node):
            value = getattr(node, f.name)
            if dataclasses.is_dataclass(value):
                yield from leaves(value, f"{prefix}{f.name}.")
            else:
                yield f"{prefix}{f.name}", value

    cfg = load_config(None)
    expected = dict(leaves(cfg))
    flat = to_flat_dict(cfg)
    assert len(expected) > 50 and set(flat) == set(expected)
    assert flat["augment.view2.blur_prob"] == 0.1 and "train.max_steps" in flat


def test_partial_view_section_keeps_that_views_defaults():
    cfg = load_config(None, ["augment.view2.min_scale=0.2"])
    assert cfg.augment.view2.min_scale == 0.2
    assert (cfg.augment.view2.blur_prob, cfg.augment.view2.solarize_prob) == (0.1, 0.2)  # still T'
    demo = load_config("demo")
    assert (demo.augment.view1.solarize_prob, demo.augment.view2.solarize_prob) == (0.0, 0.2)
    assert demo.augment.view1.min_scale == demo.augment.view2.min_scale == 0.2


def test_moved_keys_are_read_at_their_new_place(tmp_path, caplog):
    """data.on_device / data.decode moved to augment: (issue 17); an old config or checkpoint still loads."""
    old = tmp_path / "old.yaml"
    old.write_text("data:\n  on_device: never\n  decode: device\naugment:\n  backend: batched\n")
    with caplog.at_level("WARNING"):
        cfg = load_config(str(old))
    assert (cfg.augment.on_device, cfg.augment.decode, cfg.augment.backend) == ("never", "device", "batched")
    assert "config key 'data.on_device' is now 'augment.on_device'" in caplog.text
    assert not hasattr(cfg.data, "on_device")
    with pytest.raises(ConfigError, match="'augment.decode' must be one of workers, device"):
        load_config(None, ["augment.decode=gpu"])
