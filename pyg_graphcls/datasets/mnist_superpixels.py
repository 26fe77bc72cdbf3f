"""PyG's ``MNISTSuperpixels`` in the layout of the graphs built here.

PyG's graphs hold ``x`` = 1 intensity feature, ``pos`` in pixel units of the
28x28 MNIST images (:data:`MNIST_IMAGE_SIZE`) and radius-based edges.
:class:`MatchSuperpixelLayout` appends the normalised centroid to ``x``,
recomputes ``edge_attr`` from ``pos`` and stores ``image_size``, so ``x`` has
the columns of :func:`~pyg_graphcls.graphs.superpixel_graph`'s default features
(``mean``, ``centroid``) and one model (and ``GraphAugment``) works on both.

The raw file (``raw/MNISTSuperpixels.pt``, a ``[train, test]`` pair of lists
of dicts) is checked to load with ``weights_only=True`` before PyG reads it:
PyG's own loader falls back to full unpickling when that fails.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence, Union

import torch
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..errors import GraphclsError
from ..graphs._common import image_size_tensor
from ..graphs.edges import edge_features
from ..io import check_weights_only, load_tensors

__all__ = ["MatchSuperpixelLayout", "load_mnist_superpixels", "MNIST_IMAGE_SIZE"]

#: (H, W) of the MNIST images PyG's ``MNISTSuperpixels`` was built from
MNIST_IMAGE_SIZE = (28, 28)


class MatchSuperpixelLayout(BaseTransform):
    r"""Make a PyG superpixel graph look like one from ``superpixel_graph``.

    ``x`` becomes ``[intensity, x / (W - 1), y / (H - 1)]`` (the ``mean`` and
    ``centroid`` columns), ``edge_attr`` is recomputed from ``pos`` with
    distances over :math:`\max(H, W)`, and ``image_size [1, 2]`` is stored.

    Args:
        image_size (tuple or int): ``(H, W)`` of the source images, one number for a square. (default:
            :data:`MNIST_IMAGE_SIZE`, the size of PyG's ``MNISTSuperpixels``)
        centroid (bool): append the normalised centroid to ``x``.
        edge_attr: edge features recomputed from ``pos`` (see
            :func:`pyg_graphcls.graphs.edges.edge_features`); ``()`` drops them.
    """

    def __init__(self, image_size: Union[int, Sequence[int]] = MNIST_IMAGE_SIZE, centroid: bool = True,
                 edge_attr: Sequence[str] = ("distance",)):
        h, w = (int(image_size),) * 2 if isinstance(image_size, int) else (int(v) for v in image_size)
        if h < 1 or w < 1:
            raise GraphclsError(f"image_size must be (H, W) with positive sides, got {image_size!r}")
        self.image_size = (h, w)
        self.centroid = centroid
        self.edge_attr = tuple(edge_attr)

    def forward(self, data: Data) -> Data:
        h, w = self.image_size
        x = data.x.float().view(data.num_nodes, -1)
        if self.centroid:
            x = torch.cat([x, data.pos.float() / torch.tensor([max(w - 1, 1), max(h - 1, 1)], dtype=torch.float32)],
                          dim=1)
        data.x = x
        data.pos = data.pos.float()
        ea = edge_features(data.pos, data.edge_index, self.edge_attr, scale=float(max(h, w)))
        if ea is None:
            data.edge_attr = None
        else:
            data.edge_attr = ea
        data.y = data.y.view(-1).long()
        data.image_size = image_size_tensor(h, w)
        return data

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(image_size={self.image_size}, edge_attr={self.edge_attr})"


def load_mnist_superpixels(root: str | os.PathLike, transform=None):
    """Return ``(train, test)`` PyG ``MNISTSuperpixels`` datasets under ``root``.

    Downloads where there is a network; otherwise put ``MNISTSuperpixels.pt``
    in ``root/raw/``. ``transform`` defaults to :class:`MatchSuperpixelLayout`.
    """
    from torch_geometric.datasets import MNISTSuperpixels

    root = Path(root)
    raw = root / "raw" / "MNISTSuperpixels.pt"
    if raw.is_file():
        obj = load_tensors(raw)  # refuses files that need pickle
        if not (isinstance(obj, (list, tuple)) and len(obj) == 2):
            raise GraphclsError(f"{raw} is not an MNISTSuperpixels raw file (expected [train, test] lists)")
    for p in (root / "processed" / "train_data.pt", root / "processed" / "test_data.pt"):
        if p.is_file():
            check_weights_only(p, ". Delete the 'processed' folder to rebuild it from the raw file.")
    if transform is None:
        transform = MatchSuperpixelLayout()
    try:
        train = MNISTSuperpixels(str(root), train=True, transform=transform)
        test = MNISTSuperpixels(str(root), train=False, transform=transform)
    except (OSError, ConnectionError) as e:
        raise GraphclsError(f"MNISTSuperpixels is not under {root} and could not be downloaded ({e}); "
                            f"put MNISTSuperpixels.pt in {root / 'raw'}") from None
    return train, test
