"""A folder of images, one sub-folder per class (torchvision's ImageFolder layout)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import GraphclsError

__all__ = ["scan_image_folder", "read_image", "image_file_channels", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def scan_image_folder(root: str | os.PathLike):
    """List ``(paths, labels, class_names)``; classes are the sorted sub-folder names.

    Only files with an image extension are listed; symlinks that point outside
    ``root`` are ignored so a data folder cannot make us read elsewhere. A class
    folder without image files is an error (it would be a class no image has).
    """
    root = Path(root)
    if not root.is_dir():
        raise GraphclsError(f"image folder not found: {root}")
    real_root = root.resolve()
    classes = sorted(p.name for p in root.iterdir()  # a class folder linking outside root is no class
                     if p.is_dir() and not p.name.startswith(".") and p.resolve().is_relative_to(real_root))
    if not classes:
        raise GraphclsError(f"{root} has no class sub-folders (expected ROOT/<class>/<image files>)")
    paths, labels, empty = [], [], []
    for ci, name in enumerate(classes):
        n = len(paths)
        for p in sorted((root / name).rglob("*")):
            if p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file():
                continue
            if not p.resolve().is_relative_to(real_root):
                continue
            paths.append(str(p))
            labels.append(ci)
        if len(paths) == n:
            empty.append(name)
    if not paths:
        raise GraphclsError(f"{root} has class folders but no image files ({', '.join(IMAGE_EXTENSIONS)})")
    if empty:  # a class no image has: the model would have an output it never sees
        raise GraphclsError(f"{root}: class folder{'s' if len(empty) > 1 else ''} {', '.join(map(repr, empty))} "
                            f"{'hold' if len(empty) > 1 else 'holds'} no image file: remove "
                            f"{'them' if len(empty) > 1 else 'it'} or add images")
    return paths, np.asarray(labels, dtype=np.int64), classes


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one image file into an array; a clear error names unreadable files.

    Palette/CMYK/other modes become RGB, alpha is dropped (RGBA → RGB, LA → L),
    16-bit grayscale comes back as ``uint16`` (so :func:`~pyg_graphcls.graphs.image.as_image`
    divides by 65535), 32-bit float TIFFs as ``float32`` (min-max rescaled when
    outside [0, 1]).
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "La"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            arr = np.asarray(im)
            mode = im.mode
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError,
            Image.DecompressionBombError) as e:
        raise GraphclsError(f"cannot read image {path}: {e}") from None
    if arr.ndim == 3 and arr.shape[-1] == 4:  # drop alpha
        arr = arr[..., :3]
    elif arr.ndim == 3 and arr.shape[-1] == 2 and mode == "LA":
        arr = arr[..., 0]
    if mode == "I" and arr.size and arr.min() >= 0 and arr.max() <= 65535:
        arr = arr.astype(np.uint16)  # 16-bit PNGs open as 32-bit "I" in some Pillow versions
    if arr.size == 0:
        raise GraphclsError(f"image {path} is empty ({arr.shape})")
    return arr


def image_file_channels(path: str | os.PathLike) -> int | None:
    """Channels :func:`read_image` will return, from the header only (``None``: unreadable)."""
    from PIL import Image

    try:
        with Image.open(path) as im:
            mode = im.mode
            bands = len(im.getbands())
    except Exception:
        return None
    if mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX", "RGBa", "RGBA", "RGB"):
        return 3
    if mode in ("LA", "La"):
        return 1
    return bands
