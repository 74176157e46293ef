rule pretrain:
    """BYOL pretraining of one configured run and seed (resumes from its checkpoints after an interruption)."""
    input:
        data="results/data/pretrain_{run}.json",
    output:
        encoder="results/pretrain/{run}/seed{seed}/encoder.pt",
        meta="results/pretrain/{run}/seed{seed}/encoder.json",
        # update(): not deleted before a rerun, so a resumed run keeps the rows logged before its checkpoint
        metrics=update("results/pretrain/{run}/seed{seed}/metrics.csv"),
        summary="results/pretrain/{run}/seed{seed}/summary.json",
    log:
        "results/logs/pretrain/{run}/seed{seed}.log",
    benchmark:
        "results/benchmarks/pretrain/{run}/seed{seed}.tsv"
    conda:
        BYOL_ENV
    threads: 8  # capped at --cores locally; SLURM: cpus per task (see the profile)
    resources:
        gpu=pretrain_gpus,
        nodes=1,  # torchrun --standalone: every GPU of the run on one node
        mem_mb=8000,
        runtime=24 * 60,
    params:
        preset=pretrain_preset,
        overrides=pretrain_overrides,
        launcher=pretrain_launcher,
        out=subpath(output.encoder, parent=True),
    shell:
        "BYOL_JOB_CORES={threads} {params.launcher} pretrain --config {params.preset} {params.overrides} --out {params.out} > {log} 2>&1"


rule export_epoch_encoder:
    """The online encoder of a kept epoch checkpoint (for kNN against pretraining epoch)."""
    input:
        final="results/pretrain/{run}/seed{seed}/encoder.pt",  # pretraining done: its checkpoints exist
    output:
        encoder="results/pretrain/{run}/seed{seed}/epochs/epoch{epoch}/encoder.pt",
        meta="results/pretrain/{run}/seed{seed}/epochs/epoch{epoch}/encoder.json",
    log:
        "results/logs/pretrain/{run}/seed{seed}_epoch{epoch}.log",
    benchmark:
        "results/benchmarks/pretrain/{run}/seed{seed}_epoch{epoch}.tsv"
    priority: 30
    conda:
        BYOL_ENV
    threads: 1
    resources:
        mem_mb=4000,
        runtime=10,
    params:
        checkpoint=epoch_checkpoint,
    shell:
        "byol export-encoder --checkpoint {params.checkpoint} --out {output.encoder} > {log} 2>&1"
