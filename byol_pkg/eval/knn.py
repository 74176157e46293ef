"""Weighted k-nearest-neighbour classification on l2-normalised frozen features (the kNN monitor of
InstDisc/DINO-style pipelines): cosine similarity, the k most similar training samples vote for their label
with weight exp(similarity / T). Reported as "kNN accuracy", never as linear accuracy."""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F


@torch.no_grad()
def knn_predict(train_x: np.ndarray | torch.Tensor, train_y: np.ndarray | torch.Tensor,
                query_x: np.ndarray | torch.Tensor, k: int = 200, temperature: float = 0.07,
                num_classes: int | None = None, chunk: int = 1024, device: str = "cpu") -> torch.Tensor:
    """Class scores [M, C] of the queries: sum of exp(cos / T) over the k nearest training samples per class."""
    bank = F.normalize(torch.as_tensor(train_x, dtype=torch.float32, device=device), dim=1)
    labels = torch.as_tensor(train_y, dtype=torch.long, device=device)
    queries = F.normalize(torch.as_tensor(query_x, dtype=torch.float32, device=device), dim=1)
    c = int(num_classes if num_classes is not None else labels.max().item() + 1)
    k = min(k, bank.shape[0])
    out = []
    for start in range(0, queries.shape[0], chunk):
        sim = queries[start:start + chunk] @ bank.T
        top_sim, top_idx = sim.topk(k, dim=1)
        weights = (top_sim / temperature).exp()
        scores = torch.zeros(sim.shape[0], c, device=device)
        scores.scatter_add_(1, labels[top_idx], weights)
        out.append(scores)
    return torch.cat(out).cpu()


def knn_accuracy(train_x, train_y, test_x, test_y, k: int = 200, temperature: float = 0.07,
                 num_classes: int | None = None, device: str = "cpu") -> float:
    """Top-1 kNN accuracy (%) of the test features against the training features."""
    scores = knn_predict(train_x, train_y, test_x, k, temperature, num_classes, device=device)
    return 100.0 * float((scores.argmax(1).numpy() == np.asarray(test_y)).mean())
