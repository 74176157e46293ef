# Everything about the config that can be checked before a job runs is checked here, when Snakemake reads the
# workflow: `snakemake -n` fails on what the real run would fail on, and the real run fails before it deletes the
# finished output of any job it would rerun. Each problem is one line naming the config key and what it expects;
# all of them are reported together. The schema (workflow/schemas/) has already checked types and shapes.
import argparse
import functools

from snakemake.exceptions import WorkflowError

#: Options of the evaluation commands that the rules set themselves (method_flags, the rule's files and
#: wildcards): a protocol's `args` may not set them too.
WORKFLOW_SET_OPTIONS = {
    "encoder": "the method's encoder",
    "method": "the method's name",
    "seed": "seeds",
    "random_init": "methods.<method>.random_init",
    "backbone": "methods.<method>.backbone",
    "root": "data_root",
    "device": "device",
    "num_workers": "num_workers",
    "cache_root": "the workflow (results/features)",
    "dataset": "the protocol's dataset",
    "out": "the rule's output",
    "track": "tracking",
    "track_dir": "tracking",
    "mlflow_uri": "tracking",
    "mlflow_experiment": "tracking",
}


class _ArgsRejected(Exception):
    """argparse's complaint about a protocol's options (instead of exiting the process)."""


@functools.cache
def _subparsers():
    """The argparse parser of each `byol` command, raising _ArgsRejected instead of exiting."""
    from byol_pkg.cli import build_parser

    def error(message):
        raise _ArgsRejected(message)

    for action in build_parser()._actions:
        if isinstance(action, argparse._SubParsersAction):
            for parser in action.choices.values():
                parser.error = error
            return action.choices
    raise WorkflowError("byol_pkg.cli.build_parser() has no subcommands")


def _option_keys(parser):
    """The config keys that name the parser's options (--base-lrs -> base_lrs), help left out."""
    return {
        option[2:].replace("-", "_")
        for action in parser._actions
        for option in action.option_strings
        if option.startswith("--") and option != "--help"
    }


def _protocols():
    """(config key, protocol entry, byol command, options its rule sets itself, datasets it reads) of every
    configured evaluation protocol (the knn entry also drives the ablations' and the epochs' kNN).
    """
    dataset = EVAL["dataset"]
    found = [("evaluation.knn", EVAL.get("knn"), "knn", {"pretrain_epoch"}, [dataset])]
    for mode, entry in EVAL["linear"].items():
        found.append(
            (f"evaluation.linear.{mode}", entry, "linear", {"mode"}, [dataset])
        )
    for subset, entry in EVAL["semisup"].items():
        found.append(
            (f"evaluation.semisup.{subset}", entry, "semisup", set(), [dataset])
        )
    for name, entry in EVAL["transfer"].items():
        found.append(
            (
                f"evaluation.transfer.{name}.linear",
                entry.get("linear"),
                "transfer-linear",
                set(),
                [name],
            )
        )
        found.append(
            (
                f"evaluation.transfer.{name}.finetune",
                entry.get("finetune"),
                "finetune",
                set(),
                [name],
            )
        )
    return [item for item in found if item[1] is not None]


def _protocol_problems(key, entry, command, rule_sets, datasets):
    """Problems with one protocol's `args`: options `byol <command>` lacks or the rule sets itself, values its
    parser rejects, split names the dataset lacks and unknown metrics."""
    from byol_pkg.data.registry import check_split
    from byol_pkg.errors import ByolError
    from byol_pkg.metrics import METRICS

    args = entry.get("args") or {}
    parser = _subparsers()[command]
    workflow_set = set(WORKFLOW_SET_OPTIONS) | rule_sets
    allowed = sorted(_option_keys(parser) - workflow_set)
    required = ["--encoder", "encoder.pt", "--dataset", datasets[0]]
    problems = []
    for name, value in args.items():
        option = str(name).replace("-", "_")
        if option in workflow_set:
            source = WORKFLOW_SET_OPTIONS.get(option, "the rule")
            problems.append(
                f"config: {key}.args.{name}: --{option.replace('_', '-')} of `byol {command}` is set by the "
                f"workflow (from {source}); remove it from args"
            )
            continue
        if option not in allowed:
            problems.append(
                f"config: {key}.args.{name}: `byol {command}` has no option --{str(name).replace('_', '-')}; "
                f"allowed args: {', '.join(allowed)}"
            )
            continue
        try:
            parser.parse_args(required + cli_tokens({name: value}))
        except _ArgsRejected as err:
            problems.append(
                f"config: {key}.args.{name}: {value!r} is rejected by `byol {command}`: {err}"
            )
            continue
        if option.endswith("_split") and isinstance(value, str):
            # (an unknown dataset is reported on its own)
            for dataset in filter(_registered, datasets):
                try:
                    check_split(dataset, value)
                except ByolError as err:
                    problems.append(f"config: {key}.args.{name}: {err}")
        if option == "metric" and value not in METRICS:
            problems.append(
                f"config: {key}.args.{name}: unknown metric {value!r}; allowed: {', '.join(METRICS)}"
            )
    if (
        not problems
    ):  # each option is fine on its own: now together (e.g. mutually exclusive ones)
        try:
            parser.parse_args(required + cli_tokens(args))
        except _ArgsRejected as err:
            problems.append(f"config: {key}.args: rejected by `byol {command}`: {err}")
    return problems


def _registered(dataset):
    from byol_pkg.data.registry import DATASETS, canonical_name

    return canonical_name(dataset) in DATASETS


