rule semisup:
    """Semi-supervised fine-tuning on a labelled subset (Table 2); the subset file is shared by all methods."""
    input:
        encoder=method_encoder,
        data="results/data/{dataset}.json",
    output:
        "results/eval/{method}/seed{seed}/semisup_{subset}/{dataset}.json",
    log:
        "results/logs/eval/{method}/seed{seed}/semisup_{subset}_{dataset}.log",
    benchmark:
        "results/benchmarks/eval/{method}/seed{seed}/semisup_{subset}_{dataset}.tsv"
    priority: 40
    conda:
        BYOL_ENV
    threads: eval_threads()
    resources:
        **eval_resources(mem_mb=8000, runtime=24 * 60),
    params:
        flags=method_flags,
        args=semisup_args,
    shell:
        "BYOL_JOB_CORES={threads} byol semisup --encoder {input.encoder} {params.flags} "
        "--dataset {wildcards.dataset} {params.args} --out {output} > {log} 2>&1"
