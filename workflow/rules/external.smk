# Encoders from outside the workflow: DeepMind's official BYOL checkpoint, converted to our encoder format.
# (A torchvision/timm state dict needs no rule: the evaluation commands read it with --backbone.)


rule convert_official:
    """The official BYOL release (a pickled Haiku checkpoint) -> encoder.pt + encoder.json (online encoder)."""
    input:
        official_weights,
    output:
        encoder="results/external/{method}/encoder.pt",
        meta="results/external/{method}/encoder.json",
    log:
        "results/logs/external/{method}.log",
    benchmark:
        "results/benchmarks/external/{method}.tsv"
    conda:
        BYOL_ENV
    threads: 1
    resources:
        mem_mb=8000,
        runtime=30,
    params:
        depth=official_depth,
    shell:
        "byol convert-official --checkpoint {input} --depth {params.depth} --out {output.encoder} > {log} 2>&1"
