"""IDX files (the MNIST / Fashion-MNIST format), plain or gzip-compressed.

Layout: two zero bytes, a type code (0x08 uint8, 0x09 int8, 0x0B int16,
0x0C int32, 0x0D float32, 0x0E float64), the number of dimensions, then each
dimension as a big-endian uint32, then the data in C order, big-endian.
"""
from __future__ import annotations

import gzip
import os
import struct
import zlib
from pathlib import Path
from typing import Optional

import numpy as np

from ..errors import GraphclsError
from ..io import atomic_write

__all__ = ["read_idx", "write_idx", "find_idx_files", "load_idx_dir", "IDX_NAMES"]

_TYPES = {0x08: np.dtype(np.uint8), 0x09: np.dtype(np.int8), 0x0B: np.dtype(">i2"),
          0x0C: np.dtype(">i4"), 0x0D: np.dtype(">f4"), 0x0E: np.dtype(">f8")}
_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(np.int16): 0x0B,
          np.dtype(np.int32): 0x0C, np.dtype(np.float32): 0x0D, np.dtype(np.float64): 0x0E}

IDX_NAMES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}


def _read_bytes(path: Path) -> bytes:
    """The file's bytes, gunzipped when it starts with gzip's magic (every member of it).

    One ``zlib`` call per gzip member rather than ``gzip.open(...).read()``: it releases the GIL
    for the whole member, so a read on a background thread (``datasets.read_ahead``) runs beside
    the main thread's ``import torch`` instead of queueing for the GIL between small blocks
    (Fashion-MNIST's train images: the read finished 0.13 s after the import with gzip, measured)."""
    with open(path, "rb") as f:
        raw = f.read()
    if raw[:2] != b"\x1f\x8b":
        return raw
    parts = []
    while raw:
        d = zlib.decompressobj(wbits=31)
        parts.append(d.decompress(raw))
        if not d.eof:
            raise EOFError("compressed file ended before the end-of-stream marker was reached")
        raw = d.unused_data
        if raw[:2] != b"\x1f\x8b":  # after the last member: zero padding (ignored, as gzip does) or junk
            if raw.strip(b"\x00"):
                raise ValueError(f"{len(raw)} bytes after the gzip data are not gzip data")
            break
    return b"".join(parts)


def read_idx(path: str | os.PathLike) -> np.ndarray:
    """Read an IDX file into a numpy array (native byte order).

    Raises :class:`GraphclsError` naming the file on a wrong magic number, an
    unknown type code, or data shorter/longer than the header says.
    """
    path = Path(path)
    if not path.is_file():
        raise GraphclsError(f"IDX file not found: {path}")
    try:
        raw = _read_bytes(path)
    except (OSError, EOFError, ValueError, zlib.error) as e:
        raise GraphclsError(f"cannot read IDX file {path}: {e}") from None
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise GraphclsError(f"{path} is not an IDX file (bad magic number {raw[:4].hex() or 'empty'})")
    code, ndim = raw[2], raw[3]
    if code not in _TYPES:
        raise GraphclsError(f"{path}: unknown IDX type code 0x{code:02x}")
    if len(raw) < 4 + 4 * ndim:
        raise GraphclsError(f"{path}: truncated IDX header")
    dims = struct.unpack(f">{ndim}I", raw[4:4 + 4 * ndim])
    dtype = _TYPES[code]
    expected = int(np.prod(dims, dtype=np.int64)) * dtype.itemsize
    body = len(raw) - 4 - 4 * ndim
    if body != expected:
        raise GraphclsError(f"{path}: header says shape {dims} ({expected} bytes of data) but the file "
                            f"holds {body} bytes ({'truncated' if body < expected else 'trailing data'})")
    arr = np.frombuffer(raw, dtype=dtype, offset=4 + 4 * ndim).reshape(dims)
    return arr.astype(dtype.newbyteorder("="), copy=True)


def write_idx(path: str | os.PathLike, array: np.ndarray, compress: Optional[bool] = None) -> Path:
    """Write ``array`` as IDX (gzip when ``compress`` or the name ends in .gz), atomically."""
    path = Path(path)
    array = np.asarray(array)
    dt = array.dtype.newbyteorder("=") if array.dtype.byteorder not in "=|" else array.dtype
    if np.dtype(dt) not in _CODES:
        raise GraphclsError(f"cannot write dtype {array.dtype} as IDX")
    code = _CODES[np.dtype(dt)]
    header = bytes([0, 0, code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    body = array.astype(_TYPES[code], copy=False).tobytes()
    if compress is None:
        compress = path.suffix == ".gz"
    payload = gzip.compress(header + body, mtime=0) if compress else header + body
    return atomic_write(path, lambda f: f.write(payload))


def find_idx_files(directory: str | os.PathLike) -> dict[str, Path]:
    """Locate the four standard IDX files in ``directory`` (``.gz`` or not).

    Both the ``-idx3-ubyte`` names and the ``.idx3-ubyte`` variant are found.
    """
    d = Path(directory)
    if not d.is_dir():
        raise GraphclsError(f"IDX directory not found: {d}")
    out = {}
    for key, stem in IDX_NAMES.items():
        candidates = [stem, stem + ".gz", stem.replace("-idx", ".idx"), stem.replace("-idx", ".idx") + ".gz"]
        for c in candidates:
            if (d / c).is_file():
                out[key] = d / c
                break
        else:
            raise GraphclsError(f"{d} has no {stem}[.gz]: an idx: dataset needs the four files "
                                f"{', '.join(IDX_NAMES.values())}")
    return out


def load_idx_dir(directory: str | os.PathLike):
    """Return ``(train_images, train_labels, test_images, test_labels)`` from a folder."""
    files = find_idx_files(directory)
    arrays = {k: read_idx(p) for k, p in files.items()}
    for split in ("train", "test"):
        im, lb = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if im.ndim not in (3, 4) or lb.ndim != 1 or len(im) != len(lb):
            raise GraphclsError(f"{directory}: {split} images {im.shape} and labels {lb.shape} do not match "
                                f"(expected [N,H,W] images and [N] labels)")
    return (arrays["train_images"], arrays["train_labels"].astype(np.int64),
            arrays["test_images"], arrays["test_labels"].astype(np.int64))