def _dataset_problems():
    """Every evaluation dataset must be registered (byol_pkg.data.registry), under a name its commands accept."""
    from byol_pkg.data.registry import dataset_info
    from byol_pkg.errors import ByolError

    named = [("evaluation.dataset", EVAL["dataset"])]
    named += [(f"evaluation.transfer.{name}", name) for name in EVAL["transfer"]]
    problems = []
    for key, name in named:
        try:
            dataset_info(name)
        except ByolError as err:
            problems.append(f"config: {key}: {err}")
    return problems


def _run_origins():
    """Config key of every pretraining run: pretrain.<run>, or the ablation variant that adds it."""
    origins = {run: f"pretrain.{run}" for run in config["pretrain"]}
    for name, ablation in config["ablations"].items():
        for method in ablation["methods"]:
            base = config["methods"][method]["pretrain"]
            for variant, sets in ablation["variants"].items():
                if sets:
                    origins[f"{base}/{name}/{variant}"] = (
                        f"ablations.{name}.variants.{variant}"
                    )
    return origins


def _run_problems():
    """Every pretraining run's preset and overrides, resolved by byol_pkg.config.load_config (the schema of
    `byol pretrain`: known keys, types, choices, ranges); the seed comes from `seeds`, never from `set`.
    """
    from byol_pkg.errors import ByolError

    origins = _run_origins()
    problems = []
    for run in PRETRAIN_RUNS:
        key = origins.get(run, f"pretrain.{run}")
        if "seed" in (PRETRAIN_RUNS[run].get("set") or {}):
            where = f"{key}.set" if key.startswith("pretrain.") else key
            problems.append(
                f"config: {where}.seed: the seed of a run comes from `seeds`; remove it from set"
            )
        try:
            run_config(run)
        except (ByolError, OSError, ValueError) as err:
            problems.append(
                f"config: {key} ({PRETRAIN_RUNS[run]['config']}, set: {run_sets(run)}): {err}"
            )
    return problems


def _method_problems():
    """Methods name a configured run, and external weights an architecture the evaluation commands can build."""
    from byol_pkg.models.backbones import available_backbones
    from byol_pkg.models.convert_official import SUPPORTED_DEPTHS

    problems = []
    for method, spec in config["methods"].items():
        if "pretrain" in spec and spec["pretrain"] not in config["pretrain"]:
            problems.append(
                f"config: methods.{method}.pretrain: no pretraining run '{spec['pretrain']}'; "
                f"configured runs: {', '.join(config['pretrain'])}"
            )
        if "weights" not in spec:
            continue
        backbone = spec["backbone"]
        if spec["official"]:
            official = [SUPPORTED_DEPTHS[d] for d in sorted(SUPPORTED_DEPTHS)]
            if backbone not in official:
                problems.append(
                    f"config: methods.{method}.backbone: the official checkpoint is one of {', '.join(official)}, "
                    f"got {backbone!r}"
                )
        elif not backbone.startswith("timm:") and backbone not in available_backbones():
            problems.append(
                f"config: methods.{method}.backbone: unknown backbone {backbone!r}; use one of "
                f"{', '.join(available_backbones())} or timm:<name>"
            )
    return problems


def _device_problems():
    """The evaluation device must be one torch knows (cpu, cuda, cuda:N)."""
    import torch

    try:
        torch.device(config["device"])
    except (RuntimeError, TypeError, ValueError):
        return [
            f"config: device: {config['device']!r} is no torch device; use cpu, cuda or cuda:<N>"
        ]
    return []


def _knn_epoch_problems():
    """Each kNN epoch must lie within every trained method's run and have an encoder: the initialisation (0),
    a kept checkpoint (a multiple of train.checkpoint_every_epochs) or the run's last epoch (its final encoder).
    """
    if EVAL.get("knn") is None or not EVAL["knn_epochs"]:
        return []
    problems = []
    for run in sorted({config["methods"][m]["pretrain"] for m in trained_methods()}):
        if run not in config["pretrain"]:
            continue  # reported with its method
        try:
            cfg = run_config(run)
        except Exception:  # reported with the run
            continue
        epochs, every = cfg.optim.epochs, cfg.train.checkpoint_every_epochs
        kept = "none" if not every else f"0, {every}, {2 * every}, ..."
        for epoch in EVAL["knn_epochs"]:
            where = f"config: evaluation.knn_epochs: epoch {epoch} of run '{run}'"
            if epoch > epochs:
                problems.append(
                    f"{where} is past its end (optim.epochs {epochs:g}); use epochs 0 to {epochs:g}"
                )
            elif cfg.train.max_steps is not None and epoch > 0:
                problems.append(
                    f"{where}: the run stops at train.max_steps {cfg.train.max_steps}, so which epochs it reaches is "
                    "known only when it runs; use knn_epochs [0] or drop train.max_steps"
                )
            elif epoch != epochs and not (every and epoch % every == 0):
                problems.append(
                    f"{where} has no kept checkpoint (train.checkpoint_every_epochs {every} keeps epochs {kept}, "
                    f"and the last epoch {epochs:g} is the final encoder)"
                )
    return problems


def check_config():
    """Raise one WorkflowError listing every problem found, one line each."""
    problems = (
        _dataset_problems() + _device_problems() + _method_problems() + _run_problems()
    )
    for protocol in _protocols():
        problems += _protocol_problems(*protocol)
    problems += _knn_epoch_problems()
    if problems:
        raise WorkflowError("\n".join(dict.fromkeys(problems)))


if (
    workflow.is_main_process
):  # (a cluster job's snakemake reads the workflow again: checked already)
    check_config()
