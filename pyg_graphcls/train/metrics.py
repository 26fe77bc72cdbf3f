"""Single-label metrics: accuracy, confusion matrix, per-class accuracy."""
from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["accuracy", "confusion_matrix", "per_class_accuracy"]


def accuracy(logits_or_pred: Tensor, target: Tensor) -> float:
    """Fraction of correct predictions (``logits [N, C]`` or predictions ``[N]``)."""
    pred = logits_or_pred.argmax(-1) if logits_or_pred.dim() == 2 else logits_or_pred
    target = target.view(-1)
    if target.numel() == 0:
        return float("nan")
    return (pred.view(-1) == target).float().mean().item()


def confusion_matrix(pred: Tensor, target: Tensor, num_classes: int) -> Tensor:
    """``cm[t, p]`` = number of samples of true class ``t`` predicted as ``p``."""
    pred, target = pred.view(-1).long().cpu(), target.view(-1).long().cpu()
    idx = target * num_classes + pred
    return torch.bincount(idx, minlength=num_classes * num_classes).view(num_classes, num_classes)


def per_class_accuracy(cm: Tensor) -> list[float]:
    """Recall of each class from a confusion matrix (NaN for classes with no samples)."""
    tot = cm.sum(1).double()
    return (cm.diag().double() / tot).tolist()
