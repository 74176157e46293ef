rule report:
    """Paper-form tables (Markdown, LaTeX, CSV), plots, DVC metrics and curves from the result files only, plus
    one flat table of every record. Tables and plots are captioned in `snakemake --report report.html`.
    The bootstrap intervals read the test predictions each evaluation job writes beside its result file
    (`<result>.predictions.npz`, written before the result JSON by the same job, so the result files order and
    re-trigger this rule; they are not listed as inputs because the evaluation rules do not declare them).
    """
    input:
        results=eval_results(),
        metrics=pretrain_metrics(),
    output:
        report="results/report/report.md",
        table="results/report/results.md",
        records="results/report/results.csv",
        metrics="results/report/metrics.json",
        tables=report(
            directory("results/report/tables"),
            patterns=["{name}.csv"],
            caption="../report/table.rst",
            category="Tables",
            labels={"table": "{name}"},
        ),
        plots=report(
            directory("results/report/plots"),
            patterns=["{name}.png"],
            caption="../report/plot.rst",
            category="Plots",
            labels={"figure": "{name}"},
        ),
        curves=directory("results/report/curves"),
    log:
        "results/logs/report.log",
    benchmark:
        "results/benchmarks/report.tsv"
    conda:
        BYOL_ENV
    threads: 1
    resources:
        mem_mb=2000,
        # minutes; the bootstrap intervals add about 0.1 s per record of top-1 / per-class accuracy and about
        # 20 s per VOC2007 mAP record (1000 resamples, byol_pkg/report/bootstrap.py)
        runtime=60,
    params:
        out=subpath(output.report, parent=True),
        titles={**TABLE_TITLES, **PLOT_TITLES} | ABLATION_TITLES,
        captions={**TABLE_CAPTIONS, **PLOT_CAPTIONS} | ABLATION_CAPTIONS,
    shell:
        "(byol results {input.results} --by method --markdown --csv {output.records} > {output.table} && "
        "byol report --results {input.results} --metrics {input.metrics} --out {params.out}) 2> {log}"
