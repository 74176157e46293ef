rule report:
    """Every result file collected into one table (the paper-form tables and plots build on it)."""
    input:
        results=eval_results(),
        metrics=pretrain_metrics(),
    output:
        table="results/report/results.md",
        records="results/report/results.csv",
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        "../envs/byol.yaml"
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    shell:
        "byol results {input.results} --by method --markdown --csv {output.records} > {output.table} 2> {log}"
