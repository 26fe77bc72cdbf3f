"""Whole models and the registry: ``create_model(name, **kwargs)``.

Graph classifiers (take a PyG ``Batch``): ``gcn``, ``gat``, ``gpr``, ``mlp``, and the issue-6
models ``dirconv``, ``dirconv-grid``, ``gatedgcn`` (``strong.py``); ``cnn`` takes images.
Heads on an image backbone (take an image tensor): ``head-linear``,
``head-label-attention``, ``head-mlgcn``, ``head-grouped``, ``head-sample-graph``.
"""
from .registry import create_model, list_models, model_config, model_from_config, register_model
from .graph_classifier import GPRClassifier, GraphClassifier  # noqa: F401  (registers gcn/gat/gpr/mlp)
from .backbone import SmallCNN
from .heads import (GroupedLabelAttentionHead, LabelAttentionHead, LinearHead, MLGCN,  # noqa: F401
                    SampleGraphHead)
from .strong import ConvNet, DirConvNet, GatedGCN  # registers dirconv, dirconv-grid, gatedgcn, cnn

__all__ = ["create_model", "list_models", "register_model", "model_config", "model_from_config",
           "GraphClassifier", "GPRClassifier", "SmallCNN", "LinearHead", "LabelAttentionHead", "MLGCN",
           "GroupedLabelAttentionHead", "SampleGraphHead", "DirConvNet", "GatedGCN", "ConvNet"]
