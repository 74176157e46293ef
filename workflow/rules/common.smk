"""Helpers shared by the rules: config validation, the pretraining runs (ablation variants included), the
settings every job shares, where each method's encoder comes from, the flags of the byol commands, and the lists
of targets. Nothing here changes `config`."""

import functools
import re
import shlex

from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

# byol_pkg must be installed where snakemake runs: Snakemake puts workflow/ on sys.path, not the repository root
try:
    from byol_pkg.report.captions import (
        PLOT_CAPTIONS,
        PLOT_TITLES,
        TABLE_CAPTIONS,
        TABLE_TITLES,
        ablation_report_texts,
    )
except ModuleNotFoundError as err:
    if err.name != "byol_pkg":
        raise
    raise WorkflowError(
        "byol_pkg is not installed where snakemake runs: pip install -e <the byol-bench repository>"
    ) from None

validate(config, schema="../schemas/config.schema.yaml")

EVAL = config["evaluation"]
SEEDS = config["seeds"]
TRACKING = config.get("tracking") or {}
TABLE_METHODS = list(config["methods"])  # the rows of the paper tables


def _expand_ablations(ablations, methods, runs):
    """Every variant of every ablation, per method varied, as a method ``<method>/<ablation>/<variant>``
    evaluated with the ablation's protocols. A variant with overrides is pretrained as the run
    ``<run>/<ablation>/<variant>``; an empty one reuses the run itself. Pure: returns (the ablation methods, the
    variant runs) and changes none of its arguments.
    """
    ablation_methods, variant_runs = {}, {}
    for name, ablation in ablations.items():
        for method in ablation["methods"]:
            spec = methods.get(method)
            if spec is None or "pretrain" not in spec or spec["random_init"]:
                raise ValueError(
                    f"config: ablations.{name}.methods names '{method}', which is not a method "
                    "trained by a pretraining run"
                )
            run = spec["pretrain"]
            if run not in runs:
                raise ValueError(
                    f"config: methods.{method}.pretrain: no pretraining run '{run}'; "
                    f"configured runs: {', '.join(runs)}"
                )
            for variant, sets in ablation["variants"].items():
                variant_run = run
                if sets:
                    variant_run = f"{run}/{name}/{variant}"
                    base = runs[run]
                    variant_runs[variant_run] = {
                        **base,
                        "set": {**(base.get("set") or {}), **sets},
                    }
                ablation_methods[f"{method}/{name}/{variant}"] = {
                    "pretrain": variant_run,
                    "random_init": False,
                    "protocols": ablation["protocols"],
                }
    return ablation_methods, variant_runs


ABLATION_METHODS, ABLATION_RUNS = _expand_ablations(
    config["ablations"], config["methods"], config["pretrain"]
)
# Every pretraining run: the configured ones, then the ablation variants (read this, not config["pretrain"]).
PRETRAIN_RUNS = {**config["pretrain"], **ABLATION_RUNS}
ABLATION_TITLES, ABLATION_CAPTIONS = ablation_report_texts(config["ablations"])
ALL_METHODS = {**config["methods"], **ABLATION_METHODS}
METHODS = list(ALL_METHODS)


def _alternatives(names):
    """A wildcard constraint matching exactly these names."""
    return "|".join(re.escape(str(name)) for name in names)


def eval_datasets():
    """Every dataset an evaluation protocol reads."""
    return sorted({EVAL["dataset"], *EVAL["transfer"]})


wildcard_constraints:
    seed=r"\d+",
    epoch=r"\d+",
    method=_alternatives(METHODS),
    run=_alternatives(PRETRAIN_RUNS),
    dataset=_alternatives(eval_datasets()),


