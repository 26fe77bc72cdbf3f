r"""Datasets built on access from an image array, without a conversion cache.

:class:`LazyGraphDataset` builds each graph when it is read (pixel grids of a
large data set would need gigabytes as a cache: 784 nodes per 28x28 image);
:class:`ImageTensorDataset` serves the images themselves as ``[C, H, W]``
tensors for image models (``cnn``); :func:`shrink_images` area-averages images
to a smaller square side.
"""
from __future__ import annotations

from typing import Any, Callable, Optional

import numpy as np
import torch
from torch_geometric.data import Dataset as PygDataset

from ..errors import GraphclsError

__all__ = ["LazyGraphDataset", "ImageTensorDataset", "shrink_images"]


class LazyGraphDataset(PygDataset):
    r"""Graphs built on access: item ``i`` is ``builder(images[i], y=labels[i], **builder_kwargs)``.

    Args:
        images (sequence): images in any layout ``builder`` takes (a uint8
            ``[N, H, W(, C)]`` array, or a list of arrays or image file paths).
        labels (array): integer class labels ``[N]``.
        builder (callable): image → :class:`~torch_geometric.data.Data`, e.g.
            :func:`~pyg_graphcls.graphs.pixel_grid_graph`.
        builder_kwargs (dict, optional): keyword arguments of ``builder``.
        transform (callable, optional): applied to each built graph on access
            (e.g. :class:`~pyg_graphcls.graphs.augment.GraphAugment`).
    """

    def __init__(self, images, labels, builder: Callable[..., Any], builder_kwargs: Optional[dict] = None,
                 transform: Optional[Callable] = None) -> None:
        if len(images) != len(labels):
            raise GraphclsError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
        self.images, self.labels = images, np.asarray(labels).astype(np.int64)
        self.builder, self.builder_kwargs = builder, dict(builder_kwargs or {})
        super().__init__(None, transform)

    def len(self) -> int:
        return len(self.labels)

    def get(self, idx: int):
        image = self.images[idx]
        if isinstance(image, str):
            from .folder import read_image
            image = read_image(image)
        return self.builder(image, y=int(self.labels[idx]), **self.builder_kwargs)

    @property
    def num_classes(self) -> int:  # type: ignore[override]
        return int(self.labels.max()) + 1

    @property
    def num_node_features(self) -> int:  # type: ignore[override]
        """Columns of ``x``, read from the first graph before any transform."""
        return int(self.get(0).x.size(1))


class ImageTensorDataset(torch.utils.data.Dataset):
    r"""``(image, label)`` pairs: ``image`` a float ``[C, H, W]`` tensor in ``[0, 1]``.

    Args:
        images (array): uint8 ``[N, H, W]`` (one channel) or ``[N, H, W, C]``.
        labels (array): integer class labels ``[N]``.
        flip (float): probability of a left/right mirror per access (training
            augmentation; draws from torch's global generator). (default: ``0``)

    Shapes:
        - **item:** ``([C, H, W], [])``
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, flip: float = 0.0) -> None:
        images = np.asarray(images)
        if images.ndim not in (3, 4) or images.dtype != np.uint8:
            raise GraphclsError(f"images must be uint8 [N, H, W] or [N, H, W, C], got {images.dtype} "
                                f"{tuple(images.shape)}")
        if len(images) != len(labels):
            raise GraphclsError(f"images and labels differ in length: {len(images)} vs {len(labels)}")
        t = torch.from_numpy(images)
        t = t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2)
        self.images = t.contiguous()
        self.labels = torch.from_numpy(np.asarray(labels).astype(np.int64))
        self.flip = float(flip)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i):
        x = self.images[i].float() / 255.0
        if self.flip and float(torch.rand(())) < self.flip:
            x = x.flip(-1)
        return x, self.labels[i]

    @property
    def num_channels(self) -> int:
        return int(self.images.size(1))


def shrink_images(images: np.ndarray, size: int) -> np.ndarray:
    r"""Area-average uint8 images to ``size x size`` (``adaptive_avg_pool2d``, rounded).

    Output cell ``(i, j)`` is the mean of rows ``floor(H i / size) .. ceil(H (i + 1) / size) - 1``
    and the same columns of ``W``.

    Args:
        images (array): uint8 ``[N, H, W]`` or ``[N, H, W, C]``.
        size (int): output side, ``>= 1``.

    Shapes:
        - **input:** ``[N, H, W(, C)]``
        - **output:** ``[N, size, size(, C)]``, uint8
    """
    if size < 1:
        raise GraphclsError(f"image size must be >= 1, got {size}")
    arr = np.asarray(images)
    if arr.ndim not in (3, 4):
        raise GraphclsError(f"images must be [N, H, W] or [N, H, W, C], got shape {tuple(arr.shape)}")
    t = torch.from_numpy(arr).float()
    t = t.unsqueeze(1) if t.dim() == 3 else t.permute(0, 3, 1, 2)
    out = torch.nn.functional.adaptive_avg_pool2d(t, size).round().clamp(0, 255).to(torch.uint8)
    out = out[:, 0] if arr.ndim == 3 else out.permute(0, 2, 3, 1)
    return out.contiguous().numpy()
