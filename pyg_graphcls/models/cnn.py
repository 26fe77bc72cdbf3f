r"""The one convolutional network of the package: the ``cnn`` image model and the backbone of the heads.

``cnn`` is the image reference the graph models are measured against (the
layout of ``dirconv-grid`` with ``nn.Conv2d``); the multi-label heads
(:mod:`~pyg_graphcls.models.heads`) use the same :class:`ConvNet` as a feature
extractor whose output layer gives ``feat_dim`` features.
"""
from __future__ import annotations

from typing import Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..errors import GraphclsError
from .inputs import check_sizes
from .registry import register_model

__all__ = ["ConvNet", "pool_features"]


def pool_features(feats: Tensor, feat_dim: int, pool: str = "max") -> Tensor:
    r"""Bring a backbone output to :obj:`[B, feat_dim]`.

    A feature map :obj:`[B, feat_dim, H, W]` is globally max- (or mean-)
    pooled; a :obj:`[B, feat_dim]` tensor is returned unchanged. Anything
    else raises :class:`GraphclsError` naming ``feat_dim``.
    """
    if feats.dim() == 4:
        feats = feats.amax(dim=(2, 3)) if pool == "max" else feats.mean(dim=(2, 3))
    if feats.dim() != 2 or feats.shape[1] != feat_dim:
        raise GraphclsError(f"backbone output has shape {tuple(feats.shape)}: expected "
                            f"[B, feat_dim] or [B, feat_dim, H, W] with feat_dim = {feat_dim}")
    return feats


class ConvNet(nn.Module):
    r"""A small residual CNN with a multi-scale max ⊕ mean readout.

    .. math::
        \mathbf{H}^{(0)} = \operatorname{ReLU}(\operatorname{BN}(\operatorname{conv}_{1\times1}(\mathbf{X}))),
        \qquad
        \mathbf{H}^{(l)} = \operatorname{Dropout}\big(\operatorname{ReLU}(\operatorname{BN}
        (\operatorname{conv}_{3\times3}(\mathbf{H}^{(l-1)})))\big) + \mathbf{P}_l \mathbf{H}^{(l-1)}

    (:math:`\mathbf{P}_l` a bias-free 1x1 convolution when the width changes, the
    identity otherwise), 2x2 max pooling (ceil mode) after the blocks in
    ``pool_after``, and

    .. math::
        \mathbf{y} = \mathbf{W} \, \operatorname{Dropout}\Big(\big\Vert_l
        \big[\max_{\text{pixels}} \mathbf{H}^{(l)} \,\Vert\, \operatorname{mean}_{\text{pixels}}
        \mathbf{H}^{(l)}\big]\Big) + \mathbf{b}.

    Args:
        in_channels (int): image channels. (default: :obj:`1`)
        num_classes (int): outputs — class logits, or the features of a backbone. (default: :obj:`10`)
        widths (Sequence[int]): channels of each block. (default: :obj:`(32, 48, 64, 64)`)
        pool_after (Sequence[int]): blocks followed by 2x2 max pooling. (default: :obj:`(0, 1)`)
        dropout (float): after each block and before the output layer. (default: :obj:`0.0`)

    Shapes:
        - **input:** images ``[B, in_channels, H, W]`` (floats in [0, 1])
        - **output:** ``[B, num_classes]``

    The attribute ``out_channels`` equals ``num_classes``.
    """

    def __init__(self, in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (32, 48, 64, 64),
                 pool_after: Sequence[int] = (0, 1), dropout: float = 0.0) -> None:
        super().__init__()
        widths = [int(w) for w in widths]
        check_sizes(in_channels, num_classes, **{f"width{i}": w for i, w in enumerate(widths)})
        if not widths:
            raise GraphclsError("widths must name at least one block")
        self.in_channels, self.out_channels = in_channels, num_classes
        self.pool_after = {int(p) for p in pool_after}
        self.embed = nn.Sequential(nn.Conv2d(in_channels, widths[0], 1), nn.BatchNorm2d(widths[0]), nn.ReLU())
        self.convs, self.bns, self.projs = nn.ModuleList(), nn.ModuleList(), nn.ModuleList()
        c = widths[0]
        for w in widths:
            self.convs.append(nn.Conv2d(c, w, 3, padding=1))
            self.bns.append(nn.BatchNorm2d(w))
            self.projs.append(nn.Conv2d(c, w, 1, bias=False) if c != w else nn.Identity())
            c = w
        self.dropout = dropout
        self.head = nn.Linear(2 * sum(widths), num_classes)

    def reset_parameters(self) -> None:
        for m in self.modules():
            if m is not self and hasattr(m, "reset_parameters"):
                m.reset_parameters()

    def forward(self, images: Tensor) -> Tensor:
        if not torch.is_tensor(images) or images.dim() != 4 or images.size(1) != self.in_channels:
            got = tuple(images.shape) if torch.is_tensor(images) else type(images).__name__
            raise GraphclsError(f"{type(self).__name__} takes images [B, {self.in_channels}, H, W], got {got}")
        h = self.embed(images.float())
        pooled = []
        for i, (conv, bn, proj) in enumerate(zip(self.convs, self.bns, self.projs)):
            h = F.dropout(F.relu(bn(conv(h))), self.dropout, self.training) + proj(h)
            pooled.append(torch.cat([h.amax((2, 3)), h.mean((2, 3))], 1))
            if i in self.pool_after:
                h = F.max_pool2d(h, 2, ceil_mode=True)
        return self.head(F.dropout(torch.cat(pooled, 1), self.dropout, self.training))


@register_model("cnn")
def cnn(in_channels: int = 1, num_classes: int = 10, widths: Sequence[int] = (32, 48, 64, 64),
        pool_after: Sequence[int] = (0, 1), dropout: float = 0.0) -> ConvNet:
    """Small residual CNN on raw pixels (``[B, C, H, W]``), the reference the graph models are measured against."""
    return ConvNet(in_channels, num_classes, widths, pool_after, dropout)
