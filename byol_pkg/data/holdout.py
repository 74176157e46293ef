"""Deterministic validation hold-outs drawn from a dataset's sorted training list (numpy only).

Used by the transfer datasets without a creator-provided validation split (spec §6.5, paper App. D.1):
Food-101, CIFAR-10/100, Birdsnap, SUN397, Stanford Cars, Oxford-IIIT Pets and Caltech-101.

Rule shared by every helper: the items of each class are taken in the order of the (sorted) list they come
from, and class ``c`` draws its held-out items with its own generator ``numpy.random.default_rng([seed, c])``
(a random permutation of the class's items, first ``n_c`` kept). A class's choice therefore depends only on
the seed, the class index and that class's items, not on the other classes. The default seed is
:data:`SEED` (0). Returned indices are sorted positions into the input list.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

#: The fixed, documented seed of every transfer hold-out (spec §6.5: "a fixed, recorded seed").
SEED = 0

Counts = int | Sequence[int] | Mapping[int, int] | np.ndarray


def _labels(labels: Sequence[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(labels)
    if arr.ndim != 1:
        raise ValueError(f"labels must be 1-D class indices, got shape {arr.shape}")
    if arr.size and (arr.dtype.kind not in "iu" or arr.min() < 0):
        raise ValueError("labels must be non-negative integers")
    return arr.astype(np.int64, copy=False)


def _count_for(counts: Counts, c: int) -> int:
    if isinstance(counts, (int, np.integer)):
        return int(counts)
    if isinstance(counts, Mapping):
        return int(counts.get(c, 0))
    seq = np.asarray(counts)
    return int(seq[c]) if c < len(seq) else 0


def class_sample(members: np.ndarray, n: int, seed: int, c: int) -> np.ndarray:
    """``n`` of ``members`` (positions of class ``c``), drawn with the class's own generator."""
    order = np.random.default_rng([int(seed), int(c)]).permutation(len(members))
    return members[order[:n]]


def per_class_holdout(
    labels: Sequence[int] | np.ndarray, n_per_class: Counts, seed: int = SEED, cap: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, held)``: ``n_per_class`` items of every class held out (an int, or one count per class).

    A class with fewer items than requested raises ``ValueError``, unless ``cap`` (then all its items are
    held out). Both index arrays are sorted.
    """
    y = _labels(labels)
    held: list[np.ndarray] = []
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        n = _count_for(n_per_class, int(c))
        if n < 0:
            raise ValueError(f"negative hold-out count {n} for class {c}")
        if n > len(members):
            if not cap:
                raise ValueError(f"class {c} has {len(members)} items, cannot hold out {n}")
            n = len(members)
        held.append(class_sample(members, n, seed, int(c)))
    held_idx = np.sort(np.concatenate(held)) if held else np.zeros(0, np.int64)
    rest_idx = np.setdiff1d(np.arange(len(y)), held_idx)
    return rest_idx.astype(np.int64), held_idx.astype(np.int64)


def stratified_counts(class_sizes: Sequence[int] | np.ndarray, total: int) -> np.ndarray:
    """Per-class counts summing to ``total``, proportional to ``class_sizes`` (largest remainder).

    Each class gets ``floor(size * total / N)``; the remaining items go to the largest fractional parts,
    ties to the lower class index. Computed in integers, so it is exact.
    """
    sizes = np.asarray(class_sizes, dtype=np.int64)
    n = int(sizes.sum())
    if not 0 <= total <= n:
        raise ValueError(f"cannot hold out {total} of {n} items")
    if n == 0:
        return np.zeros_like(sizes)
    base, rem = np.divmod(sizes * int(total), n)
    extra = int(total - base.sum())
    order = np.lexsort((np.arange(len(sizes)), -rem))  # largest remainder first, then lower class index
    base[order[:extra]] += 1
    return base


def stratified_holdout(
    labels: Sequence[int] | np.ndarray, total: int, seed: int = SEED
) -> tuple[np.ndarray, np.ndarray]:
    """``(rest, held)``: ``total`` items held out, class-stratified (:func:`stratified_counts`)."""
    y = _labels(labels)
    sizes = np.bincount(y) if y.size else np.zeros(0, np.int64)
    return per_class_holdout(y, stratified_counts(sizes, total), seed)


def scaled_count(n: int, paper_count: int, paper_total: int) -> int:
    """``paper_count`` scaled to a list of ``n`` items (``round(n * paper_count / paper_total)``, halves up).

    Equals ``paper_count`` on the full dataset (``n == paper_total``); smaller lists (fixtures, partial
    downloads) keep the same fraction.
    """
    return (2 * int(n) * int(paper_count) + int(paper_total)) // (2 * int(paper_total))


def per_class_chunks(
    labels: Sequence[int] | np.ndarray, sizes: Sequence[int], seed: int = SEED
) -> tuple[np.ndarray, ...]:
    """Consecutive chunks of every class's permutation: ``sizes[0]`` items per class, then ``sizes[1]``, ...,
    and last all remaining items (``len(sizes) + 1`` sorted index arrays).

    With ``sizes=(5, 25)`` this is Caltech-101's DeCAF protocol: 30 random images per class, 5 of them val and
    25 train, the rest test. The first chunk equals :func:`per_class_holdout`'s held-out set for the same
    count and seed. A class with fewer than ``sum(sizes)`` items raises ``ValueError``.
    """
    y = _labels(labels)
    bounds = np.cumsum([0, *[int(s) for s in sizes]])
    chunks: list[list[np.ndarray]] = [[] for _ in range(len(sizes) + 1)]
    for c in np.unique(y):
        members = np.flatnonzero(y == c)
        if len(members) < bounds[-1]:
            raise ValueError(f"class {c} has {len(members)} items, needs at least {bounds[-1]}")
        drawn = class_sample(members, len(members), seed, int(c))
        for k in range(len(sizes)):
            chunks[k].append(drawn[bounds[k]:bounds[k + 1]])
        chunks[-1].append(drawn[bounds[-1]:])
    return tuple(np.sort(np.concatenate(ch)).astype(np.int64) if ch else np.zeros(0, np.int64) for ch in chunks)
