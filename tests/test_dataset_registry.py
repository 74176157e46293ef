"""One record per dataset: every consumer (prepare, the evaluation commands' splits and metric, the report's
names and published rows, the config's choices) reads :class:`byol_pkg.data.registry.DatasetInfo`, so that a
dataset registered in one module shows up everywhere."""

from __future__ import annotations

import numpy as np
import pytest

from byol_pkg.config import ConfigError, choices, load_config
from byol_pkg.data import ArrayImageDataset
from byol_pkg.data.prepare import evaluation_splits, paper_splits
from byol_pkg.data.registry import (DATASETS, PUBLISHED_KEYS, ROLES, DatasetInfo, PaperSizes, dataset_info,
                                    metric_for_dataset, register_dataset, registered)
from byol_pkg.data.transfer import TABLE3_ORDER, TRANSFER_DATASETS
from byol_pkg.metrics import METRICS
from byol_pkg.report import published as pub
from byol_pkg.report.records import dataset_label, table3_metric


@pytest.mark.parametrize("name", sorted(DATASETS))
def test_every_record_is_consistent(name):
    info = DATASETS[name].info
    assert info.name == name and DATASETS[name].splits == info.splits
    assert info.metric in METRICS and info.published in (None, *PUBLISHED_KEYS)
    roles = [getattr(info, r) for r in ROLES]
    assert all(r is None for r in roles) or all(r is not None for r in roles)
    if info.has_paper_splits and info.splits is not None:
        assert set(roles) <= set(info.splits)
    if info.paper is not None:
        assert info.has_paper_splits and min(vars(info.paper).values()) > 0


def test_the_paper_facts_are_read_from_the_records():
    assert tuple(TRANSFER_DATASETS) == TABLE3_ORDER == pub.TABLE3_DATASETS
    assert set(registered(published="table3")) == set(TABLE3_ORDER)
    assert pub.IMAGENET_NAMES == {"imagenet", "imagefolder", "ilsvrc2012", "imagenet1k"}
    assert choices()["data.name"] == tuple(registered(pretraining=True))
    assert set(choices()["data.name"]) == {"fashion_mnist", "digits", "cifar10", "cifar100", "stl10", "imagefolder"}
    assert dataset_info("imagenet").paper == PaperSizes(1_281_167, 1_271_158, 10_009, 50_000)
    assert [dataset_label(n) for n in ("fgvc_aircraft", "fashion_mnist", "imagefolder", "nope")] == \
        ["Aircraft", "Fashion-MNIST", "ImageNet", "nope"]
    assert {n: metric_for_dataset(n) for n in ("FGVC-Aircraft", "VOC07", "Pets", "places365")} == \
        {"FGVC-Aircraft": "mean_per_class", "VOC07": "voc07_map", "Pets": "mean_per_class", "places365": "top1"}
    assert paper_splits("fashion_mnist") is None and paper_splits("cifar10").val == "transfer_val"


@pytest.fixture
def new_dataset():
    """A dataset added as a user would: one record and one builder, nothing else."""
    info = DatasetInfo("tiny_pets", "Tiny Pets", 2, ("fit", "select", "all", "held"), metric="mean_per_class",
                       train="fit", val="select", trainval="all", test="held", pretraining=True,
                       aliases=("tinypet",))

    @register_dataset(info)
    def build(root, split, download, max_samples):
        return ArrayImageDataset("tiny_pets", split, np.zeros((4, 3, 8, 8), np.uint8), np.arange(4) % 2, 2,
                                 max_samples=max_samples)

    yield info
    DATASETS.pop("tiny_pets")


def test_a_new_dataset_reaches_every_consumer(new_dataset):
    assert evaluation_splits("Tiny-Pets") == {"train": "fit", "val": "select", "trainval": "all", "test": "held"}
    assert metric_for_dataset("tinypet") == table3_metric("tiny_pets") == "mean_per_class"
    assert dataset_label("tiny_pets") == "Tiny Pets"
    assert load_config(None, ["data.name=tiny_pets"]).data.name == "tiny_pets"
    with pytest.raises(ConfigError, match="'data.name' must be one of .*tiny_pets"):
        load_config(None, ["data.name=tiny_petz"])
