"""Training: one Trainer, metrics, checkpoints."""
from .checkpoint import load_checkpoint, load_model, save_checkpoint
from .metrics import accuracy, confusion_matrix, per_class_accuracy
from .fast import DenseGraphBatch, PackedGraphs, PackedLoader
from .trainer import Trainer, make_loader, resolve_device, split_dataset, split_indices

__all__ = ["Trainer", "resolve_device", "split_dataset", "split_indices", "make_loader", "accuracy", "confusion_matrix",
           "per_class_accuracy", "save_checkpoint", "load_checkpoint", "load_model", "PackedGraphs", "PackedLoader",
           "DenseGraphBatch"]
