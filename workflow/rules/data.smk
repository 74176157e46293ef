# Data preparation: every dataset is checked in its real on-disk layout before any job uses it, its splits
# (the paper's hold-outs included) are written as file lists under results/features/splits/, and a manifest
# records their sizes and hashes.


rule prepare_dataset:
    """An evaluation dataset: every split the protocols use, as lists + results/data/<dataset>.json."""
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
