"""Bring any supported image to one layout: float32 ``[H, W, C]`` in ``[0, 1]``.

Accepted: numpy arrays or torch tensors shaped ``[H, W]``, ``[H, W, C]`` or
``[C, H, W]`` with C in {1, 2, 3, 4}, and floats. One rule for every dtype
(:func:`integer_divisor`), so the same picture gives the same graph whatever
its dtype:

- ``bool``: False → 0, True → 1 (the same as uint8 0 / 255);
- ``uint8``: divided by 255; ``uint16``: divided by 65535;
- other integer types (int8/16/32/64, uint32/64): by a declared bit depth
  (``bit_depth=B``: divided by 2**B - 1, values above it are an error), or else
  an inferred one: 8 bits (/255) when the image's largest value is at most 255,
  16 bits (/65535) when at most 65535, otherwise an error asking for a bit
  depth or a float image; negative values are an error;
- floats are taken to be in [0, 1]; ones outside are min-max rescaled
  (with ``rescale=True``, the default) so that colour distances keep their
  meaning.

The inference is per image: a 16-bit picture whose values all stay below 256
stored as int32 reads as 8-bit; give such data as uint16 (or ``bit_depth=16``).

``[C, H, W]`` is recognised when the first axis is 1-4 and the last is not; an
ambiguous tiny image (e.g. 3x3x3) is read as ``[H, W, C]``.
"""
from __future__ import annotations

from typing import Any, Optional

import numpy as np
import torch

from ..errors import GraphclsError

__all__ = ["as_image", "image_to_numpy", "image_channels", "match_channels", "integer_divisor"]

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


def integer_divisor(max_value: int, dtype: Any, bit_depth: Optional[int] = None, name: str = "image") -> float:
    """What an integer image of ``dtype`` whose largest value is ``max_value`` is divided by (see the
    module's rule): 255 for uint8, 65535 for uint16, else ``2**bit_depth - 1`` or the inferred 8/16 bits."""
    dt = np.dtype(dtype) if not isinstance(dtype, torch.dtype) else None
    is_u8 = dt == np.uint8 if dt is not None else dtype == torch.uint8
    is_u16 = dt == np.uint16 if dt is not None else str(dtype) == "torch.uint16"
    if bit_depth is not None:
        if isinstance(bit_depth, bool) or not isinstance(bit_depth, (int, np.integer)) or not 1 <= bit_depth <= 32:
            raise GraphclsError(f"bit_depth must be an integer in 1..32, got {bit_depth!r}")
        top = float(2 ** int(bit_depth) - 1)
        if max_value > top:
            raise GraphclsError(f"{name} has values up to {max_value}, more than bit_depth={bit_depth} "
                                f"allows ({top:.0f})")
        return top
    if is_u8:
        return 255.0
    if is_u16:
        return 65535.0
    if max_value <= 255:
        return 255.0
    if max_value <= 65535:
        return 65535.0
    raise GraphclsError(f"{name} has integer values up to {max_value} (dtype {dtype}): more than 16 bits; "
                        f"pass bit_depth=..., or give uint8/uint16 or floats in [0, 1]")


def as_image(image: Any, name: str = "image", rescale: bool = True, bit_depth: Optional[int] = None) -> np.ndarray:
    """Return ``image`` as a C-contiguous float32 ``[H, W, C]`` array in [0, 1] (the dtype rule:
    see the module; ``bit_depth`` declares the depth of integer images)."""
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
        lo, hi = arr.min(), arr.max()
        if lo < 0:
            raise GraphclsError(f"{name} has negative integer values (min {lo})")
        # float32 division: the same values for the same picture in any integer dtype
        out = arr.astype(np.float32) / np.float32(integer_divisor(int(hi), arr.dtype, bit_depth, name))
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