def cli_tokens(args):
    """{"lrs": [0.1, 0.2], "steps": 50, "random_init": True} -> ["--lrs", "0.1", "0.2", "--steps", "50",
    "--random-init"]: the options a protocol's `args` add to its byol command (false or null: left out).
    """
    tokens = []
    for key, value in (args or {}).items():
        flag = "--{}".format(str(key).replace("_", "-"))
        if value is True:
            tokens.append(flag)
        elif value is False or value is None:
            continue
        elif isinstance(value, (list, tuple)):
            tokens += [flag, *(str(v) for v in value)]
        else:
            tokens += [flag, str(value)]
    return tokens


def cli_flags(args):
    """The options of cli_tokens as shell text (each quoted when it needs it): "--lrs 0.1 0.2 --steps 50"."""
    return " ".join(shlex.quote(token) for token in cli_tokens(args))


def protocol_args(entry):
    """The args of a protocol entry of the config ({} when it has none)."""
    return cli_flags((entry or {}).get("args"))


# ---------------------------------------------------------------------------------------------- job settings
# What the rules share besides their files: one conda env for every job, and the threads and resources of the
# evaluation jobs. Helpers, not an abstract base reused through `use rule` with a `with` block, because that block
# cannot replace the shell command: the derived rules would need one shell template, and a changed template
# changes the command text Snakemake records with each output (its code trigger would rerun every existing
# result). Log and benchmark paths stay written out in each rule, beside the output whose wildcards they use.

# The env of every job, relative to the rule files as conda paths are. With the config's device on CUDA it is
# the one whose PyTorch is a CUDA build (workflow/envs/byol-cuda.yaml, conda-forge's pytorch-gpu), else the plain
# one.
BYOL_ENV = (
    "../envs/byol-cuda.yaml"
    if str(config["device"]).startswith("cuda")
    else "../envs/byol.yaml"
)


def eval_threads():
    """Threads of an evaluation job: the main process plus its data-loading workers."""
    return 1 + config["num_workers"]


def eval_gpus():
    return 1 if str(config["device"]).startswith("cuda") else 0


def eval_resources(mem_mb, runtime):
    """An evaluation job's resources: a gpu when the config's device is cuda, memory in MB, runtime in minutes."""
    return {"gpu": eval_gpus(), "mem_mb": mem_mb, "runtime": runtime}


# ----------------------------------------------------------------------------------------------- pretraining


def pretrain_preset(wildcards):
    """The run's byol_pkg preset or YAML file of pretraining settings."""
    return PRETRAIN_RUNS[wildcards.run]["config"]


def run_sets(run):
    """The KEY=VALUE overrides of a pretraining run, as `byol pretrain --set` receives them."""
    return [
        f"{key}={value}" for key, value in (PRETRAIN_RUNS[run].get("set") or {}).items()
    ]


def pretrain_overrides(wildcards):
    """The run's --set KEY=VALUE options, the seed first, then its tracking (none when tracking is off)."""
    sets = [
        f"seed={wildcards.seed}",
        *run_sets(wildcards.run),
        *tracking_sets(wildcards),
    ]
    return " ".join(f"--set {shlex.quote(item)}" for item in sets)


# -------------------------------------------------------------------------------------------------- tracking
# Every job's tracked run (docs/tracking.md). DVCLive and TensorBoard write under tracking/ at the repository root:
# DVC looks for the dvc.yaml files DVCLive writes neither inside a stage's output folder (results/pretrain,
# results/eval) nor in folders git ignores (results/*). Off (the default), the commands are exactly the untracked
# ones, so that turning tracking off reruns nothing.

TRACKING_BACKENDS = ("dvclive", "mlflow", "tensorboard")
TRACKING_ROOT = "tracking"


def tracking_backends():
    """The backends the config's `tracking` section turns on."""
    return [name for name in TRACKING_BACKENDS if TRACKING.get(name)]


def tracking_sets(wildcards):
    """`byol pretrain --set` items of the tracking backends, with their folders under tracking/."""
    folder = f"{TRACKING_ROOT}/pretrain/{wildcards.run}/seed{wildcards.seed}"
    sets = [f"tracking.{name}=true" for name in tracking_backends()]
    if TRACKING.get("dvclive"):
        sets.append(f"tracking.dvclive_dir={folder}/dvclive")
    if TRACKING.get("tensorboard"):
        sets.append(f"tracking.tensorboard_dir={folder}/tensorboard")
    return sets


