"""Helpers shared by the rules: config validation, config look-ups and target lists."""

from snakemake.utils import validate

validate(config, schema="../schemas/config.schema.yaml")


def pretrain_encoders():
    """The online encoder of every pretraining run named in config["pretrain"]."""
    return expand("results/pretrain/{run}/encoder.pt", run=list(config["pretrain"]))


def pretrain_overrides(wildcards):
    """The run's --set KEY=VALUE options."""
    sets = config["pretrain"][wildcards.run].get("set") or {}
    return " ".join(f"--set {key}={value}" for key, value in sets.items())
