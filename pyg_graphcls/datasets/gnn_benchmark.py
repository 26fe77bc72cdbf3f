"""PyG's ``GNNBenchmarkDataset`` superpixel sets (MNIST, CIFAR10) in the layout of the graphs built here.

The Benchmarking-GNNs superpixel graphs hold ``x`` = the mean intensity (MNIST,
1 column) or mean colour (CIFAR10, 3 columns) of each region, ``pos`` = the
region centroid divided by the image side (in [0, 1]), kNN-8 edges with a
Gaussian weight in ``edge_attr`` and the standard train/val/test splits.
:class:`MatchBenchmarkLayout` brings ``pos`` to pixel units, appends the
normalised centroid to ``x`` (the columns of :func:`superpixel_graph`'s
default ``mean, centroid`` features), keeps the Gaussian weight as
``edge_weight``, recomputes ``edge_attr`` from ``pos`` and records
``image_size``, so one model trains on both.

Files (under ``<root>/gnn-benchmark/``, PyG's layout): ``<NAME>/raw/<NAME>_v2.pt``
(PyG downloads it where there is a network) and ``<NAME>/processed/{train,val,test}_data.pt``.
Every file is checked to load with ``weights_only=True`` before PyG reads it:
PyG's own loader falls back to full unpickling (which can run code) when that fails.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..errors import GraphclsError
from ..graphs.edges import edge_features
from ..io import check_weights_only

__all__ = ["MatchBenchmarkLayout", "load_gnn_benchmark", "BENCHMARK_IMAGE_SIZE"]

#: side in pixels of the images each superpixel set was made from (MNIST 28x28, CIFAR10 32x32)
BENCHMARK_IMAGE_SIZE = {"MNIST": 28, "CIFAR10": 32}


class MatchBenchmarkLayout(BaseTransform):
    """Make a Benchmarking-GNNs superpixel graph look like one from ``superpixel_graph``.

    Args:
        image_size (int): side of the source images.
        edge_attr: edge features recomputed from ``pos`` (see
            :func:`pyg_graphcls.graphs.edges.edge_features`); ``()`` drops them.

    ``pos`` at most 1 everywhere is taken as centroid / image side and scaled
    to pixels; larger values are taken as pixels already.
    """

    def __init__(self, image_size: int, edge_attr: Sequence[str] = ("distance",)) -> None:
        if image_size < 2:
            raise GraphclsError(f"image_size must be >= 2, got {image_size}")
        self.image_size = int(image_size)
        self.edge_attr = tuple(edge_attr)

    def forward(self, data: Data) -> Data:
        pos = data.pos.float()
        if pos.numel() and float(pos.max()) <= 1.0 + 1e-6:
            pos = pos * self.image_size
        x = data.x.float().view(data.num_nodes, -1)
        data.x = torch.cat([x, pos / (self.image_size - 1)], dim=1)
        data.pos = pos
        w = getattr(data, "edge_attr", None)
        if w is not None and w.numel() == data.edge_index.size(1):
            data.edge_weight = w.float().view(-1)
        data.edge_attr = edge_features(pos, data.edge_index, self.edge_attr, scale=float(self.image_size))
        data.y = data.y.view(-1).long()
        data.image_size = torch.tensor([[self.image_size, self.image_size]])
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(image_size={self.image_size}, edge_attr={self.edge_attr})"


def load_gnn_benchmark(root: str | os.PathLike, name: str, splits: Sequence[str] = ("train", "val", "test"),
                       transform=None) -> list:
    """PyG ``GNNBenchmarkDataset(root, name, split)`` for each split, files checked first.

    Args:
        root (str): the folder holding ``<name>/raw`` and ``<name>/processed``.
        name (str): ``MNIST`` or ``CIFAR10``.
        splits: which splits to return, in order.
        transform: default :class:`MatchBenchmarkLayout` for the set's image size.
    """
    from torch_geometric.datasets import GNNBenchmarkDataset

    if name not in BENCHMARK_IMAGE_SIZE:
        raise GraphclsError(f"gnn-benchmark:{name} is not a superpixel set; use one of "
                            f"{', '.join('gnn-benchmark:' + n for n in BENCHMARK_IMAGE_SIZE)}")
    root = Path(root)
    for p in [root / name / "raw" / f"{name}_v2.pt"] + [root / name / "processed" / f"{s}_data.pt"
                                                          for s in ("train", "val", "test")]:
        if p.is_file():
            check_weights_only(p)
    if transform is None:
        transform = MatchBenchmarkLayout(BENCHMARK_IMAGE_SIZE[name])
    out = []
    try:
        for split in splits:
            out.append(GNNBenchmarkDataset(str(root), name, split=split, transform=transform))
    except (OSError, ConnectionError) as e:
        raise GraphclsError(f"GNNBenchmarkDataset {name} is not under {root} and could not be downloaded ({e}); "
                            f"put {name}_v2.pt in {root / name / 'raw'}") from None
    return out
