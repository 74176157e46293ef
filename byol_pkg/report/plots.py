"""Report figures (seaborn on matplotlib's Agg canvas, no pyplot state), each saved as PNG and PDF.

Every function takes result records (or metrics CSVs) and an output folder, returns the paths it wrote, and
writes nothing when it has nothing to plot.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd
import seaborn as sns
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from ..io import atomic_write
from . import published as pub
from .records import (METRIC_NAMES, PROTOCOL_NAMES, dataset_label, dataset_order, final_records, is_ablation_run,
                      k_of, method_label, pick_table3_metric, prepare, sorted_labels)

PUBLISHED_SUFFIX = " (published, R50)"
CURVE_COLUMNS = (("loss", "training loss (each run's objective)"), ("tau", "target EMA τ"), ("lr", "learning rate"),
                 ("collapse_std", "collapse std (0 = collapsed)"))


def new_figure(width: float, height: float, nrows: int = 1, ncols: int = 1, **kwargs):
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    axes = fig.subplots(nrows, ncols, squeeze=False, **kwargs)
    return fig, axes


def save_figure(fig: Figure, out_dir: str | Path, stem: str) -> list[Path]:
    """Save ``<stem>.png`` (150 dpi) and ``<stem>.pdf`` atomically; returns both paths."""
    paths = []
    for ext, kwargs in (("png", {"dpi": 150, "metadata": {"Software": None}}),
                        ("pdf", {"metadata": {"CreationDate": None, "Creator": None, "Producer": None}})):
        buf = io.BytesIO()
        fig.savefig(buf, format=ext, **kwargs)
        paths.append(atomic_write(Path(out_dir) / f"{stem}.{ext}", lambda f, b=buf: f.write(b.getvalue())))
    return paths


def _palette(labels: list[str]) -> dict[str, tuple]:
    """One colour per method; a published row gets a lighter shade of its method's colour."""
    base = [lab for lab in labels if not lab.endswith(PUBLISHED_SUFFIX)]
    colours = dict(zip(base, sns.color_palette("deep", max(len(base), 1))))
    extra = iter(sns.color_palette("pastel", len(labels)))
    out = {}
    for lab in labels:
        if lab in colours:
            out[lab] = colours[lab]
        else:
            ours = lab.removesuffix(PUBLISHED_SUFFIX)
            out[lab] = sns.light_palette(colours[ours], 4)[2] if ours in colours else next(extra)
    return out


# ----------------------------------------------------------------------------------------------- transfer


def _published_transfer(protocol: str, datasets: list[str], methods: list[str]) -> pd.DataFrame:
    """Published Table 3 values beside our methods (BYOL always) on our Table 3 datasets, as plot rows labelled
    ``<our method's label> (published)`` (so they take a lighter shade of that method's colour)."""
    rows = []
    for prow in pub.table3_rows(protocol):
        ours = prow.paired_method([*methods, "byol"])
        if ours is None:
            continue
        label = method_label(ours)
        for dataset in datasets:
            if prow.cells.get(dataset) is not None:
                rows.append({"dataset": dataset, "label": label + PUBLISHED_SUFFIX, "value": prow.cells[dataset],
                             "seed": 0})
    return pd.DataFrame(rows, columns=["dataset", "label", "value", "seed"])


def plot_transfer(frame: pd.DataFrame, out_dir: str | Path, stem: str = "transfer") -> list[Path]:
    """Bar chart per transfer protocol: our mean (± std over seeds) per dataset beside the paper's values for
    the same method (Table 3; BYOL always shown)."""
    df = final_records(prepare(frame))
    df = df[df["protocol"].isin(["transfer_linear", "finetune"])]
    if df.empty:
        return []
    df = pick_table3_metric(df)
    protocols = [p for p in ("transfer_linear", "finetune") if p in set(df["protocol"])]
    datasets = dataset_order(df["dataset"])
    metric_of = {d: df[df["dataset"] == d]["metric"].iloc[0] for d in datasets}
    ticks = {d: dataset_label(d) + ("" if metric_of[d] == "top1" else f"\n({METRIC_NAMES.get(metric_of[d])})")
             for d in datasets}
    labels_ours = sorted_labels(df)
    width = max(6.0, 1.1 * len(datasets) * max(1, len(labels_ours)) ** 0.5 + 2.5)
    fig, axes = new_figure(width, 3.4 * len(protocols) + 0.6, len(protocols), 1)
    for ax, protocol in zip(axes[:, 0], protocols):
        ours = df[df["protocol"] == protocol][["dataset", "label", "value", "seed"]]
        published = _published_transfer(protocol, datasets, sorted(set(df["method"])))
        data = pd.concat([ours, published], ignore_index=True) if not published.empty else ours
        hue_order = labels_ours + sorted(set(published["label"]))
        data = data.assign(tick=data["dataset"].map(ticks))
        sns.barplot(data=data, x="tick", y="value", hue="label", order=[ticks[d] for d in datasets],
                    hue_order=hue_order, palette=_palette(hue_order), errorbar="sd", capsize=0.15,
                    err_kws={"linewidth": 1.0}, ax=ax)
        for container, label in zip(ax.containers, hue_order):
            if label.endswith(PUBLISHED_SUFFIX):
                for patch in container:
                    patch.set_hatch("//")
                    patch.set_edgecolor("0.35")
        ax.set_title(f"Transfer — {PROTOCOL_NAMES[protocol].lower()}")
        ax.set_xlabel("")
        metrics = [METRIC_NAMES.get(m, m) for m in dict.fromkeys(metric_of[d] for d in datasets)]
        ax.set_ylabel("test " + " / ".join(metrics) + " (%)")
        ax.set_ylim(0, 100)
        ax.legend(title=None, fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0), frameon=False)
    return save_figure(fig, out_dir, stem)


