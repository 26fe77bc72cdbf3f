"""Whole models and the one registry: ``create_model(name, **kwargs)``.

Importing this package registers every family (one file each):

- ``gnn``: ``gcn``, ``gat``, ``gpr``, ``mlp`` (PyG convolutions → readout → linear head)
- ``dirconv``: ``dirconv``, ``dirconv-grid`` (direction-aware convolutions)
- ``gatedgcn``: ``gatedgcn``
- ``raster``: ``raster``, ``raster-regions``, ``raster-mean``, ``raster-mean-mp`` (graph painted, then a CNN)
- ``cnn``: ``cnn`` (takes images ``[B, C, H, W]``; also the backbone of the heads)
- ``heads``: ``head-linear``, ``head-label-attention``, ``head-mlgcn``, ``head-grouped``,
  ``head-sample-graph`` (multi-label heads on the CNN; take images)
"""
from .registry import create_model, list_models, model_arguments, model_config, model_from_config, register_model
from .gnn import GPRClassifier, GraphClassifier
from .cnn import ConvNet, pool_features
from .dirconv import DirConvNet
from .gatedgcn import GatedGCN
from .raster import RasterNet
from .heads import GroupedLabelAttentionHead, LabelAttentionHead, LinearHead, MLGCN, SampleGraphHead

__all__ = ["create_model", "list_models", "model_arguments", "register_model", "model_config", "model_from_config",
           "GraphClassifier", "GPRClassifier", "ConvNet", "pool_features", "DirConvNet", "GatedGCN", "RasterNet",
           "LinearHead", "LabelAttentionHead", "MLGCN", "GroupedLabelAttentionHead", "SampleGraphHead"]
