"""Titles and captions of the report's tables and plots: one home for the text shown in ``report.md`` and in
``snakemake --report`` (the report rule passes these dicts to ``workflow/report/{table,plot}.rst``). Plain
strings only (no imports): the Snakefile imports this module."""

TABLE_NAMES = ("table1", "table2", "table3", "knn", "comparisons")
TABLE_TITLES = {
    "table1": "Table 1 — linear evaluation",
    "table2": "Table 2 — semi-supervised",
    "table3": "Table 3 — transfer",
    "knn": "kNN accuracy",
    "comparisons": "Method comparisons",
}
def bootstrap_note(resamples: int = 1000, level: float = 0.95, seed: int = 0) -> str:
    """The caption sentence on the paper tables' intervals (``report/bootstrap.py``)."""
    if resamples < 1:
        return "No bootstrap intervals (switched off)."
    return (f"In brackets after a single-seed number: its {100 * level:g} % percentile bootstrap interval over "
            f"the test images ({resamples} resamples of the test examples with replacement, seed {seed}; the "
            "metric recomputed from the predictions saved beside the result), which covers test-set sampling, "
            "not training randomness. The CSV has it for every cell of ours (ci_low, ci_high; several seeds: "
            "of the mean over seeds, the same resamples for each).")


def paired_note(resamples: int = 1000, level: float = 0.95, seed: int = 0) -> str:
    """The caption sentence on the comparisons' paired bootstrap."""
    if resamples < 1:
        return "No paired bootstrap (switched off)."
    return (f"Paired {100 * level:g} % CI of Δ: the percentile bootstrap of mean A − mean B over the shared test "
            f"images, both methods scored on the same {resamples} resamples of the test examples (seed {seed}; "
            "the mean over seeds on each resample); 'CI excludes 0' is yes when the interval does not contain 0. "
            "It covers test-set sampling only; the seed spread covers training randomness.")