# ----------------------------------------------------------------------------------------------- semi-supervised


def plot_semisup(frame: pd.DataFrame, out_dir: str | Path, stem: str = "semisup") -> list[Path]:
    """Accuracy against label fraction (log axis) per method; one panel per dataset and metric; the paper's
    ImageNet 1 % / 10 % values (Table 2, R50) as dashed lines on ImageNet panels."""
    df = final_records(prepare(frame))
    df = df[(df["protocol"] == "semisup") & df["metric"].isin(["top1", "top5"]) & df["fraction"].notna()]
    if df.empty:
        return []
    datasets = dataset_order(df["dataset"])
    metrics = [m for m in ("top1", "top5") if m in set(df["metric"])]
    labels = sorted_labels(df)
    palette = _palette(labels)
    fig, axes = new_figure(4.2 * len(metrics) + 1.8, 3.3 * len(datasets), len(datasets), len(metrics))
    fractions = sorted(set(df["fraction"]))
    for i, dataset in enumerate(datasets):
        for j, metric in enumerate(metrics):
            ax = axes[i, j]
            part = df[(df["dataset"] == dataset) & (df["metric"] == metric)]
            sns.lineplot(data=part, x="fraction", y="value", hue="label", hue_order=labels, palette=palette,
                         marker="o", errorbar="sd", err_style="bars", ax=ax, legend=(i == 0 and j == len(metrics) - 1))
            if dataset in pub.IMAGENET_NAMES:
                for prow in pub.table2_rows():
                    xs = [f for f in (1.0, 10.0) if prow.cells.get((f, metric)) is not None]
                    ours = prow.paired_method([*set(df["method"]), "byol"])
                    if ours is not None and xs:  # in the colour of our method it stands beside
                        ax.plot(xs, [prow.cells[(f, metric)] for f in xs], linestyle="--", marker="x",
                                color=palette.get(method_label(ours), "0.4"), label=prow.label)
            ax.set_xscale("log")
            ax.set_xticks(fractions)
            ax.set_xticklabels([f"{f:g}%" for f in fractions])
            ax.minorticks_off()
            ax.set_xlabel("labelled fraction of the training set")
            ax.set_ylabel(f"{METRIC_NAMES[metric]} accuracy (%)")
            ax.set_title(f"{dataset_label(dataset)} — {METRIC_NAMES[metric]}")
    handles, names = [], []
    for ax in axes.flat:
        for h, n in zip(*ax.get_legend_handles_labels()):
            if n not in names:
                handles.append(h)
                names.append(n)
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    order = sorted(range(len(names)), key=lambda k: ("published" in names[k], k))
    fig.legend([handles[k] for k in order], [names[k] for k in order], loc="outside right upper",
               fontsize="small", frameon=False)
    return save_figure(fig, out_dir, stem)


# ----------------------------------------------------------------------------------------------- pretraining


def run_labels(paths: list[str | Path]) -> list[str]:
    """Short distinct run names: the folders after ``pretrain/`` (``demo/seed0``) when every path has one,
    else the folders of the metrics files without their common leading part."""
    parents = [Path(path).parent.parts for path in paths]
    if parents and all("pretrain" in parts for parts in parents):
        return ["/".join(parts[len(parts) - parts[::-1].index("pretrain"):]) or "run" for parts in parents]
    if len(parents) == 1:
        return [parents[0][-1] if parents[0] else "run"]
    common = 0
    while all(len(p) > common + 1 for p in parents) and len({p[common] for p in parents}) == 1:
        common += 1
    return ["/".join(p[common:]) or "run" for p in parents]


