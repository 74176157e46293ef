"""The supervised baseline's network: the encoder plus one linear classifier on its representation."""

from __future__ import annotations

from torch import Tensor, nn


class SupervisedNetwork(nn.Module):
    """``encoder -> Linear(feat_dim, num_classes)``. ``forward(v1, v2)`` runs the two views in separate calls
    (per-view BatchNorm statistics, as the self-supervised methods) and returns ``(logits1, logits2, y1, y2)``."""

    def __init__(self, encoder: nn.Module, feat_dim: int, num_classes: int) -> None:
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"supervised pretraining needs at least 2 classes, got {num_classes}")
        self.encoder = encoder
        self.classifier = nn.Linear(feat_dim, num_classes)

    def forward(self, view1: Tensor, view2: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
        y1, y2 = self.encoder(view1), self.encoder(view2)
        return self.classifier(y1), self.classifier(y2), y1, y2
