"""Augmentation throughput: BYOL's two views (T and T', paper Table 6) per second, three ways, same cores.

* ``torchvision-pil``: the usual peer pipeline (lightly, solo-learn, byol-pytorch examples), image by image on PIL
  images in DataLoader worker processes: ``RandomResizedCrop`` (bicubic) -> flip -> ``ColorJitter`` (p 0.8) ->
  ``RandomGrayscale`` -> ``GaussianBlur`` (p 1.0 / 0.1) -> ``RandomSolarize`` (p 0 / 0.2) -> ``ToTensor`` ->
  ``Normalize``;
* ``reference``: this package's per-image tensor pipeline (``augment.backend: reference``), in DataLoader workers;
* ``batched``: this package's batched pipeline (``augment.backend: batched``) on whole uint8 micro-batches, in the
  main process with ``--threads`` intra-op threads on a CPU, or on the GPU with the images held there.

A CPU row uses the same number of cores for every pipeline: ``--workers`` worker processes with one thread each
for the per-image pipelines, ``--workers`` threads for the batched one. One image = both views. Figures are after
``--warmup`` untimed batches; the GPU is synchronised before the clock stops.

    python benchmarks/augment_throughput.py                       # CPU, 2 cores, CIFAR-like and 96-px rows
    python benchmarks/augment_throughput.py --device cuda --configs cifar,imagenet --batches 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from byol_pkg.augment import ViewTransform, paper_view_params  # noqa: E402
from byol_pkg.augment.batched import BatchedViewTransform  # noqa: E402
from byol_pkg.augment.functional import blur_kernel_size  # noqa: E402


@dataclass(frozen=True)
class Setting:
    name: str
    source: tuple[int, int]  # stored image H x W
    size: int  # view side
    blur: bool


SETTINGS = {
    "cifar": Setting("cifar", (32, 32), 32, False),  # the 32-px recipe: no blur
    "stl": Setting("stl", (96, 96), 64, True),
    "imagenet": Setting("imagenet", (375, 500), 224, True),  # a typical ImageNet photo
}


def pil_pipeline(view: int, s: Setting):
    import torchvision.transforms as T

    p = paper_view_params(view)
    ops = [T.RandomResizedCrop(s.size, scale=(p.min_scale, p.max_scale), interpolation=T.InterpolationMode.BICUBIC),
           T.RandomHorizontalFlip(p.flip_prob),
           T.RandomApply([T.ColorJitter(p.brightness, p.contrast, p.saturation, p.hue)], p=p.jitter_prob),
           T.RandomGrayscale(p.grayscale_prob)]
    if s.blur:
        k = blur_kernel_size(s.size)
        ops.append(T.RandomApply([T.GaussianBlur(k, (0.1, 2.0))], p=p.blur_prob))
    if p.solarize_prob:
        ops.append(T.RandomSolarize(128, p=p.solarize_prob))
    ops += [T.ToTensor(), T.Normalize((0.485, 0.456, 0.406), (0.229, 0.224, 0.225))]
    return T.Compose(ops)


class PILViews(Dataset):
    def __init__(self, arrays: np.ndarray, s: Setting) -> None:
        self.arrays, self.t1, self.t2 = arrays, pil_pipeline(1, s), pil_pipeline(2, s)

    def __len__(self) -> int:
        return len(self.arrays)

    def __getitem__(self, i: int):
        from PIL import Image

        img = Image.fromarray(self.arrays[i])
        return self.t1(img), self.t2(img)


class ReferenceViews(Dataset):
    def __init__(self, images: torch.Tensor, s: Setting) -> None:
        self.images = images
        self.t1 = ViewTransform(paper_view_params(1), s.size, blur=s.blur)
        self.t2 = ViewTransform(paper_view_params(2), s.size, blur=s.blur)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int):
        g = torch.Generator().manual_seed(i)
        return self.t1(self.images[i], g), self.t2(self.images[i], g)


def _init_worker(_: int) -> None:
    torch.set_num_threads(1)


def time_loader(dataset: Dataset, batch: int, batches: int, warmup: int, workers: int) -> float:
    loader = DataLoader(dataset, batch_size=batch, shuffle=True, num_workers=workers, worker_init_fn=_init_worker,
                        persistent_workers=False, prefetch_factor=4 if workers else None, drop_last=True)
    it = iter(loader)
    for _ in range(warmup):
        next(it)
    t0 = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * batch / (time.perf_counter() - t0)


def time_batched(images: torch.Tensor, s: Setting, batch: int, batches: int, warmup: int,
                 device: torch.device) -> float:
    t1 = BatchedViewTransform(paper_view_params(1), s.size, blur=s.blur)
    t2 = BatchedViewTransform(paper_view_params(2), s.size, blur=s.blur)
    images = images.to(device)
    gen = torch.Generator().manual_seed(0)

    def one() -> None:
        index = torch.randint(0, len(images), (batch,), generator=gen).to(device)
        u = torch.rand(batch, 2, 36, dtype=torch.float64, generator=gen)
        x = images.index_select(0, index)
        t1(x, u[:, 0])
        t2(x, u[:, 1])

    for _ in range(warmup):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for _ in range(batches):
        one()
    if device.type == "cuda":
        torch.cuda.synchronize()
    return batches * batch / (time.perf_counter() - t0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda"])
    ap.add_argument("--configs", default="cifar,stl", help=f"comma-separated: {', '.join(SETTINGS)}")
    ap.add_argument("--workers", type=int, default=2, help="CPU cores for every pipeline (workers / threads)")
    ap.add_argument("--batch", type=int, default=256)
    ap.add_argument("--batches", type=int, default=8)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--pipelines", default="torchvision-pil,reference,batched")
    ap.add_argument("--json", default=None)
    args = ap.parse_args(argv)
    device = torch.device(args.device)
    if device.type == "cuda" and not torch.cuda.is_available():
        print("--device cuda: no GPU visible to torch", file=sys.stderr)
        return 2
    import torchvision
    import PIL

    env = {"torch": torch.__version__, "torchvision": torchvision.__version__, "pillow": PIL.__version__,
           "cpu": platform.processor() or platform.machine(), "cores_used": args.workers, "batch": args.batch,
           "device": torch.cuda.get_device_name() if device.type == "cuda" else "cpu"}
    print("augmentation throughput, images/s (one image = both views T and T'):", json.dumps(env))
    rows = []
    for name in args.configs.split(","):
        s = SETTINGS[name]
        n = args.batch * (args.warmup + args.batches)  # every timed batch holds distinct images
        arrays = np.random.default_rng(0).integers(0, 256, size=(n, *s.source, 3), dtype=np.uint8)
        tensors = torch.from_numpy(arrays).permute(0, 3, 1, 2).contiguous()
        for pipe in args.pipelines.split(","):
            if pipe == "batched":
                torch.set_num_threads(args.workers)
                ips = time_batched(tensors, s, args.batch, args.batches, args.warmup, device)
                where = device.type if device.type == "cuda" else f"cpu, {args.workers} threads"
            else:
                ds = PILViews(arrays, s) if pipe == "torchvision-pil" else ReferenceViews(tensors, s)
                ips = time_loader(ds, args.batch, args.batches, args.warmup, args.workers)
                where = f"cpu, {args.workers} worker processes"
            rows.append({"config": name, "source": f"{s.source[0]}x{s.source[1]}", "size": s.size, "blur": s.blur,
                         "pipeline": pipe, "where": where, "images_per_s": ips})
            print(f"  {name:9s} {s.source[0]}x{s.source[1]} -> {s.size:3d}px  {pipe:16s} {where:28s} "
                  f"{ips:10.0f} img/s", flush=True)
    print("ratios (batched / other):")
    for name in args.configs.split(","):
        got = {r["pipeline"]: r["images_per_s"] for r in rows if r["config"] == name}
        if "batched" in got:
            for other in ("torchvision-pil", "reference"):
                if other in got:
                    print(f"  {name:9s} batched vs {other:16s} {got['batched'] / got[other]:6.2f}x")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"environment": env, "rows": rows}, f, indent=1)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
