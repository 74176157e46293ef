"""Titles and captions of the report's tables and plots: one home for the text shown in ``report.md`` and in
``snakemake --report`` (the report rule passes these dicts to ``workflow/report/{table,plot}.rst``). Plain
strings only: the Snakefile imports this module."""

TABLE_NAMES = ("table1", "table2", "table3", "knn", "comparisons")
TABLE_TITLES = {
    "table1": "Table 1 — linear evaluation",
    "table2": "Table 2 — semi-supervised",
    "table3": "Table 3 — transfer",
    "knn": "kNN accuracy",
    "comparisons": "Method comparisons",
}
TABLE_CAPTIONS = {
    "table1": (
        "Linear evaluation of the frozen encoder (protocol `linear`; variant `cached`: centre-crop "
        "features, `augmented`: crop + flip on the fly). Ours: mean ± std over seeds (n = seeds). "
        "Published: paper Table 1 (ImageNet, ResNet-50), only in ImageNet columns."
    ),
    "table2": (
        "Semi-supervised: the whole network fine-tuned on a class-balanced fraction of the training "
        "labels (protocol `semisup`). Ours: mean ± std over seeds (n = seeds). Published: paper Table 2 "
        "(ImageNet 1 % / 10 %, ResNet-50), only in ImageNet columns."
    ),
    "table3": (
        "Transfer: linear evaluation (L2 logistic regression on frozen features, protocol "
        "`transfer_linear`) and fine-tuning of the whole network (`finetune`). Metric per dataset as in "
        "the paper: top-1 unless named in the header (mean per-class accuracy, VOC2007 11-point mAP). "
        "Ours: mean ± std over seeds (n = seeds). Published: paper Table 3 (ImageNet-pretrained "
        "ResNet-50), only for the paper's 12 datasets."
    ),
    "knn": (
        "Weighted kNN top-1 accuracy (cosine similarity, temperature-weighted votes) of the final "
        "encoder's frozen features; mean ± std over seeds (n = seeds). Not a paper table."
    ),
    "comparisons": (
        "Method A against method B on every cell both report: Δ = difference of the seed means; "
        "'exceeds' is yes when |Δ| > std A + std B (n/a when either has a single seed)."
    ),
}
PLOT_CAPTIONS = {
    "transfer": "Transfer (Table 3 protocols): our mean per dataset (error bar: std over seeds) beside the "
                "paper's ImageNet-pretrained ResNet-50 values (hatched) for the same methods. The axis names the "
                "metrics; datasets not scored by top-1 name theirs under the tick.",
    "semisup": "Semi-supervised: accuracy against the labelled fraction of the training set (log axis), per "
               "method; error bars: std over seeds. Dashed: the paper's ImageNet 1 % / 10 % values (Table 2, "
               "ResNet-50), on ImageNet panels only.",
    "pretrain_curves": "Pretraining curves against optimiser step: BYOL loss (0-8 scale: both directions summed), "
                       "target EMA rate τ (cosine from τ_base to 1), learning rate (warm-up then cosine) and the "
                       "collapse monitor (per-dimension std of the l2-normalised online outputs, averaged; about "
                       "1/sqrt(dim) when spread out, 0 when collapsed).",
    "knn_vs_epoch": "kNN top-1 accuracy of intermediate pretraining checkpoints against the epoch they were "
                    "saved at, per method (colour) and k (line style); bands: std over seeds.",
}
PLOT_TITLES = {"transfer": "Transfer: ours vs published", "semisup": "Accuracy against label fraction",
               "pretrain_curves": "Pretraining curves", "knn_vs_epoch": "kNN accuracy during pretraining"}
