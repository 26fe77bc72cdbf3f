"""Pieces every image-graph builder shares: the finishing step and the transform base."""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..errors import GraphclsError
from .edges import edge_features

__all__ = ["finish_graph", "ImageTransform", "image_and_label", "image_size_tensor", "image_size_of"]


def image_size_tensor(height: int, width: int, device=None) -> Tensor:
    """``[[H, W]]`` (long ``[1, 2]``): the ``image_size`` every image-derived graph carries, so that
    a ``Batch`` of graphs stacks them ``[B, 2]``."""
    return torch.tensor([[int(height), int(width)]], dtype=torch.long, device=device)


def image_size_of(data: Data) -> tuple[float, float]:
    """``(H, W)`` of the image a graph was built from (its ``image_size [1, 2]``)."""
    size = getattr(data, "image_size", None)
    if size is None:
        raise GraphclsError("the graph has no 'image_size' [1, 2] (H, W): build it with this package's "
                            "builders or set data.image_size")
    size = torch.as_tensor(size).view(-1, 2)
    if size.size(0) != 1 and not bool((size == size[:1]).all()):
        raise GraphclsError("image_size differs between the graphs of this batch; apply per graph")
    return float(size[0, 0]), float(size[0, 1])


def finish_graph(img: np.ndarray, x: Tensor, pos: Tensor, edge_index: Tensor, *, edge_attr: Sequence[str] = (),
                 y: Any = None, return_img: bool = False) -> Data:
    """Assemble ``Data`` with edge features (distances over the larger image
    side), the label (``[1]`` for a class id, ``[1, C]`` for a vector), the
    image size ``image_size [1, 2]`` = ``(H, W)`` and optionally the image as
    ``img [1, C, H, W]``."""
    data = Data(x=x, pos=pos, edge_index=edge_index)
    ea = edge_features(pos, edge_index, edge_attr, scale=float(max(img.shape[:2])))
    if ea is not None:
        data.edge_attr = ea
    if y is not None:
        t = torch.as_tensor(y)
        data.y = t.view(-1)[:1].long() if t.numel() == 1 else t.view(1, -1)
    data.image_size = image_size_tensor(img.shape[0], img.shape[1])
    if return_img:
        data.img = torch.from_numpy(img).permute(2, 0, 1).unsqueeze(0).contiguous()
    return data


def image_and_label(data: Any):
    """A transform's input: an image, or a ``Data`` with ``img`` (and maybe ``y``)."""
    if isinstance(data, Data):
        img = getattr(data, "img", None)
        if img is None:
            raise GraphclsError("transform input Data has no 'img' attribute to convert")
        if isinstance(img, Tensor) and img.dim() == 4:
            img = img[0]
        y = getattr(data, "y", None)
        return img, (y.view(-1)[0].item() if isinstance(y, Tensor) and y.numel() == 1 else y)
    return data, None


class ImageTransform(BaseTransform):
    """Base of the builder transforms: ``fn(image, **kwargs)``, keeping the input's ``y``."""
    fn: Callable[..., Data]

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def forward(self, data: Any) -> Data:  # type: ignore[override]
        image, y = image_and_label(data)
        kw = dict(self.kwargs)
        if y is not None and "y" not in kw:
            kw["y"] = y
        return type(self).fn(image, **kw)

    def __call__(self, data: Any) -> Data:  # BaseTransform copies Data; images need no copy
        return self.forward(data)

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}({', '.join(f'{k}={v!r}' for k, v in self.kwargs.items())})"
