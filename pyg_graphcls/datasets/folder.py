"""A folder of images, one sub-folder per class (torchvision's ImageFolder layout)."""
from __future__ import annotations

import os
from pathlib import Path

import numpy as np

from ..errors import GraphclsError

__all__ = ["scan_image_folder", "read_image", "IMAGE_EXTENSIONS"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def scan_image_folder(root: str | os.PathLike):
    """List ``(paths, labels, class_names)``; classes are the sorted sub-folder names.

    Only files with an image extension are listed; symlinks that point outside
    ``root`` are ignored so a data folder cannot make us read elsewhere.
    """
    root = Path(root)
    if not root.is_dir():
        raise GraphclsError(f"image folder not found: {root}")
    real_root = root.resolve()
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise GraphclsError(f"{root} has no class sub-folders (expected ROOT/<class>/<image files>)")
    paths, labels = [], []
    for ci, name in enumerate(classes):
        for p in sorted((root / name).rglob("*")):
            if p.suffix.lower() not in IMAGE_EXTENSIONS or not p.is_file():
                continue
            if not p.resolve().is_relative_to(real_root):
                continue
            paths.append(str(p))
            labels.append(ci)
    if not paths:
        raise GraphclsError(f"{root} has class folders but no image files ({', '.join(IMAGE_EXTENSIONS)})")
    return paths, np.asarray(labels, dtype=np.int64), classes


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one image file into an array; a clear error names unreadable files."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as im:
            im.load()
            if im.mode in ("P", "PA", "CMYK", "YCbCr", "LAB", "HSV"):
                im = im.convert("RGBA" if "A" in im.mode or "transparency" in im.info else "RGB")
            arr = np.asarray(im)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise GraphclsError(f"cannot read image {path}: {e}") from None
    if arr.ndim == 3 and arr.shape[-1] == 4:  # drop alpha
        arr = arr[..., :3]
    if arr.size == 0:
        raise GraphclsError(f"image {path} is empty ({arr.shape})")
    return arr
