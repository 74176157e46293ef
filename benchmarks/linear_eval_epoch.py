"""Time one epoch of linear evaluation: on cached features (fast mode) against on-the-fly crop + flip views
through the frozen encoder (the paper's mode).

    python benchmarks/linear_eval_epoch.py [--encoder results/pretrain/demo/encoder.pt] [--dataset fashion_mnist]
                                           [--samples 20000] [--device cpu|cuda] [--threads N] [--workers N]

Both epochs run the same optimiser (SGD Nesterov 0.9, batch 1024, a linear head on the encoder's
representation) over the same ``--samples`` training images of a real dataset. The cached epoch starts from
features already in memory; their one-time extraction (centre crop, encoder forward, no augmentation) is
timed separately, so the break-even number of epochs is printed too. Without ``--encoder`` a seeded
random-init ``resnet_small`` at 28 px (the demo architecture) is used; the timing does not depend on weights.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from byol_pkg.data import build_dataset
from byol_pkg.eval.encoder import encoder_eval_transform, load_encoder
from byol_pkg.eval.features import extract_features
from byol_pkg.eval.classifier import Classifier, IndexedImages, RunSpec, train_classifier


def _default_encoder(tmp: Path) -> Path:
    from byol_pkg.config import load_config
    from byol_pkg.models import build_byol
    from byol_pkg.train.pretrain import export_encoder

    cfg = load_config("demo", [])
    torch.manual_seed(0)
    online, _ = build_byol(cfg.model.backbone, cfg.model.cifar_stem, 64, 16, 64)
    return export_encoder(tmp, online, cfg, step=0)


def cached_epoch(feats: torch.Tensor, labels: torch.Tensor, num_classes: int, batch: int) -> float:
    """Seconds for one epoch of the fast mode (features in memory)."""
    head = torch.nn.Linear(feats.shape[1], num_classes).to(feats.device)
    opt = torch.optim.SGD(head.parameters(), lr=0.4, momentum=0.9, nesterov=True)
    sync = torch.cuda.synchronize if feats.is_cuda else (lambda: None)
    sync()
    t0 = time.perf_counter()
    order = torch.randperm(len(feats), device=feats.device)
    for start in range(0, len(feats), batch):
        idx = order[start:start + batch]
        loss = F.cross_entropy(head(feats[idx]), labels[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    sync()
    return time.perf_counter() - t0


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--encoder", type=Path, default=None)
    p.add_argument("--dataset", default="fashion_mnist")
    p.add_argument("--root", default="data")
    p.add_argument("--samples", type=int, default=20_000)
    p.add_argument("--batch-size", type=int, default=1024)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--workers", type=int, default=0, help="DataLoader workers of the on-the-fly epoch")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    enc_path = args.encoder
    if enc_path is None:
        import tempfile

        enc_path = _default_encoder(Path(tempfile.mkdtemp()))
    model, meta = load_encoder(enc_path)
    data = build_dataset(args.dataset, args.root, "train", max_samples=args.samples)
    n = len(data)
    print(f"# linear-eval epoch benchmark: {meta['backbone']} at {meta['image_size']} px, {args.dataset} "
          f"{n} images, batch {args.batch_size}, device {args.device}, {torch.get_num_threads()} threads, "
          f"{args.workers} workers, load average {os.getloadavg()[0]:.2f}")

    t0 = time.perf_counter()
    feats, labels = extract_features(model, data, encoder_eval_transform(meta), batch_size=256, device=args.device,
                                     num_workers=args.workers)
    extract_s = time.perf_counter() - t0
    x = torch.as_tensor(feats, device=args.device)
    y = torch.as_tensor(labels, device=args.device)
    cached_epoch(x, y, data.num_classes, args.batch_size)  # warm-up
    cached_s = float(np.median([cached_epoch(x, y, data.num_classes, args.batch_size) for _ in range(3)]))

    clf = Classifier(model, meta["feature_dim"], data.num_classes, frozen_encoder=True)
    spec = RunSpec(lr=0.4, steps=-(-n // args.batch_size), batch_size=args.batch_size, frozen_encoder=True)
    t0 = time.perf_counter()
    train_classifier(clf, IndexedImages(data), spec, int(meta["image_size"]), meta["mean"], meta["std"],
                     device=args.device, num_workers=args.workers, log_every=10**9)
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    online_s = time.perf_counter() - t0

    rows = [("feature extraction (once)", extract_s), ("cached-feature epoch", cached_s),
            ("on-the-fly epoch (crop + flip)", online_s)]
    print(f"{'what':34s} {'seconds':>9s} {'images/s':>11s}")
    for name, s in rows:
        print(f"{name:34s} {s:9.3f} {n / s:11.0f}")
    print(f"on-the-fly / cached epoch time: {online_s / cached_s:.0f}x; 80 epochs: cached "
          f"{extract_s + 80 * cached_s:.1f}s (extraction included) vs on the fly {80 * online_s:.1f}s "
          f"({80 * online_s / (extract_s + 80 * cached_s):.1f}x)")


if __name__ == "__main__":
    main()
