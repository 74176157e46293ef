"""What the commands share: logging, the evaluation commands' argument groups, and turning parsed arguments
into the library's plain values (:class:`~byol_pkg.eval.runner.EvalTarget`, ``Splits``)."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path


def setup_logging(out_dir: Path | None = None, quiet: bool = False) -> None:
    """Log to stderr (INFO; WARNING when ``quiet``) and, given ``out_dir``, to ``out_dir/train.log``."""
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    if out_dir is not None:
        out_dir.mkdir(parents=True, exist_ok=True)
        handlers.append(logging.FileHandler(out_dir / "train.log"))
    logging.basicConfig(level=logging.WARNING if quiet else logging.INFO, handlers=handlers, force=True,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")


def add_config_args(p: argparse.ArgumentParser, required: bool = True) -> None:
    p.add_argument("--config", required=required, default=None,
                   help="YAML file or preset name (demo, cifar10, imagenet)" + ("" if required else
                                                                                "; omit for the defaults"))
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a config key, e.g. --set optim.epochs=3 (repeatable)")


def add_encoder_args(p: argparse.ArgumentParser) -> None:
    """The evaluated encoder, the dataset and where its images and features live."""
    p.add_argument("--encoder", required=True, help="encoder.pt written by byol pretrain (encoder.json beside it), "
                                                    "or encoder.timm/model.safetensors")
    p.add_argument("--backbone", default=None,
                   help="the encoder file is an external state dict (a PyTorch or safetensors file) of this "
                        "torchvision/timm architecture "
                        "(e.g. resnet50, timm:resnet50; ImageNet statistics, --image-size default 224)")
    p.add_argument("--random-init", action="store_true", help="a seeded random init of the encoder's architecture")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--method", default="byol", help="method name written into the result records")
    p.add_argument("--dataset", required=True)
    p.add_argument("--root", default="data", help="data root")
    p.add_argument("--cache-root", default="results/features", help="feature cache folder")
    p.add_argument("--image-size", type=int, default=None, help="resize+crop side (default: the encoder's)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--num-workers", type=int, default=0)
    add_tracking_args(p)


#: The options of :func:`add_tracking_args` (not part of what an evaluation is: a rerun with other tracking
#: options continues the same tracked run).
TRACKING_OPTIONS = ("track", "track_dir", "mlflow_uri", "mlflow_experiment")


def add_tracking_args(p: argparse.ArgumentParser) -> None:
    """Experiment tracking of an evaluation command (docs/tracking.md), off unless ``--track`` names a backend."""
    from ..train.tracking import BACKENDS

    g = p.add_argument_group("experiment tracking (docs/tracking.md)")
    g.add_argument("--track", nargs="+", choices=BACKENDS, default=[], metavar="BACKEND",
                   help=f"log params, curves and the final scores to these backends ({', '.join(BACKENDS)}; "
                        "pip extra: tracking)")
    g.add_argument("--track-dir", default=None,
                   help="folder of the tracked run: its state (tracking.json), dvclive/ and tensorboard/ "
                        "(default: <out stem>.tracking beside --out)")
    g.add_argument("--mlflow-uri", default=None,
                   help="MLflow tracking URI (default: the local store mlruns/, a SQLite database mlruns/mlflow.db)")
    g.add_argument("--mlflow-experiment", default="byol-bench", help="MLflow experiment name")


def add_split_args(p: argparse.ArgumentParser) -> None:
    """Train / validation / test splits (default: the paper's) and the result file."""
    from ..data.validation import DEFAULT_VAL_FRACTION

    p.add_argument("--train-split", default=None,
                   help="default: the paper's split of a transfer dataset (see byol_pkg.data.transfer), else train")
    p.add_argument("--val-split", default=None,
                   help="validation split (default: the paper's for a transfer dataset, else held out of train)")
    p.add_argument("--val-size", type=float, default=DEFAULT_VAL_FRACTION,
                   help="hold-out size: fraction (<1) or count")
    p.add_argument("--split-seed", type=int, default=0, help="seed of the validation hold-out")
    p.add_argument("--test-split", default=None, help="default: test")
    p.add_argument("--out", default=None, help="result file (JSON list of records; extract: an index)")


def add_training_args(p: argparse.ArgumentParser) -> None:
    """The image-trained protocols' run options."""
    p.add_argument("--precision", choices=("fp32", "bf16"), default="fp32", help="bf16 autocast (GPU)")
    p.add_argument("--work-dir", default=None,
                   help="sweep state for resuming (default: <out stem>.work next to --out)")
    p.add_argument("--checkpoint-every", type=int, default=500, help="steps between checkpoints of a run")


def check_outputs(args: argparse.Namespace) -> None:
    """Check every output of a command before any work (:func:`byol_pkg.io.check_output_path`): ``--out`` (a
    file; ``report``: a folder), ``--work-dir`` (a folder; default ``<out stem>.work`` beside ``--out``),
    ``--cache-root`` (a folder) and ``--csv`` (a file), whichever the command has. Each is kept as the raw string
    argparse read (``type=Path`` would turn an empty one into ``.``) and becomes a :class:`Path` here
    (``cache_root`` a ``str``); a bad one is an :class:`~byol_pkg.errors.OutputError` (exit 6)."""
    from ..io import check_output_path

    if getattr(args, "out", None) is not None:
        args.out = check_output_path(args.out, "--out", folder=args.command == "report")
    if hasattr(args, "work_dir"):
        if args.work_dir is not None:
            args.work_dir = check_output_path(args.work_dir, "--work-dir", folder=True)
        elif args.out is not None:
            check_output_path(args.out.with_name(args.out.stem + ".work"), "--work-dir (default: beside --out)",
                              folder=True)
    if getattr(args, "cache_root", None) is not None:
        args.cache_root = str(check_output_path(args.cache_root, "--cache-root", folder=True))
    if getattr(args, "csv", None) is not None:
        args.csv = check_output_path(args.csv, "--csv")


def eval_tracking(args: argparse.Namespace):
    """The tracked run of an evaluation command (``--track``; none: a :class:`Tracking` that logs nothing), with
    the command's arguments as params. The same command (same arguments, tracking options aside) on the same
    ``--track-dir`` continues its tracked run; once that finished, a rerun logs nothing more."""
    from ..config import TrackingConfig
    from ..errors import ConfigError
    from ..io import check_output_path
    from ..train.tracking import TrackedRun, Tracking, check_packages, identity_hash, open_tracking

    track = getattr(args, "track", None) or []
    if not track:
        return Tracking()
    cfg = TrackingConfig(**{b: b in track for b in ("dvclive", "mlflow", "tensorboard")},
                         mlflow_uri=args.mlflow_uri, mlflow_experiment=args.mlflow_experiment)
    check_packages(cfg, "--track {}")
    if args.track_dir is not None:
        folder = check_output_path(args.track_dir, "--track-dir", folder=True)
    elif getattr(args, "out", None) is not None:
        folder = Path(args.out).with_name(Path(args.out).stem + ".tracking")
    else:
        raise ConfigError("--track needs --out or --track-dir (where the tracked run keeps its state)")
    params = {k: (str(v) if isinstance(v, Path) else v) for k, v in sorted(vars(args).items())
              if k not in TRACKING_OPTIONS and k != "func"}
    name = f"{args.command} {args.out or folder}"
    tracking = open_tracking(cfg, TrackedRun(folder, name, identity_hash(params)), resume_step=None,
                             option="--track {}", skip_finished=True)
    tracking.log_params(params)
    return tracking


def eval_target(args: argparse.Namespace):
    """Start an evaluation command: logging, CPU threads, and the :class:`EvalTarget` of its arguments, every
    input checked before any work: the outputs (:func:`check_outputs`), the device, and the encoder (loaded once:
    an unreadable file, another architecture or non-finite weights end here). The dataset and split names are
    checked by :func:`eval_splits` / ``resolve_splits``, which every command calls."""
    from ..eval.feature_cache import EncoderRef
    from ..eval.runner import EvalTarget
    from ..runtime import configure_cpu_threads

    check_outputs(args)
    setup_logging()
    configure_cpu_threads(None, args.num_workers)
    encoder = EncoderRef(Path(args.encoder), random_init=args.random_init, seed=args.seed, backbone=args.backbone)
    target = EvalTarget(encoder, args.dataset, args.root, args.cache_root, args.image_size, args.device,
                        args.num_workers, args.method, args.seed)
    encoder.load()
    return target


def eval_splits(args: argparse.Namespace):
    """The :class:`Splits` of the split arguments (the paper's unless any is given; every name checked)."""
    from ..eval.runner import resolve_splits

    return resolve_splits(args.dataset, args.train_split, args.val_split, args.test_split, args.val_size,
                          args.split_seed)


def sweep_options(args: argparse.Namespace, tracking=None):
    """The image-trained protocols' options; the work folder defaults to ``<out stem>.work`` beside ``--out``;
    ``tracking``: the command's tracked run (:func:`eval_tracking`)."""
    from ..eval.protocols import SweepOptions

    work = args.work_dir or (args.out.with_name(args.out.stem + ".work") if args.out else None)
    return SweepOptions(work, args.precision, args.checkpoint_every, tracking)
