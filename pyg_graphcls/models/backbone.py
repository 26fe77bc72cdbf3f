r"""A small convolutional backbone that trains on CPU in minutes.

:class:`SmallCNN` stands in for the ResNet / MobileNetV3 backbones of the
write-ups on small canvases (e.g. 56x56 composites of Fashion-MNIST items):
three conv-BN-ReLU stages, each followed by 2x2 max pooling, then a 1x1 conv
to ``feat_dim`` channels and global pooling.
"""
from __future__ import annotations

from torch import Tensor, nn

from ..errors import GraphclsError

__all__ = ["SmallCNN", "pool_features"]


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


class SmallCNN(nn.Module):
    r"""Images :obj:`[B, C, H, W]` to features :obj:`[B, feat_dim]`.

    Args:
        in_channels (int): image channels. (default: :obj:`1`)
        feat_dim (int): output features. (default: :obj:`128`)
        width (int): channels of the first stage; stages use ``width``,
            ``2 * width``, ``4 * width``. (default: :obj:`32`)
        dropout (float): dropout on the pooled features. (default: :obj:`0.0`)
        pool (str): global ``"max"`` (as the write-ups) or ``"mean"`` pooling.
        return_map (bool): return the :obj:`[B, feat_dim, H/8, W/8]` map
            instead of pooled features (for heads that pool themselves).

    About 100k parameters with the defaults; images of at least 8x8 pixels.
    The attribute ``out_channels`` equals ``feat_dim``.
    """

    def __init__(self, in_channels: int = 1, feat_dim: int = 128, width: int = 32,
                 dropout: float = 0.0, pool: str = "max", return_map: bool = False):
        super().__init__()
        for name, v in (("in_channels", in_channels), ("feat_dim", feat_dim), ("width", width)):
            if not isinstance(v, int) or isinstance(v, bool) or v < 1:
                raise GraphclsError(f"{name} must be a positive int, got {v!r}")
        if pool not in ("max", "mean"):
            raise GraphclsError(f"pool must be 'max' or 'mean', got {pool!r}")
        self.in_channels = in_channels
        self.feat_dim = self.out_channels = feat_dim
        self.pool = pool
        self.return_map = return_map

        def stage(cin: int, cout: int) -> nn.Sequential:
            return nn.Sequential(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout),
                                 nn.ReLU(inplace=True), nn.MaxPool2d(2))

        self.features = nn.Sequential(
            stage(in_channels, width), stage(width, 2 * width), stage(2 * width, 4 * width),
            nn.Conv2d(4 * width, feat_dim, 1, bias=False), nn.BatchNorm2d(feat_dim), nn.ReLU(inplace=True))
        self.dropout = nn.Dropout(dropout)
        self.reset_parameters()

    def reset_parameters(self) -> None:
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                m.reset_parameters()

    def forward(self, images: Tensor) -> Tensor:
        if images.dim() != 4 or images.shape[1] != self.in_channels:
            raise GraphclsError(f"images must be [B, {self.in_channels}, H, W], got {tuple(images.shape)}")
        if images.shape[2] < 8 or images.shape[3] < 8:
            raise GraphclsError(f"images must be at least 8x8 pixels, got {tuple(images.shape[2:])}")
        fmap = self.features(images)
        if self.return_map:
            return fmap
        return self.dropout(pool_features(fmap, self.feat_dim, self.pool))