def tracking_flags(result):
    """--track and --track-dir of an evaluation command writing `result` (results/eval/<path>.json; tracked in
    tracking/eval/<path>/), or "" when tracking is off."""
    backends = tracking_backends()
    if not backends:
        return ""
    path = str(result).removeprefix("results/eval/").removesuffix(".json")
    return f"--track {' '.join(backends)} --track-dir {shlex.quote(f'{TRACKING_ROOT}/eval/{path}')}"


def pretrain_data_overrides(wildcards):
    """The run's --set options that shape its dataset (all of them; the seed does not)."""
    return " ".join(f"--set {shlex.quote(item)}" for item in run_sets(wildcards.run))


def pretrain_gpus(wildcards):
    return PRETRAIN_RUNS[wildcards.run]["gpus"]


def pretrain_launcher(wildcards):
    """torchrun with one process per GPU for multi-GPU runs, else the plain command."""
    gpus = pretrain_gpus(wildcards)
    if gpus > 1:
        return f"torchrun --standalone --nproc_per_node {gpus} -m byol_pkg"
    return "byol"


def pretrain_encoders():
    return expand(
        "results/pretrain/{run}/seed{seed}/encoder.pt",
        run=list(PRETRAIN_RUNS),
        seed=SEEDS,
    )


def pretrain_metrics():
    return expand(
        "results/pretrain/{run}/seed{seed}/metrics.csv",
        run=list(PRETRAIN_RUNS),
        seed=SEEDS,
    )


# --------------------------------------------------------------------------------------------------- methods


def method_encoder(wildcards):
    """The encoder file a method is evaluated on: its run's (a random-init method still needs the run's
    architecture), the converted official checkpoint, or the external weights file itself.
    """
    spec = ALL_METHODS[wildcards.method]
    if "weights" in spec:
        if spec["official"]:
            return f"results/external/{wildcards.method}/encoder.pt"
        return spec["weights"]
    return f"results/pretrain/{method_run(wildcards)}/seed{wildcards.seed}/encoder.pt"


def method_run(wildcards):
    return ALL_METHODS[wildcards.method]["pretrain"]


def trained_methods():
    """Table methods whose encoder comes from one of our pretraining runs (not random init, not external)."""
    return [
        m
        for m, spec in config["methods"].items()
        if "pretrain" in spec and not spec["random_init"]
    ]


def official_weights(wildcards):
    return config["methods"][wildcards.method]["weights"]


def official_depth(wildcards):
    """ResNet depth of an official checkpoint from its method's backbone (resnet50 -> 50)."""
    return int(re.sub(r"\D", "", config["methods"][wildcards.method]["backbone"]) or 50)


@functools.cache
def run_config(run):
    """The pretraining settings of a run (ablation variants included), resolved as `byol pretrain` resolves
    them: its preset or file, then its `set` overrides; raises byol_pkg's ConfigError naming a bad key.
    """
    from byol_pkg.config import load_config

    return load_config(PRETRAIN_RUNS[run]["config"], run_sets(run))


def run_epochs(run):
    """``optim.epochs`` of a run."""
    return run_config(run).optim.epochs


def epoch_inputs(wildcards):
    """The encoder of a method's run as it was after pretraining epoch ``wildcards.epoch``. The last epoch's
    checkpoint holds the final encoder's weights (saved at the same step), so that epoch is evaluated on the final
    encoder itself, whose features the extract job has cached: no export and no second extraction.
    """
    run, seed = method_run(wildcards), wildcards.seed
    inputs = {"data": f"results/data/{wildcards.dataset}.json"}
    if float(wildcards.epoch) == float(run_epochs(run)):
        inputs["encoder"] = f"results/pretrain/{run}/seed{seed}/encoder.pt"
        inputs["features"] = (
            f"results/eval/{wildcards.method}/seed{seed}/features/{wildcards.dataset}.json"
        )
    else:
        inputs["encoder"] = (
            f"results/pretrain/{run}/seed{seed}/epochs/epoch{wildcards.epoch}/encoder.pt"
        )
    return inputs


