rule pretrain:
    """BYOL pretraining of one configured run (resumes from its checkpoints after an interruption)."""
    output:
        encoder="results/pretrain/{run}/encoder.pt",
        summary="results/pretrain/{run}/summary.json",
    log:
        "results/logs/pretrain/{run}.log",
    benchmark:
        "results/benchmarks/pretrain/{run}.tsv"
    conda:
        "../envs/byol.yaml"
    threads: workflow.cores
    resources:
        gpu=0,
        mem_mb=4000,
        runtime=60,
    params:
        preset=lambda wildcards: config["pretrain"][wildcards.run]["config"],
        overrides=pretrain_overrides,
        out=subpath(output.encoder, parent=True),
    shell:
        "byol pretrain --config {params.preset} {params.overrides} --out {params.out} > {log} 2>&1"
