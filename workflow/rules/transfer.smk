rule transfer_linear:
    """Transfer, linear (Table 3 top): logistic regression on cached features, lambda chosen on validation."""
    input:
        encoder=method_encoder,
        features="results/eval/{method}/seed{seed}/features/{dataset}.json",
    output:
        "results/eval/{method}/seed{seed}/transfer_linear/{dataset}.json",
    log:
        "results/logs/eval/{method}/seed{seed}/transfer_linear_{dataset}.log",
    benchmark:
        "results/benchmarks/eval/{method}/seed{seed}/transfer_linear_{dataset}.tsv"
    conda:
        BYOL_ENV
    threads: eval_threads()
    resources:
        **eval_resources(mem_mb=8000, runtime=120),
    params:
        flags=method_flags,
        args=transfer_linear_args,
    shell:
        "BYOL_JOB_CORES={threads} byol transfer-linear --encoder {input.encoder} {params.flags} "
        "--dataset {wildcards.dataset} {params.args} --out {output} > {log} 2>&1"


rule transfer_finetune:
    """Transfer, fine-tuned (Table 3 bottom): LR x wd grid on validation, refit on train+val, test once."""
    input:
        encoder=method_encoder,
        data="results/data/{dataset}.json",
    output:
        "results/eval/{method}/seed{seed}/transfer_finetune/{dataset}.json",
    log:
        "results/logs/eval/{method}/seed{seed}/transfer_finetune_{dataset}.log",
    benchmark:
        "results/benchmarks/eval/{method}/seed{seed}/transfer_finetune_{dataset}.tsv"
    conda:
        BYOL_ENV
    threads: eval_threads()
    resources:
        **eval_resources(mem_mb=8000, runtime=48 * 60),
    params:
        flags=method_flags,
        args=finetune_args,
    shell:
        "BYOL_JOB_CORES={threads} byol finetune --encoder {input.encoder} {params.flags} "
        "--dataset {wildcards.dataset} {params.args} --out {output} > {log} 2>&1"