#: The captions without the bootstrap sentence (the tables add it with their own settings and gaps).
TABLE_BASE_CAPTIONS = {
    "table1": (
        "Linear evaluation of the frozen encoder (protocol `linear`; variant `cached`: centre-crop "
        "features, `augmented`: crop + flip on the fly). Ours: mean ± std over seeds (n = seeds). "
        "Published: paper Table 1 (ImageNet, ResNet-50), only in ImageNet columns."
    ),
    "table2": (
        "Semi-supervised: the whole network fine-tuned on a class-balanced fraction of the training "
        "labels (protocol `semisup`). Ours: mean ± std over seeds (n = seeds). Published: paper Table 2 "
        "(ImageNet 1 % / 10 %, ResNet-50), only in ImageNet columns; its 'Supervised [77]' row is a network "
        "trained from scratch on the labelled fraction only (S4L), the counterpart of our Random init row."
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
TABLE_CAPTIONS = {name: f"{text} {paired_note() if name == 'comparisons' else bootstrap_note()}"
                  for name, text in TABLE_BASE_CAPTIONS.items()}
PLOT_CAPTIONS = {
    "transfer": "Transfer (Table 3 protocols): our mean per dataset (error bar: std over seeds) beside the "
                "paper's ImageNet-pretrained ResNet-50 values (hatched) for the same methods. The axis names the "
                "metrics; datasets not scored by top-1 name theirs under the tick.",
    "semisup": "Semi-supervised: accuracy against the labelled fraction of the training set (log axis), per "
               "method; error bars: std over seeds. Dashed: the paper's ImageNet 1 % / 10 % values (Table 2, "
               "ResNet-50), on ImageNet panels only, in the colour of the method each stands beside "
               "('Supervised [77]', trained on the labelled fraction only: Random init).",
    "pretrain_curves": "Pretraining curves against optimiser step: the training loss of each run's method (BYOL: "
                       "0-8 scale, both directions summed; SimCLR: 4 + 4α × NT-Xent; supervised: cross-entropy), "
                       "target EMA rate τ (cosine from τ_base to 1; absent without a target network), learning rate "
                       "(warm-up then cosine) and the collapse monitor (per-dimension std of the l2-normalised "
                       "online projections, or representations for supervised, averaged; about 1/sqrt(dim) when "
                       "spread out, 0 when collapsed).",
    "knn_vs_epoch": "kNN top-1 accuracy of intermediate pretraining checkpoints against the epoch they were "
                    "saved at, per method (colour) and k (line style); bands: std over seeds.",
}
PLOT_TITLES = {"transfer": "Transfer: ours vs published", "semisup": "Accuracy against label fraction",
               "pretrain_curves": "Pretraining curves", "knn_vs_epoch": "kNN accuracy during pretraining"}

# ----------------------------------------------------------------------------------------------- ablations
# Ablation tables and plots have dynamic names ``ablation_<name>`` (one per ablation found in the results), so
# they are kept apart from the fixed names above; ``table_title`` & co. look a name up in both and fall back to
# a generic text for an ablation not listed here. A table and its plot share the name ``ablation_<name>``.

ABLATION_NAMES = ("tau", "objective", "collapse", "batch_size", "augmentation")
_ABLATION_COMMON = (
    "Rows: the ablation's variants (paper order first, then others). Per method varied: linear top-1 (and top-5) "
    "and kNN top-1 of ours, mean ± std over seeds (n = seeds); Δ = our top-1 minus the baseline row's; the final "
    "collapse std of the variant's pretraining run (per-dimension std of the l2-normalised online outputs, "
    "about 1/sqrt(dim) when spread out, near 0 when collapsed), mean over seeds; and the paper's value "
    "(ImageNet, ResNet-50, 300 epochs; other dataset and scale than ours, so compare trends, not levels)."
)
ABLATION_TABLE_TITLES = {
    "ablation_tau": "Ablation — target network τ_base (paper Table 5a)",
    "ablation_objective": "Ablation — predictor, target network and β (paper Table 5b)",
    "ablation_collapse": "Ablation — collapse without predictor and target network, longer pretraining (paper "
                         "Table 5b)",
    "ablation_batch_size": "Ablation — batch size (paper Table 16)",
    "ablation_augmentation": "Ablation — image augmentations (paper Table 17)",
}
ABLATION_TABLE_CAPTIONS = {
    "ablation_tau": "Target network modes: τ_base of the target's exponential moving average (1: a constant "
                    "random target, 0: the online network itself). Δ against the variant that reuses the "
                    "method's own pretraining run, when there is one. " + _ABLATION_COMMON,
    "ablation_objective": "Intermediate variants between BYOL and SimCLR: with or without predictor and target "
                          "network, β = weight of the negative-pair term (α = 0.1). Δ against the `byol` row. "
                          + _ABLATION_COMMON,
    "ablation_collapse": "Table 5b's rows pretrained longer than the objective ablation (see the config): "
                         "without predictor and target network (β = 0) the online outputs collapse first and the "
                         "encoder follows, so the linear probe falls to chance (10% on 10 classes), while BYOL "
                         "does not collapse. Δ against the `byol` row. " + _ABLATION_COMMON,
    "ablation_batch_size": "Pretraining batch size as in the paper (App. F.2): a batch N times smaller than the "
                           "largest is a micro-batch, gradients are averaged over N micro-batches before each "
                           "optimiser step and target update, so every row has the largest batch's learning rate "
                           "and optimiser steps; only the BatchNorm batch (and SimCLR's negatives) shrink. Δ "
                           "against the largest batch. Published: BYOL and SimCLR (repro) columns of Table 16. "
                           + _ABLATION_COMMON,
    "ablation_augmentation": "Augmentations removed from (or kept in) the BYOL augmentation pipeline. Δ against the "
                             "`baseline` row. Published: BYOL and SimCLR (repro) columns of Table 17. "
                             + _ABLATION_COMMON,
}
ABLATION_PLOT_TITLES = {
    "ablation_tau": "Ablation: target network τ_base",
    "ablation_objective": "Ablation: predictor, target network and β",
    "ablation_collapse": "Ablation: collapse without predictor and target network (longer pretraining)",
    "ablation_batch_size": "Ablation: batch size (as paper Figure 3a)",
    "ablation_augmentation": "Ablation: image augmentations (as paper Figure 3b)",
}
_ABLATION_BARS = ("Left: our linear top-1 per variant (kNN top-1 when there is no linear result), error bars: std "
                  "over seeds; middle: the paper's top-1 (ImageNet, ResNet-50, 300 epochs, hatched), on its own "
                  "axis as the datasets differ; right: final collapse std of the variant's pretraining run (near "
                  "0 = collapsed).")
_ABLATION_DROPS = ("drop of linear top-1 from the baseline (baseline minus variant, percentage points); ours solid "
                   "(error bars: std over seeds), the paper's BYOL / SimCLR (repro) drops dashed / hatched and "
                   "labelled 'published (ImageNet)', taken from the same baseline row as ours where the paper has "
                   "it (else from the paper's baseline).")
ABLATION_PLOT_CAPTIONS = {
    "ablation_tau": "Target network τ_base. " + _ABLATION_BARS,
    "ablation_objective": "Predictor / target network / β variants between BYOL and SimCLR. " + _ABLATION_BARS,
    "ablation_collapse": "BYOL and the no-predictor, no-target variant (β = 0), pretrained longer. "
                         + _ABLATION_BARS,
    "ablation_batch_size": "Batch size (the micro-batch: gradients accumulated to the largest batch, same "
                           "learning rate and steps) against the " + _ABLATION_DROPS + " Baseline: the largest "
                           "batch.",
    "ablation_augmentation": "Augmentation sets: the " + _ABLATION_DROPS + " Baseline: the `baseline` row.",
}


def ablation_key(name: str) -> str:
    """The ablation name of a table / plot name (``ablation_tau`` -> ``tau``)."""
    return name.removeprefix("ablation_")


def table_title(name: str) -> str:
    """Title of a table, fixed or ablation (generic for an ablation not listed)."""
    return {**TABLE_TITLES, **ABLATION_TABLE_TITLES}.get(name) or f"Ablation — {ablation_key(name)}"


def table_caption(name: str) -> str:
    """Caption of a table, fixed or ablation (generic for an ablation not listed)."""
    return {**TABLE_CAPTIONS, **ABLATION_TABLE_CAPTIONS}.get(name) or (
        f"Ablation `{ablation_key(name)}` (no paper table). Δ against the variant that reuses the method's own "
        "pretraining run, when there is one. " + _ABLATION_COMMON)


def plot_title(name: str) -> str:
    """Title of a plot, fixed or ablation (generic for an ablation not listed)."""
    return {**PLOT_TITLES, **ABLATION_PLOT_TITLES}.get(name) or f"Ablation: {ablation_key(name)}"


def plot_caption(name: str) -> str:
    """Caption of a plot, fixed or ablation (generic for an ablation not listed)."""
    return {**PLOT_CAPTIONS, **ABLATION_PLOT_CAPTIONS}.get(name) or (
        f"Ablation `{ablation_key(name)}`. " + _ABLATION_BARS.replace("middle: the paper's", "middle (when "
                                                                        "published): the paper's"))


def ablation_report_texts(ablations) -> tuple[dict[str, str], dict[str, str]]:
    """``(titles, captions)`` for ``snakemake --report``, keyed ``ablation_<name>`` for the given ablation names:
    one text per name serving both the table (``.csv``) and the plot (``.png``), which share that name."""
    titles, captions = {}, {}
    for ablation in ablations:
        name = f"ablation_{ablation}"
        titles[name] = table_title(name)
        captions[name] = f"{table_caption(name)} Plot: {plot_caption(name)}"
    return titles, captions
