"""A folder of images, one sub-folder per class (torchvision's ImageFolder layout)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import GraphclsError

__all__ = ["scan_image_folder", "read_image", "image_file_channels", "IMAGE_EXTENSIONS", "decode_ahead",
           "stop_decoding_ahead", "forget_decoded"]

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

#: images decoded ahead of their use (:func:`decode_ahead`): path -> ((size, mtime_ns), array)
_DECODED: dict[str, tuple[tuple[int, int], np.ndarray]] = {}
_AHEAD: dict = {}  # the decoding child process: {"pid", "mem", "table", "paths"}
_AHEAD_BYTES = 512 << 20  # at most this much decoded ahead (a 224x224 RGB photo is 147 kB)
_REC = 9  # int64s per image in the shared table: done, offset, ndim, h, w, c, dtype char, file size, mtime


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


def _stamp(path: str | os.PathLike) -> tuple[int, int]:
    st = os.stat(path)
    return st.st_size, st.st_mtime_ns


def decode_ahead(paths: Sequence[str | os.PathLike]) -> None:
    """Start decoding image files before they are asked for: a child process decodes them in order
    into memory shared with this process, until :func:`stop_decoding_ahead` or ``_AHEAD_BYTES``.
    After the stop, :func:`read_image` returns a file's decoded array (once) if the file has not
    changed since. Files that fail are left to :func:`read_image` to report. A no-op where
    ``os.fork`` does not exist.

    ``graphcls convert`` calls this before it imports torch (~0.8 s of one core, the other idle);
    the worker processes it forks later find the arrays in the memory they share with it. A child
    process, not a thread: Pillow's JPEG reading holds the GIL for part of each image, and a
    decoding thread slowed the import of torch by more than it saved (0.75 -> 0.98-1.14 s for
    510-611 of 1,024 224x224 photos, measured)."""
    import atexit
    import mmap

    stop_decoding_ahead()
    if not hasattr(os, "fork") or not paths:
        return
    paths = [str(p) for p in paths]
    from PIL import Image

    Image.init()  # Pillow and its format plugins imported before the fork, not in the child
    head = 8 * (2 + _REC * len(paths))
    parent = os.getpid()
    try:
        mem = mmap.mmap(-1, head + _AHEAD_BYTES)  # anonymous and shared (with the child and later forks)
        table = np.frombuffer(mem, np.int64, 2 + _REC * len(paths))  # [stop, count, records...]
        pid = os.fork()
    except OSError:  # no memory or processes to spare: the files are read when needed, as without this
        return
    if pid == 0:  # the child: decode, write, exit without running anything of the parent's
        code = 0
        try:
            _decode_into(paths, mem, table, head, parent)
        except BaseException:
            code = 1
        os._exit(code)
    _AHEAD.update(pid=pid, mem=mem, table=table, paths=paths)
    atexit.unregister(stop_decoding_ahead)  # once, however often this runs
    atexit.register(stop_decoding_ahead)  # a program that never converts still stops and reaps it


def _decode_into(paths: list[str], mem, table: np.ndarray, head: int, parent: int) -> None:
    """The child of :func:`decode_ahead`: each image's bytes into ``mem`` from ``head`` on, then its
    record (``table[2 + _REC * i:]``, ``done`` last), then the count of paths tried (``table[1]``);
    until ``table[0]`` (stop) is set, the memory is full or the parent is gone."""
    off = head
    for i, p in enumerate(paths):
        if table[0] or os.getppid() != parent:
            break
        try:
            stamp, arr = _stamp(p), np.ascontiguousarray(_decode(p))
        except Exception:  # read_image reports it when the file is read for real
            table[1] = i + 1
            continue
        if off + arr.nbytes > len(mem):
            break
        mem[off:off + arr.nbytes] = arr.tobytes()
        r = 2 + _REC * i
        table[r + 1:r + _REC] = [off, arr.ndim, *(list(arr.shape) + [0] * (3 - arr.ndim)), ord(arr.dtype.char), *stamp]
        table[r] = 1
        table[1] = i + 1
        off += (arr.nbytes + 63) // 64 * 64


def stop_decoding_ahead() -> None:
    """Stop :func:`decode_ahead` and take what it decoded (before a process forks workers: what it
    decoded later would be lost to them, and it would take a core from them). A no-op when
    nothing decodes ahead."""
    if not _AHEAD:
        return
    table, mem = _AHEAD["table"], _AHEAD["mem"]
    table[0] = 1
    try:
        os.waitpid(_AHEAD["pid"], 0)
    except ChildProcessError:
        pass
    for i, p in enumerate(_AHEAD["paths"][:int(table[1])]):
        r = 2 + _REC * i
        if not table[r]:
            continue
        off, ndim, h, w, c, dt, size, mtime = (int(v) for v in table[r + 1:r + _REC])
        shape = (h, w, c)[:ndim]
        arr = np.frombuffer(mem, np.dtype(chr(dt)), int(np.prod(shape)), off).reshape(shape)
        arr.flags.writeable = False  # as Pillow's arrays: the memory is shared with the workers
        _DECODED[p] = ((size, mtime), arr)  # read_image checks the file still has this size and time
    _AHEAD.clear()


def forget_decoded() -> None:
    """Drop the images decoded ahead and not used (their shared memory goes with the last of them)."""
    stop_decoding_ahead()
    _DECODED.clear()


def read_image(path: str | os.PathLike) -> np.ndarray:
    """Read one image file into an array; a clear error names unreadable files.

    Palette/CMYK/other modes become RGB, alpha is dropped (RGBA → RGB, LA → L),
    16-bit grayscale comes back as ``uint16`` (so :func:`~pyg_graphcls.graphs.image.as_image`
    divides by 65535), 32-bit float TIFFs as ``float32`` (min-max rescaled when
    outside [0, 1]).
    """
    if _DECODED:
        hit = _DECODED.pop(str(path), None)
        if hit is not None:
            try:
                if _stamp(path) == hit[0]:
                    return hit[1]
            except OSError:
                pass
    return _decode(path)


def _decode(path: str | os.PathLike) -> np.ndarray:
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
    if not arr.dtype.isnative:  # big-endian 16-bit TIFFs ("I;16B"): native order, the same values
        arr = arr.astype(arr.dtype.newbyteorder("="))
    return arr


def image_file_channels(path: str | os.PathLike) -> int | None:
    """Channels :func:`read_image` will return, from the header only (``None``: unreadable)."""
    hit = _DECODED.get(str(path))
    if hit is not None:
        return 1 if hit[1].ndim == 2 else int(hit[1].shape[-1])
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