def epoch_checkpoint(wildcards):
    """The kept checkpoint of an epoch (train.checkpoint_every_epochs must divide it)."""
    return f"results/pretrain/{wildcards.run}/seed{wildcards.seed}/checkpoints/epoch_{int(wildcards.epoch):04d}.pt"


def method_flags(wildcards, output):
    """--method NAME --seed S [--random-init], the shared evaluation options and the tracking flags."""
    flags = f"--method {wildcards.method} --seed {wildcards.seed}"
    spec = ALL_METHODS[wildcards.method]
    if spec["random_init"]:
        flags += " --random-init"
    if (
        "weights" in spec and not spec["official"]
    ):  # an external state dict of this architecture
        flags += f" --backbone {spec['backbone']}"
    flags = (
        f"{flags} --root {config['data_root']} --device {config['device']} "
        f"--num-workers {config['num_workers']} --cache-root results/features"
    )
    track = tracking_flags(output[0])
    return f"{flags} {track}" if track else flags


def extract_preprocessing(wildcards):
    """The features a dataset's protocols read: a transfer dataset's (paper App. D.2: resized to the crop size)
    unless it is also the evaluation dataset, whose kNN and linear protocols read the test crop (App. C.1;
    transfer-linear then extracts its own)."""
    transfer_only = (
        wildcards.dataset in EVAL["transfer"] and wildcards.dataset != EVAL["dataset"]
    )
    return "transfer" if transfer_only else "test"


# --------------------------------------------------------------------------------------------------- targets


def eval_results():
    """Every result file of the configured protocols, methods and seeds."""
    per_method = []
    if EVAL.get("knn") is not None:
        per_method.append(f"knn/{EVAL['dataset']}.json")
    for mode, entry in EVAL["linear"].items():
        if entry is not None:
            per_method.append(f"linear_{mode}/{EVAL['dataset']}.json")
    for subset, entry in EVAL["semisup"].items():
        if entry is not None:
            per_method.append(f"semisup_{subset}/{EVAL['dataset']}.json")
    for dataset, entry in EVAL["transfer"].items():
        for protocol in ("linear", "finetune"):
            if entry.get(protocol) is not None:
                per_method.append(f"transfer_{protocol}/{dataset}.json")
    files = expand(
        "results/eval/{method}/seed{seed}/{result}",
        method=TABLE_METHODS,
        seed=SEEDS,
        result=per_method,
    )
    if (
        EVAL.get("knn") is not None
    ):  # kNN of intermediate checkpoints: methods trained by our runs only
        files += expand(
            "results/eval/{method}/seed{seed}/knn_epochs/{dataset}_epoch{epoch}.json",
            method=trained_methods(),
            seed=SEEDS,
            dataset=EVAL["dataset"],
            epoch=EVAL["knn_epochs"],
        )
    return files + ablation_results()


def ablation_results():
    """The result files of every ablation variant (its protocols on the pretraining dataset)."""
    return [
        f"results/eval/{method}/seed{seed}/{protocol}/{EVAL['dataset']}.json"
        for method, spec in ABLATION_METHODS.items()
        for protocol in spec["protocols"]
        for seed in SEEDS
    ]


def transfer_linear_args(wildcards):
    return protocol_args(EVAL["transfer"][wildcards.dataset].get("linear"))


def finetune_args(wildcards):
    return protocol_args(EVAL["transfer"][wildcards.dataset].get("finetune"))


def linear_args(wildcards):
    return " ".join(
        [protocol_args(EVAL["linear"].get(wildcards.mode)), "--mode", wildcards.mode]
    )


def semisup_args(wildcards):
    return protocol_args(EVAL["semisup"][wildcards.subset])
