"""One registry for every model: ``create_model(name, **kwargs)``.

Register a builder with ``@register_model("name")``; the builder is any callable
(usually the model class) whose keyword arguments all have defaults that work on
the bundled sample, except the data-dependent ones (``in_channels``,
``num_classes``) which the caller passes.
"""
from __future__ import annotations

import inspect
from typing import Any, Callable, Dict

import torch

from ..errors import GraphclsError

__all__ = ["register_model", "create_model", "list_models", "model_arguments", "model_config", "model_from_config"]

_REGISTRY: Dict[str, Callable[..., torch.nn.Module]] = {}


def register_model(name: str) -> Callable:
    def deco(fn: Callable[..., torch.nn.Module]) -> Callable[..., torch.nn.Module]:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise GraphclsError(f"model name {name!r} is registered twice")
        _REGISTRY[name] = fn
        return fn
    return deco


def list_models() -> list[str]:
    return sorted(_REGISTRY)


def model_arguments(name: str) -> list[str]:
    """The keyword arguments the builder registered as ``name`` takes (e.g. whether it reads ``columns``)."""
    if name not in _REGISTRY:
        raise GraphclsError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}")
    return [p for p in inspect.signature(_REGISTRY[name]).parameters if p != "self"]


def create_model(name: str, **kwargs: Any) -> torch.nn.Module:
    """Build the model registered as ``name``; unknown names or arguments raise
    :class:`GraphclsError` listing what is accepted."""
    try:
        builder = _REGISTRY[name]
    except KeyError:
        raise GraphclsError(f"unknown model {name!r}; choose one of: {', '.join(list_models())}") from None
    params = inspect.signature(builder).parameters
    if not any(p.kind == p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            raise GraphclsError(
                f"model {name!r} does not take {', '.join(unknown)}; it takes: "
                f"{', '.join(p for p in params if p != 'self')}")
    model = builder(**kwargs)
    # remembered so that a checkpoint can rebuild the same model
    model._graphcls_config = {"name": name, "kwargs": dict(kwargs)}
    return model


def model_config(model: torch.nn.Module) -> dict:
    cfg = getattr(model, "_graphcls_config", None)
    if cfg is None:
        raise GraphclsError("model was not built with create_model(); its config is unknown")
    return cfg


def model_from_config(config: dict) -> torch.nn.Module:
    return create_model(config["name"], **config.get("kwargs", {}))
