"""Atomic writes and safe loads for every file the toolkit writes.

Files are written to a temporary file in the same directory and renamed into
place (``os.replace`` is atomic on POSIX and Windows), so a killed process
never leaves a half-written file under the final name. Tensor files are loaded
with ``torch.load(weights_only=True)``: a file that would need pickle to load
(and could run code) is refused with a :class:`GraphclsError`.
"""
from __future__ import annotations

import json
import os
import pickle
import tempfile
from pathlib import Path
from typing import Any, Callable

import torch

from .errors import GraphclsError

_UMASK = os.umask(0)
os.umask(_UMASK)

__all__ = ["atomic_write", "save_tensors", "load_tensors", "write_json", "read_json"]


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb") -> Path:
    """Call ``write(f)`` on a temporary file, fsync it, then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; give the usual mode
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise
    return path


def save_tensors(obj: Any, path: str | os.PathLike) -> Path:
    """``torch.save`` ``obj`` (tensors, numbers, strings, lists, dicts) atomically."""
    return atomic_write(path, lambda f: torch.save(obj, f))


def load_tensors(path: str | os.PathLike, map_location: Any = "cpu") -> Any:
    """Load a file written by :func:`save_tensors` with ``weights_only=True``.

    Raises :class:`GraphclsError` when the file is missing, truncated, or holds
    objects that only pickle could rebuild (which is how code is smuggled in).
    """
    path = Path(path)
    if not path.is_file():
        raise GraphclsError(f"file not found: {path}")
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        detail = _first_line(e, "Unsupported global", "GLOBAL")
        raise GraphclsError(
            f"refusing to load {path}: it holds objects that are not plain tensors/containers and "
            f"could run code when unpickled (weights_only=True rejected it{': ' + detail if detail else ''})") from None
    except (RuntimeError, EOFError, OSError) as e:
        raise GraphclsError(f"cannot read {path}: it is truncated or not a torch file "
                            f"({str(e).splitlines()[0]})") from None


def _first_line(e: BaseException, *prefer: str) -> str:
    """A short, escape-free line of a torch error (its first line, or one naming the global)."""
    import re
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in str(e).splitlines()]
    lines = [ln for ln in lines if ln]
    for want in prefer:
        for ln in lines:
            if want in ln:
                return ln.split(". Please")[0][:200]  # not torch's advice to allow the global
    return ""


def write_json(obj: Any, path: str | os.PathLike) -> Path:
    text = json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n"
    return atomic_write(path, lambda f: f.write(text), mode="w")


def read_json(path: str | os.PathLike) -> Any:
    path = Path(path)
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise GraphclsError(f"file not found: {path}") from None
    except json.JSONDecodeError as e:
        raise GraphclsError(f"{path} is not valid JSON: {e}") from None


def _json_default(o: Any) -> Any:
    if isinstance(o, torch.Tensor):
        return o.tolist()
    if hasattr(o, "tolist"):  # numpy arrays and scalars
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} as JSON")
