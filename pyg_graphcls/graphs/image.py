"""Bring any supported image to one layout: float32 ``[H, W, C]`` in ``[0, 1]``.

Accepted: numpy arrays or torch tensors shaped ``[H, W]``, ``[H, W, C]`` or
``[C, H, W]`` with C in {1, 2, 3, 4}; dtypes uint8 (divided by 255), uint16
(divided by 65535), bool, other integers (divided by their max), and floats.
Float images are taken to be in [0, 1]; ones outside are min-max rescaled
(with ``rescale=True``, the default) so that colour distances keep their
meaning. ``[C, H, W]`` is recognised when the first axis is 1-4 and the last is
not; an ambiguous tiny image (e.g. 3x3x3) is read as ``[H, W, C]``.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch

from ..errors import GraphclsError

__all__ = ["as_image", "image_to_numpy", "image_channels", "match_channels"]

_CHANNELS = (1, 2, 3, 4)


def image_to_numpy(image: Any, name: str = "image") -> np.ndarray:
    if isinstance(image, torch.Tensor):
        image = image.detach().cpu()
        if image.dtype == torch.bfloat16 or image.dtype == torch.float16:
            image = image.float()
        return image.numpy()
    if isinstance(image, np.ndarray):
        return image
    if hasattr(image, "__array__"):  # PIL images and the like
        return np.asarray(image)
    raise GraphclsError(f"{name} must be a numpy array or torch tensor, got {type(image).__name__}")


def image_channels(image: Any, name: str = "image") -> int:
    """The channel count :func:`as_image` will give ``image`` (reads the shape only)."""
    shape = tuple(getattr(image, "shape", None) or np.shape(image))
    if len(shape) == 2:
        return 1
    if len(shape) == 3:
        if shape[-1] not in _CHANNELS and shape[0] in _CHANNELS:
            return int(shape[0])
        if shape[-1] in _CHANNELS:
            return int(shape[-1])
    return as_image(image, name).shape[-1]  # raises the usual clear error


def match_channels(image: Any, channels: int, name: str = "image") -> np.ndarray:
    """``as_image(image)`` with a single-channel image repeated to ``channels``.

    Used when a data set mixes grayscale and colour images: grayscale ones are
    turned into gray colour images (lossless), as torchvision's ImageFolder
    does. Any other mismatch raises :class:`GraphclsError`.
    """
    img = as_image(image, name)
    c = img.shape[-1]
    if c == channels:
        return img
    if c == 1:
        return np.ascontiguousarray(np.repeat(img, channels, axis=-1))
    raise GraphclsError(f"{name} has {c} channels but the data set's images have {channels}")


def as_image(image: Any, name: str = "image", rescale: bool = True) -> np.ndarray:
    """Return ``image`` as a C-contiguous float32 ``[H, W, C]`` array in [0, 1]."""
    arr = image_to_numpy(image, name)
    if arr.ndim == 2:
        arr = arr[:, :, None]
    elif arr.ndim == 3:
        if arr.shape[-1] not in _CHANNELS and arr.shape[0] in _CHANNELS:
            arr = np.moveaxis(arr, 0, -1)
        elif arr.shape[-1] not in _CHANNELS:
            raise GraphclsError(
                f"{name} has shape {tuple(arr.shape)}: expected [H,W], [H,W,C] or [C,H,W] "
                f"with C in {_CHANNELS}")
    else:
        raise GraphclsError(
            f"{name} has {arr.ndim} dimensions (shape {tuple(arr.shape)}): expected "
            f"[H,W], [H,W,C] or [C,H,W]")
    h, w = arr.shape[:2]
    if h < 1 or w < 1:
        raise GraphclsError(f"{name} is empty (shape {tuple(arr.shape)})")
    kind = arr.dtype.kind
    if kind == "b":
        out = arr.astype(np.float32)
    elif kind == "u" or kind == "i":
        if arr.dtype == np.uint8:
            out = arr.astype(np.float32) / 255.0
        elif arr.dtype == np.uint16:
            out = arr.astype(np.float32) / 65535.0
        else:
            lo, hi = arr.min(), arr.max()
            if lo < 0:
                raise GraphclsError(f"{name} has negative integer values (min {lo})")
            out = arr.astype(np.float32) / float(max(hi, 1))
    elif kind == "f":
        out = arr.astype(np.float32, copy=False)
        if not np.isfinite(out).all():
            raise GraphclsError(f"{name} contains NaN or Inf values")
        lo, hi = float(out.min()), float(out.max())
        if lo < 0.0 or hi > 1.0:
            if not rescale:
                raise GraphclsError(f"{name} has float values in [{lo:g}, {hi:g}], expected [0, 1]")
            out = (out - lo) / (hi - lo) if hi > lo else np.zeros_like(out)
    else:
        raise GraphclsError(f"{name} has unsupported dtype {arr.dtype}")
    return np.ascontiguousarray(out, dtype=np.float32)
