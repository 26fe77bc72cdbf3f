"""The builders as PyG transforms (:class:`~torch_geometric.transforms.BaseTransform`):
:class:`SuperpixelGraph`, :class:`PixelGridGraph`, :class:`PatchGraph`.

Apart from the builders (:mod:`~pyg_graphcls.graphs.superpixels`, :mod:`~pyg_graphcls.graphs.grid`,
:mod:`~pyg_graphcls.graphs.patches`), which a conversion runs without importing PyG; the package
(:mod:`pyg_graphcls.graphs`) imports this module on first use of one of its names.
"""
from __future__ import annotations

from typing import Any, Callable

from torch import Tensor
from torch_geometric.data import Data
from torch_geometric.transforms import BaseTransform

from ..errors import GraphclsError
from .grid import pixel_grid_graph
from .patches import patch_graph
from .superpixels import superpixel_graph

__all__ = ["ImageTransform", "image_and_label", "SuperpixelGraph", "PixelGridGraph", "PatchGraph"]


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


class SuperpixelGraph(ImageTransform):
    r"""Transform form of :func:`~pyg_graphcls.graphs.superpixel_graph`.

    Takes an image (tensor/array) or a ``Data`` holding ``img [1, C, H, W]`` or
    ``[C, H, W]`` (its ``y`` is kept), and returns the superpixel graph. All
    keyword arguments go to :func:`~pyg_graphcls.graphs.superpixel_graph`.
    """
    fn = staticmethod(superpixel_graph)

    def __init__(self, n_segments: int = 75, **kwargs: Any) -> None:
        super().__init__(n_segments=n_segments, **kwargs)


class PixelGridGraph(ImageTransform):
    """Transform form of :func:`~pyg_graphcls.graphs.pixel_grid_graph` (image or ``Data`` with ``img`` in)."""
    fn = staticmethod(pixel_grid_graph)


class PatchGraph(ImageTransform):
    """Transform form of :func:`~pyg_graphcls.graphs.patch_graph` (image or ``Data`` with ``img`` in)."""
    fn = staticmethod(patch_graph)
