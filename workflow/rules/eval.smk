# Evaluation of every method's encoder: frozen features, then the paper's protocols. Each rule writes one result
# file (a JSON list of tidy records) under results/eval/<method>/seed<seed>/<protocol>/<dataset>.json.


rule extract:
    """Frozen-encoder features of the splits a dataset's protocols use (cached under results/features/)."""
    input:
        encoder=method_encoder,
        data="results/data/{dataset}.json",
    output:
        "results/eval/{method}/seed{seed}/features/{dataset}.json",
    log:
        "results/logs/eval/{method}/seed{seed}/features_{dataset}.log",
    benchmark:
        "results/benchmarks/eval/{method}/seed{seed}/features_{dataset}.tsv"
    priority: 60
    conda:
        BYOL_ENV
    threads: eval_threads()
    resources:
        **eval_resources(mem_mb=4000, runtime=120),
    params:
        flags=method_flags,
        preprocessing=extract_preprocessing,
    shell:
        "BYOL_JOB_CORES={threads} byol extract --encoder {input.encoder} {params.flags} "
        "--dataset {wildcards.dataset} --preprocessing {params.preprocessing} --out {output} > {log} 2>&1"


rule knn:
    """Weighted kNN accuracy on the cached features (labelled kNN, not linear accuracy)."""
    input:
        encoder=method_encoder,
        features="results/eval/{method}/seed{seed}/features/{dataset}.json",
    output:
        "results/eval/{method}/seed{seed}/knn/{dataset}.json",
    log:
        "results/logs/eval/{method}/seed{seed}/knn_{dataset}.log",
    benchmark:
        "results/benchmarks/eval/{method}/seed{seed}/knn_{dataset}.tsv"
    conda:
        BYOL_ENV
    threads: eval_threads()
    resources:
        **eval_resources(mem_mb=4000, runtime=30),
    params:
        flags=method_flags,
        args=protocol_args(EVAL.get("knn")),
    shell:
        "BYOL_JOB_CORES={threads} byol knn --encoder {input.encoder} {params.flags} "
        "--dataset {wildcards.dataset} {params.args} --out {output} > {log} 2>&1"


rule knn_epoch:
    """kNN accuracy of an intermediate pretraining checkpoint (the kNN-against-epoch plot)."""
    input:
        unpack(epoch_inputs),
    output:
        "results/eval/{method}/seed{seed}/knn_epochs/{dataset}_epoch{epoch}.json",
    log:
        "results/logs/eval/{method}/seed{seed}/knn_{dataset}_epoch{epoch}.log",
    benchmark:
        "results/benchmarks/eval/{method}/seed{seed}/knn_{dataset}_epoch{epoch}.tsv"
    priority: 30
    conda:
        BYOL_ENV
    threads: eval_threads()
    resources:
        **eval_resources(mem_mb=4000, runtime=60),
    params:
        flags=method_flags,
        args=protocol_args(EVAL.get("knn")),
    shell:
        "BYOL_JOB_CORES={threads} byol knn --encoder {input.encoder} {params.flags} "
        "--dataset {wildcards.dataset} {params.args} --pretrain-epoch {wildcards.epoch} "
        "--out {output} > {log} 2>&1"


rule linear:
    """Linear evaluation (Table 1): on cached features, or on crop + flip views computed on the fly."""
    input:
        encoder=method_encoder,
        data="results/data/{dataset}.json",
        features="results/eval/{method}/seed{seed}/features/{dataset}.json",
    output:
        "results/eval/{method}/seed{seed}/linear_{mode}/{dataset}.json",
    log:
        "results/logs/eval/{method}/seed{seed}/linear_{mode}_{dataset}.log",
    benchmark:
        "results/benchmarks/eval/{method}/seed{seed}/linear_{mode}_{dataset}.tsv"
    wildcard_constraints:
        mode="cached|augmented",
    priority: 50
    conda:
        BYOL_ENV
    threads: eval_threads()
    resources:
        **eval_resources(mem_mb=4000, runtime=24 * 60),
    params:
        flags=method_flags,
        args=linear_args,
    shell:
        "BYOL_JOB_CORES={threads} byol linear --encoder {input.encoder} {params.flags} "
        "--dataset {wildcards.dataset} {params.args} --out {output} > {log} 2>&1"
