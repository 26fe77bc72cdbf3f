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

from .errors import GraphclsError, UnsafeFileError

_UMASK = os.umask(0)
os.umask(_UMASK)

_TORCH_MAGICS = (b"PK\x03\x04", b"\x80")  # torch.save's zip archive; legacy pickle (protocol >= 2)

__all__ = ["atomic_write", "save_tensors", "load_tensors", "check_weights_only", "write_json", "read_json"]


def atomic_write(path: str | os.PathLike, write: Callable[[Any], None], mode: str = "wb", fsync: bool = True) -> Path:
    """Call ``write(f)`` on a temporary file, fsync it (unless ``fsync=False``: the file then survives
    the death of the process, not a power loss), then rename it to ``path``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, mode) as f:
            write(f)
            if fsync:
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


def save_tensors(obj: Any, path: str | os.PathLike, fsync: bool = True) -> Path:
    """``torch.save`` ``obj`` (tensors, numbers, strings, lists, dicts) atomically (:func:`atomic_write`)."""
    import torch  # here, not at the top: the data set readers use this module without torch

    return atomic_write(path, lambda f: torch.save(obj, f), fsync=fsync)


def load_tensors(path: str | os.PathLike, map_location: Any = "cpu", mmap: bool = False) -> Any:
    """Load a file written by :func:`save_tensors` with ``weights_only=True`` (``mmap=True``: its
    tensors map the file instead of being read into memory, ``torch.load(mmap=True)``).

    Raises :class:`GraphclsError` when the file is missing, truncated, or holds
    objects that only pickle could rebuild (which is how code is smuggled in).
    """
    import torch

    path = Path(path)
    if not path.is_file():
        raise GraphclsError(f"file not found: {path}" if not path.exists() else f"{path} is not a file")
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError as e:
        raise GraphclsError(f"cannot read {path}: {e.strerror or e}") from None
    if not head:
        raise GraphclsError(f"{path} is empty (0 bytes): not a torch file (an interrupted write? "
                            f"delete it and run again)")
    if not head.startswith(_TORCH_MAGICS):
        raise GraphclsError(f"{path} is not a torch file (it starts with bytes {head.hex()}, not a zip archive "
                            f"or pickle)")
    try:
        return torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except pickle.UnpicklingError as e:
        detail = _first_line(e, "Unsupported global", "GLOBAL")
        if not detail:
            names = _pickle_globals(path)
            if not names:
                raise GraphclsError(f"cannot read {path}: it is truncated or not a torch file "
                                    f"(its pickle data is damaged)") from None
            detail = f"a plain pickle naming {', '.join(names[:3])}"
        raise UnsafeFileError(
            f"refusing to load {path}: it holds objects that are not plain tensors/containers and "
            f"could run code when unpickled (weights_only=True rejected it: {detail})") from None
    except Exception as e:  # EOFError, RuntimeError, IndexError, ...: whatever torch makes of damaged bytes
        raise GraphclsError(f"cannot read {path}: it is truncated or not a torch file "
                            f"({_first_line(e) or type(e).__name__})") from None


def check_weights_only(path: str | os.PathLike, hint: str = "") -> None:
    """Raise :class:`GraphclsError` unless ``path`` loads with ``torch.load(weights_only=True)``.

    For files another library reads with a loader that falls back to full unpickling (PyG's data
    set files): checked here first, so such a file is refused instead of run.
    """
    import torch

    try:
        torch.load(path, weights_only=True)
    except Exception as e:
        raise GraphclsError(f"refusing to load {path}: it does not load with weights_only=True "
                            f"({type(e).__name__}: {_first_line(e)}){hint}") from None


def _pickle_globals(path: Path) -> list[str]:
    """The globals a plain pickle file names (what it would import and may call), read with
    :mod:`pickletools` without running anything; empty when the bytes are not a whole pickle."""
    import pickletools
    names: list[str] = []
    strings: list[str] = []
    try:
        with open(path, "rb") as f:
            for op, arg, _ in pickletools.genops(f):
                if op.name == "GLOBAL":
                    names.append(str(arg).replace(" ", "."))
                elif op.name == "STACK_GLOBAL" and len(strings) >= 2:
                    names.append(f"{strings[-2]}.{strings[-1]}")
                elif isinstance(arg, str):
                    strings.append(arg)
                if op.name == "STOP":
                    return names
    except Exception:  # not a pickle: damaged bytes
        return []
    return []


def _first_line(e: BaseException, *prefer: str) -> str:
    """A short, escape-free line of a torch error (its first line, or one naming the global;
    with ``prefer`` given and none matching: empty)."""
    import re
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", ln).strip() for ln in str(e).splitlines()]
    lines = [ln for ln in lines if ln]
    if not prefer:  # the first sentence of the first line
        return lines[0].split(". ")[0].rstrip(".")[:200] if lines else ""
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
    if hasattr(o, "tolist"):  # tensors, numpy arrays and scalars
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} as JSON")
