# Data preparation: every dataset is checked in its real on-disk layout before any job uses it, its splits
# (the paper's hold-outs included) are written as file lists under results/features/splits/, and a manifest
# records their sizes and hashes. With `download: true`, each dataset read from data_root is first fetched from
# its public source (byol download; a dataset already complete is left alone).

# `download: true` makes each prepare job wait for its dataset's download record (none otherwise):
# byol_pkg.data.download.workflow_markers.
from byol_pkg.data.download import workflow_markers


rule download_dataset:
    """A dataset's public files fetched into data_root, checksums verified (byol download; manual steps for one
    without a public source): results/data/download/<name>.json records what was fetched.
    """
    output:
        "results/data/download/{name}.json",
    log:
        "results/logs/data/download_{name}.log",
    benchmark:
        "results/benchmarks/data/download_{name}.tsv"
    wildcard_constraints:
        name=r"[A-Za-z0-9_-]+",
    conda:
        BYOL_ENV
    threads: 1
    resources:
        mem_mb=2000,
        runtime=24 * 60,
    params:
        root=config["data_root"],
    shell:
        "byol download {wildcards.name} --root {params.root} --out {output} > {log} 2>&1"


rule prepare_dataset:
    """An evaluation dataset: every split the protocols use, as lists + results/data/<dataset>.json."""
    input:
        lambda wildcards: workflow_markers(config, wildcards.dataset),
    output:
        "results/data/{dataset}.json",
    log:
        "results/logs/data/{dataset}.log",
    benchmark:
        "results/benchmarks/data/{dataset}.tsv"
    conda:
        BYOL_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        root=config["data_root"],
    shell:
        "byol prepare --dataset {wildcards.dataset} --root {params.root} --cache-root results/features "
        "--out {output} > {log} 2>&1"


rule prepare_pretrain_data:
    """The pretraining dataset of a run, built as `byol pretrain` builds it: results/data/pretrain_<run>.json."""
    input:
        lambda wildcards: workflow_markers(
            config,
            run_config(wildcards.run).data.name,
            run_config(wildcards.run).data.root,
        ),
    output:
        "results/data/pretrain_{run}.json",
    log:
        "results/logs/data/pretrain_{run}.log",
    benchmark:
        "results/benchmarks/data/pretrain_{run}.tsv"
    conda:
        BYOL_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=60,
    params:
        preset=pretrain_preset,
        overrides=pretrain_data_overrides,
    shell:
        "byol prepare --config {params.preset} {params.overrides} --cache-root results/features "
        "--out {output} > {log} 2>&1"