def plot_pretrain_curves(metrics_csvs: list[str | Path], out_dir: str | Path,
                         stem: str = "pretrain_curves") -> list[Path]:
    """Loss, τ, learning rate and collapse std against optimiser step, one panel each, runs overlaid."""
    runs = []
    for path, label in zip(metrics_csvs, run_labels(metrics_csvs)):
        try:
            data = pd.read_csv(path)
        except (pd.errors.EmptyDataError, FileNotFoundError):
            continue
        if "step" in data and not data.empty:
            runs.append((label, data))
    if not runs:
        return []
    fig, axes = new_figure(10.0, 6.6, 2, 2, sharex=True)
    palette = dict(zip([r[0] for r in runs], sns.color_palette("deep", len(runs))))
    for ax, (column, title) in zip(axes.flat, CURVE_COLUMNS):
        plotted = False
        for label, data in runs:
            if column in data and data[column].notna().any():
                ax.plot(data["step"], data[column], label=label, color=palette[label], linewidth=1.2)
                plotted = True
        if not plotted:
            ax.text(0.5, 0.5, "not logged", ha="center", va="center", transform=ax.transAxes, color="0.5")
        ax.set_title(title)
        ax.set_ylabel(column)
        ax.grid(alpha=0.3)
    for ax in axes[-1]:
        ax.set_xlabel("optimiser step")
    if len(runs) == 1:
        fig.suptitle(f"pretraining run: {runs[0][0]}")
    else:
        fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="outside right upper", fontsize="small",
                   frameon=False)
    return save_figure(fig, out_dir, stem)


# ----------------------------------------------------------------------------------------------- kNN curve


def random_init_levels(baseline: pd.DataFrame, dataset: str) -> dict[str, float]:
    """Mean kNN top-1 of the random-init encoder on ``dataset``, per variant (``k=20``, ...), in k order."""
    part = baseline[baseline["dataset"] == dataset]
    means = part.groupby("variant")["value"].mean()
    return {v: float(means[v]) for v in sorted(means.index, key=lambda v: (k_of(v), v))}


def plot_knn_curve(frame: pd.DataFrame, out_dir: str | Path, stem: str = "knn_vs_epoch") -> list[Path]:
    """kNN top-1 against pretraining epoch (records carrying ``hyperparameters["pretrain_epoch"]``; epoch 0 is the
    initialisation), per method (colour) and k (line style); one panel per dataset, with a grey line at the level
    of the random-init encoder's kNN (records of encoder ``random-init``) for each k."""
    df = prepare(frame)
    knn = df[(df["protocol"] == "knn") & (df["metric"] == "top1")]
    encoders = knn["encoder"] if "encoder" in knn else pd.Series("", index=knn.index)
    baseline = knn[knn["pretrain_epoch"].isna() & (encoders == "random-init")]
    df = knn[knn["pretrain_epoch"].notna()]
    if df.empty:
        return []
    datasets = dataset_order(df["dataset"])
    labels = sorted_labels(df)
    variants = sorted(set(df["variant"]), key=lambda v: (k_of(v), v))
    df = df.assign(k=df["variant"].replace("", "kNN"))
    fig, axes = new_figure(5.0 * len(datasets) + 1.8, 3.6, 1, len(datasets))
    for ax, dataset in zip(axes[0], datasets):
        part = df[df["dataset"] == dataset]
        sns.lineplot(data=part, x="pretrain_epoch", y="value", hue="label", hue_order=labels,
                     style="k", style_order=[v or "kNN" for v in variants], palette=_palette(labels),
                     markers=True, errorbar="sd", ax=ax)
        for (variant, level), dash in zip(random_init_levels(baseline, dataset).items(), ("--", ":", "-.", "-")):
            ax.axhline(level, color="0.5", linestyle=dash, linewidth=1.0, label=f"random init, {variant or 'kNN'}")
        epochs = sorted(set(part["pretrain_epoch"]))
        if len(epochs) <= 12 and all(float(e).is_integer() for e in epochs):
            ax.set_xticks(epochs)
        ax.set_xlabel("pretraining epoch")
        ax.set_ylabel("kNN top-1 accuracy (%)")
        ax.set_title(dataset_label(dataset))
        ax.grid(alpha=0.3)
    handles, names = axes[0, 0].get_legend_handles_labels()
    for ax in axes.flat:
        if ax.get_legend() is not None:
            ax.get_legend().remove()
    names = [{"label": "method", "k": "k"}.get(n, n) for n in names]
    fig.legend(handles, names, loc="outside right upper", fontsize="small", frameon=False)
    return save_figure(fig, out_dir, stem)


def all_plots(frame: pd.DataFrame, metrics_csvs: list[str | Path], out_dir: str | Path) -> dict[str, list[Path]]:
    """Every plot with data: name -> paths (ablation records and runs left out: see
    :func:`byol_pkg.report.ablations.ablation_plots`)."""
    main_runs = [p for p in metrics_csvs if not is_ablation_run(p)]
    out = {"transfer": plot_transfer(frame, out_dir), "semisup": plot_semisup(frame, out_dir),
           "pretrain_curves": plot_pretrain_curves(main_runs, out_dir),
           "knn_vs_epoch": plot_knn_curve(frame, out_dir)}
    return {name: paths for name, paths in out.items() if paths}


__all__ = ["all_plots", "plot_knn_curve", "plot_pretrain_curves", "plot_semisup", "plot_transfer", "run_labels",
           "save_figure"]
