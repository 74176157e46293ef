rule report:
    """Paper-form tables (Markdown, LaTeX, CSV) and plots from the result files only, plus one flat table."""
    input:
        results=eval_results(),
        metrics=pretrain_metrics(),
    output:
        report="results/report/report.md",
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
    params:
        out=subpath(output.report, parent=True),
    shell:
        "(byol results {input.results} --by method --markdown --csv {output.records} > {output.table} && "
        "byol report --results {input.results} --metrics {input.metrics} --out {params.out}) 2> {log}"
