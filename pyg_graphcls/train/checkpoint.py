"""Checkpoints: plain dicts of tensors and JSON-able values, written atomically,
read with ``weights_only=True`` (see :mod:`pyg_graphcls.io`)."""
from __future__ import annotations

import os
from typing import Any, Optional

import torch

from ..errors import GraphclsError
from ..io import load_tensors, save_tensors
from ..models.registry import model_config, model_from_config

__all__ = ["save_checkpoint", "load_checkpoint", "load_model"]

CHECKPOINT_VERSION = 1


def save_checkpoint(path: str | os.PathLike, model: torch.nn.Module, **extra: Any) -> None:
    """Write ``model``'s weights and registry config plus ``extra`` entries."""
    module = model.module if hasattr(model, "module") else model  # DDP
    state = {"format": "pyg_graphcls", "version": CHECKPOINT_VERSION,
             "model_config": model_config(module),
             "model_state": {k: v.detach().cpu() for k, v in module.state_dict().items()}}
    state.update(extra)
    save_tensors(state, path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    ckpt = load_tensors(path)
    if not isinstance(ckpt, dict) or ckpt.get("format") != "pyg_graphcls":
        raise GraphclsError(f"{path} is not a pyg_graphcls checkpoint")
    return ckpt


def load_model(path: str | os.PathLike, map_location: Optional[str] = None):
    """Rebuild the model of a checkpoint; returns ``(model, checkpoint_dict)``."""
    ckpt = load_checkpoint(path)
    model = model_from_config(ckpt["model_config"])
    try:
        model.load_state_dict(ckpt["model_state"])
    except RuntimeError as e:
        raise GraphclsError(f"{path}: weights do not fit the model they name ({str(e).splitlines()[0]})") from None
    if map_location is not None:
        model = model.to(map_location)
    return model, ckpt
